"""Faults the fake Alpaca injects on request: a FIFO of one-shot faults plus standing conditions.

One-shot faults (429, 5xx, slow answer, short page, dropped connection, garbage body) are
queued in call order and each spoils exactly one later request. Standing conditions
(symbols without data, sessions served empty on their first request, the free plan's
recent-SIP refusal) hold until cleared. Thread-safe: the server's handler threads share it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date

__all__ = ["FaultPlan", "Injected"]


@dataclass(frozen=True, slots=True)
class Injected:
    """One queued fault. ``kind`` is rate_limit, server_error, slow, short_page, drop or garbage."""

    kind: str
    status: int = 0
    delay_s: float = 0.0
    rows: int = 0


class FaultPlan:
    """What the fake should get wrong, and when."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Injected] = deque()
        self._no_data: set[str] = set()
        self._empty_once: set[tuple[str, date]] = set()
        self._hidden_by_query: dict[Hashable, set[tuple[str, date]]] = {}
        self._sip_cutoff_s: float | None = None

    def _push(self, fault: Injected, count: int) -> None:
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._queue.extend([fault] * count)

    def rate_limit(self, count: int = 1, reset_in_s: float = 1.0) -> None:
        """The next ``count`` requests get 429, Remaining 0 and a reset ``reset_in_s`` ahead."""
        self._push(Injected("rate_limit", 429, delay_s=reset_in_s), count)

    def server_error(self, count: int = 1, status: int = 500) -> None:
        """The next ``count`` requests get ``status`` (5xx) with an Alpaca-style body."""
        self._push(Injected("server_error", status), count)

    def slow(self, count: int = 1, delay_s: float = 2.0) -> None:
        """The next ``count`` requests are answered only after ``delay_s`` seconds."""
        self._push(Injected("slow", 200, delay_s=delay_s), count)

    def short_page(self, count: int = 1, rows: int = 10) -> None:
        """The next ``count`` bars pages hold at most ``rows`` bars but still carry a token."""
        if rows < 1:
            raise ValueError("rows must be >= 1")
        self._push(Injected("short_page", 200, rows=rows), count)

    def drop_connection(self, count: int = 1) -> None:
        """The next ``count`` requests get no response: the server hangs up."""
        self._push(Injected("drop"), count)

    def garbage(self, count: int = 1) -> None:
        """The next ``count`` requests get 200 with a truncated, non-JSON body."""
        self._push(Injected("garbage", 200), count)

    def no_data_for(self, *symbols: str) -> None:
        """Well-formed symbols the fake has no bars for (absent from answers, like Alpaca)."""
        with self._lock:
            self._no_data.update(symbols)

    def empty_once(self, symbol: str, day: date) -> None:
        """Serve ``symbol``'s session ``day`` empty to the first query covering it (all its
        pages), then normally: a gap for repair tests."""
        with self._lock:
            self._empty_once.add((symbol, day))

    def forbid_recent_sip(self, minutes: float = 15.0) -> None:
        """Answer 403 to ``feed=sip`` bars ending within ``minutes`` of now, and to latest SIP."""
        with self._lock:
            self._sip_cutoff_s = minutes * 60.0

    def clear(self) -> None:
        """Forget every queued fault and standing condition."""
        with self._lock:
            self._queue.clear()
            self._no_data.clear()
            self._empty_once.clear()
            self._hidden_by_query.clear()
            self._sip_cutoff_s = None

    @property
    def pending(self) -> int:
        """One-shot faults not yet served."""
        with self._lock:
            return len(self._queue)

    # -- used by the server -----------------------------------------------------------------

    def take(self, path: str) -> Injected | None:
        """The fault for a request to ``path``, consumed; a short page waits for a bars page."""
        with self._lock:
            if not self._queue:
                return None
            head = self._queue[0]
            if head.kind == "short_page" and (
                not path.rstrip("/").endswith("/bars") or "/latest" in path
            ):
                return None
            return self._queue.popleft()

    def no_data(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._no_data)

    def recent_sip_cutoff_s(self) -> float | None:
        with self._lock:
            return self._sip_cutoff_s

    def hidden_sessions(
        self,
        query_key: Hashable,
        first: bool,
        symbols: Iterable[str],
        days: Callable[[], set[date]],
    ) -> set[tuple[str, date]]:
        """Sessions to serve empty for this query: on its first page, the pending empty-once
        sessions it covers are consumed and remembered for its later pages."""
        with self._lock:
            if not first:
                return set(self._hidden_by_query.get(query_key, set()))
            self._hidden_by_query.pop(query_key, None)  # a fresh query starts afresh
            if not self._empty_once:
                return set()
            wanted = set(symbols)
            covered = days()
            hidden = {(s, d) for s, d in self._empty_once if s in wanted and d in covered}
            self._empty_once -= hidden
            if hidden:
                self._hidden_by_query[query_key] = hidden
            return hidden
