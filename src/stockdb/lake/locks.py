"""Per-symbol writer locks, so two jobs never race on one partition.

The local implementation uses ``fcntl`` file locks under ``{data}/locks``: they hold across
processes on one machine and vanish when the holder dies (even by ``kill -9``). Scaled-out
deployments plug in a lock backed by the state store instead (same protocol).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Protocol

from stockdb.errors import Conflict

__all__ = ["FileSymbolLocks", "NamespacedLocks", "SymbolLocks", "hold_each"]


class SymbolLocks(Protocol):
    """Mutual exclusion of writers per symbol."""

    def hold(self, symbol: str, timeout_s: float = ...) -> AbstractContextManager[None]:
        """Context manager: block until ``symbol`` is ours (or raise Conflict on timeout)."""
        ...

    def hold_many(
        self, symbols: Iterable[str], timeout_s: float = ...
    ) -> AbstractContextManager[None]:
        """Context manager: hold every one of ``symbols``, taken in sorted order (so two
        holders of overlapping sets never deadlock); Conflict when one times out, with none
        of them kept."""
        ...


@contextmanager
def hold_each(locks: SymbolLocks, symbols: Iterable[str], timeout_s: float) -> Iterator[None]:
    """``hold_many`` out of single holds: each of ``symbols`` in sorted order."""
    with ExitStack() as stack:
        for symbol in sorted(set(symbols)):
            stack.enter_context(locks.hold(symbol, timeout_s))
        yield


class FileSymbolLocks:
    """``fcntl`` locks on ``{root}/{SYMBOL}.lock``; safe across processes on one host."""

    def __init__(self, root: Path, poll_s: float = 0.05) -> None:
        self.root = root
        self.poll_s = poll_s

    @contextmanager
    def hold(self, symbol: str, timeout_s: float = 600.0) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / f"{symbol}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Conflict(
                            f"{symbol} is being written by another job; try again later"
                        ) from None
                    time.sleep(self.poll_s)  # polling a kernel lock: no event to wait on
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def hold_many(
        self, symbols: Iterable[str], timeout_s: float = 600.0
    ) -> AbstractContextManager[None]:
        return hold_each(self, symbols, timeout_s)


class NamespacedLocks:
    """``inner``'s locks under ``prefix`` + symbol, so two kinds of writer of one symbol
    (bars, features) share a lock backend without waiting on each other."""

    def __init__(self, inner: SymbolLocks, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    def hold(self, symbol: str, timeout_s: float = 600.0) -> AbstractContextManager[None]:
        return self.inner.hold(self.prefix + symbol, timeout_s)

    def hold_many(
        self, symbols: Iterable[str], timeout_s: float = 600.0
    ) -> AbstractContextManager[None]:
        return self.inner.hold_many([self.prefix + s for s in symbols], timeout_s)
