"""Cross-process wake-ups for the SQLite queue: named pipes in a folder next to the queue file.

Each consumer lane of each process listens on its own FIFO ``{lane}.{pid}.{token}.fifo`` in
``{queue file}.wake/``. Whoever enqueues a message writes one byte to every FIFO of that lane,
so an idle consumer in another process starts the job at once instead of at its next poll.
A FIFO nobody reads any more (its process died) is removed by the next writer that finds it.
Polling stays as the fallback, so a lost notification only costs the poll interval.

On platforms without ``os.mkfifo`` the channel does nothing and consumers rely on the poll.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import select
import threading
from pathlib import Path

__all__ = ["WakeChannel", "WakeListener"]

log = logging.getLogger("stockdb.jobs")

_SUFFIX = ".fifo"


def _supported() -> bool:
    return hasattr(os, "mkfifo") and hasattr(os, "O_NONBLOCK")


class WakeListener:
    """A FIFO read by one thread that sets ``event`` whenever a byte arrives."""

    def __init__(self, path: Path, fd: int, event: threading.Event) -> None:
        self.path = path
        self._fd = fd
        self._event = event
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"wake-{path.name}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._closing.is_set():
            try:
                ready, _, _ = select.select([self._fd], [], [])
                if ready:
                    os.read(self._fd, 4096)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EINTR):
                    continue
                log.warning("queue wake-up listener stopped", extra={"error": str(exc)})
                return
            if not self._closing.is_set():
                self._event.set()

    def close(self) -> None:
        """Stop the thread, close and remove the FIFO (idempotent)."""
        if self._closing.is_set():
            return
        self._closing.set()
        with contextlib.suppress(OSError):
            os.write(self._fd, b"x")  # the reader's select returns and sees the flag
        self._thread.join(5.0)
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._fd)


class WakeChannel:
    """The FIFO folder of one SQLite queue file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.enabled = _supported()
        self._own: set[str] = set()

    def listen(self, lane: str, event: threading.Event) -> WakeListener | None:
        """Start listening for ``lane``; None when FIFOs are unavailable (poll only)."""
        if not self.enabled:
            return None
        name = f"{lane}.{os.getpid()}.{secrets.token_hex(6)}{_SUFFIX}"
        tmp = self.folder / f".{name}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            os.mkfifo(tmp, 0o600)
            # Opened read-write so it never reports end-of-file and never blocks on open;
            # renamed only once open, so writers never see a FIFO without its reader.
            fd = os.open(tmp, os.O_RDWR | os.O_NONBLOCK)
            tmp.rename(self.folder / name)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            log.warning("queue wake-ups off, polling only", extra={"error": exc.strerror})
            return None
        self._own.add(name)
        return WakeListener(self.folder / name, fd, event)

    def notify(self, lane: str) -> int:
        """Wake every other listener of ``lane``; returns how many were written to."""
        if not self.enabled:
            return 0
        try:
            names = [p.name for p in self.folder.iterdir()]
        except OSError:
            return 0
        woken = 0
        prefix = f"{lane}."
        for name in names:
            if not name.startswith(prefix) or not name.endswith(_SUFFIX) or name in self._own:
                continue
            path = self.folder / name
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # no reader: its process is gone
                    with contextlib.suppress(OSError):
                        path.unlink()
                continue
            try:
                os.write(fd, b"1")
                woken += 1
            except OSError:  # full pipe: that listener has a wake-up pending already
                pass
            finally:
                os.close(fd)
        return woken
