"""A process-wide request pacer fed by Alpaca's X-RateLimit-* headers, so a backfill sees no 429.

One :class:`RateLimiter` is shared by every Alpaca client in a process. Before the first
response it assumes the free plan (200 requests per 60 s). Each response's
``X-RateLimit-Limit`` / ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (Unix epoch seconds)
then tell it how many requests are left until when; it spreads those evenly up to the reset
(a generic cell-rate schedule that lets ``burst`` requests go back to back) and never sends
while the remaining quota is zero before the reset. Requests already sent but not yet
answered are subtracted from what a header reports, so concurrent callers cannot overshoot.
Several processes sharing one key also stay in step: each paces to the shared remaining
count, which falls faster when others spend it. Time comes from a
:class:`~stockdb.clock.Clock`, so tests never really sleep.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from stockdb.clock import Clock, SystemClock

__all__ = [
    "RateLimitHeaders",
    "RateLimitState",
    "RateLimiter",
    "RequestPacer",
    "parse_rate_limit_headers",
]

_SAME_WINDOW_S = 0.5  # resets this close together name the same quota window
_EPSILON_S = 1e-6  # clocks tick in microseconds; closer than this is "now"
_MIN_SLEEP_S = 1e-3  # never spin on sleeps too short to move a clock


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """The three rate-limit headers of one response; a field is None when absent or garbled."""

    limit: int | None
    remaining: int | None
    reset_at: float | None

    @property
    def empty(self) -> bool:
        return self.limit is None and self.remaining is None and self.reset_at is None


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """What the limiter believes now: quota per window, requests left, and when it refills."""

    limit: int
    remaining: int
    reset_at: float | None
    window_s: float
    in_flight: int


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return int(value)


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitHeaders:
    """Read X-RateLimit-Limit/Remaining/Reset from ``headers`` (a case-insensitive mapping).

    Never raises: missing or malformed values come back as None.
    """
    return RateLimitHeaders(
        limit=_header_int(headers, "X-RateLimit-Limit"),
        remaining=_header_int(headers, "X-RateLimit-Remaining"),
        reset_at=_header_float(headers, "X-RateLimit-Reset"),
    )


class RequestPacer(Protocol):
    """What the Alpaca client needs of a limiter: this in-process one, or a fleet-wide one
    (:mod:`stockdb.providers.shared_limit`). Call :meth:`acquire` before each request and
    exactly one of :meth:`record_response` or :meth:`record_failure` after it, on the same
    thread."""

    def acquire(self) -> float: ...

    def record_response(
        self, headers: Mapping[str, str], *, rate_limited: bool = False
    ) -> None: ...

    def record_failure(self) -> None: ...

    def state(self) -> RateLimitState: ...

    def close(self) -> None: ...


class RateLimiter:
    """Paces requests to the upstream's quota; thread-safe; share one per process.

    Call :meth:`acquire` before each request and exactly one of :meth:`record_response`
    (with the response headers) or :meth:`record_failure` (no response) after it.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        limit: int = 200,
        window_s: float = 60.0,
        burst: int = 5,
        reset_margin_s: float = 0.05,
        poll_s: float = 0.25,
    ) -> None:
        if limit < 1 or window_s <= 0 or burst < 1:
            raise ValueError("limit and burst must be >= 1 and window_s > 0")
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._limit = limit
        self._window_s = window_s
        self._margin = reset_margin_s
        self._poll_s = poll_s
        self._burst = burst
        self._remaining = limit
        self._reset_at: float | None = None
        self._reset_known = False  # True when _reset_at came from a response header
        self._last_header_reset: float | None = None
        self._tat: float | None = None  # theoretical arrival time of the next request
        self._in_flight = 0

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def state(self) -> RateLimitState:
        """A consistent snapshot of the limiter's belief (for logs and tests)."""
        with self._lock:
            return RateLimitState(
                self._limit, self._remaining, self._reset_at, self._window_s, self._in_flight
            )

    def close(self) -> None:
        """Nothing to release (the shared limiters hold connections)."""

    def _roll(self, now: float) -> None:
        """Open a fresh window when the known or assumed reset has passed (lock held)."""
        if self._reset_at is None:
            self._reset_at = now + self._window_s
            self._reset_known = False
            return
        if now < self._reset_at + (self._margin if self._reset_known else 0.0):
            return
        self._remaining = self._limit
        windows = max(1, math.ceil((now - self._reset_at) / self._window_s))
        self._reset_at += windows * self._window_s
        self._reset_known = False
        self._tat = None  # the first request of a window goes at once

    def _delay(self, now: float) -> tuple[float, float]:
        """Seconds to wait before the next request may go (0: go now), and the spacing
        between requests that spreads the remaining quota to the reset (lock held)."""
        self._roll(now)
        assert self._reset_at is not None
        if self._remaining <= 0:
            return max(self._reset_at + self._margin - now, _MIN_SLEEP_S), 0.0
        spacing = max(0.0, self._reset_at - now) / self._remaining
        tat = now if self._tat is None else max(self._tat, now)
        ahead = tat - now - (self._burst - 1) * spacing
        if ahead <= _EPSILON_S:
            return 0.0, spacing
        return max(ahead, _MIN_SLEEP_S), spacing

    def acquire(self) -> float:
        """Block (on the clock) until a request may be sent, and count it as sent.

        Returns the seconds spent waiting. Never raises.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._now()
                delay, spacing = self._delay(now)
                if delay <= 0.0:
                    self._remaining -= 1
                    self._tat = (now if self._tat is None else max(self._tat, now)) + spacing
                    self._in_flight += 1
                    return waited
                if self._in_flight > 0:
                    # an answer in flight may change the picture; look again soon
                    delay = min(delay, self._poll_s)
            self._clock.sleep(delay)
            waited += delay

    def record_failure(self) -> None:
        """The request acquired last got no response (timeout, dropped connection)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def record_response(self, headers: Mapping[str, str], *, rate_limited: bool = False) -> None:
        """Learn from a response's rate-limit headers; ``rate_limited`` marks a 429.

        A reset later than the known one opens a new window and is believed; one matching it
        can only lower the remaining count (answers may arrive out of order); an earlier
        one is stale and ignored. Never raises.
        """
        parsed = parse_rate_limit_headers(headers)
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            now = self._now()
            if parsed.limit:
                self._limit = parsed.limit
            reset = parsed.reset_at
            if reset is None:
                if rate_limited:
                    self._remaining = 0
                return
            last = self._last_header_reset
            if last is not None and reset > last + _SAME_WINDOW_S:
                # consecutive resets are at least one window apart: learn the shortest gap
                self._window_s = min(self._window_s, max(reset - last, 1.0))
            self._last_header_reset = reset if last is None else max(last, reset)
            remaining = parsed.remaining
            if remaining is None:
                remaining = 0 if rate_limited else self._remaining
            estimate = max(0, remaining - self._in_flight)
            if not self._reset_known or self._reset_at is None:
                self._adopt(reset, estimate, now)
            elif reset > self._reset_at + _SAME_WINDOW_S:
                self._adopt(reset, estimate, now)
            elif reset >= self._reset_at - _SAME_WINDOW_S:
                self._remaining = min(self._remaining, estimate)

    def _adopt(self, reset: float, remaining: int, now: float) -> None:
        """Take a header's window as the truth (lock held)."""
        if reset <= now:
            # the reset already passed by our clock: the window refilled
            self._reset_at = now + self._window_s
            self._reset_known = False
            self._remaining = self._limit
            return
        self._reset_at = reset
        self._reset_known = True
        self._remaining = remaining
        self._tat = None
