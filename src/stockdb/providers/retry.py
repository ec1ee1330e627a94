"""Retry policy: exponential backoff with jitter for transient errors, 429s wait for the reset.

Only :class:`~stockdb.errors.TransientError` is retried; anything else propagates at once.
Attempts and the total time spent waiting are both capped. Waiting goes through a
:class:`~stockdb.clock.Clock`, so tests advance a fake clock instead of sleeping.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from stockdb.clock import Clock
from stockdb.errors import RateLimited, TransientError

__all__ = ["RetryEvent", "RetryPolicy"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """One decision to retry: the attempt that failed, its error, and the wait before the next."""

    attempt: int
    error: TransientError
    delay_s: float

    @property
    def rate_limited(self) -> bool:
        return isinstance(self.error, RateLimited)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a transient failure.

    The n-th retry waits ``d = min(max_delay_s, base_delay_s * 2**(n-1))`` scaled into
    ``[d * (1 - jitter), d]`` at random. A :class:`RateLimited` error carrying a ``reset_at``
    in the future waits until that instant plus ``reset_margin_s`` instead.
    """

    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    max_total_wait_s: float = 180.0
    jitter: float = 0.5
    reset_margin_s: float = 0.05

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must lie in [0, 1]")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.max_total_wait_s < 0:
            raise ValueError("delays must be >= 0")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The jittered exponential wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (max(attempt, 1) - 1))
        return ceiling * (1.0 - self.jitter * rng.random())

    def delay_for(
        self, error: TransientError, attempt: int, now: datetime, rng: random.Random
    ) -> float:
        """How long to wait after ``error`` ended attempt ``attempt``; never negative."""
        if isinstance(error, RateLimited) and error.reset_at is not None:
            until_reset = (error.reset_at - now).total_seconds()
            if until_reset > 0:
                return until_reset + self.reset_margin_s
        return self.backoff(attempt, rng)

    def run(
        self,
        call: Callable[[int], T],
        clock: Clock,
        *,
        on_retry: Callable[[RetryEvent], None] | None = None,
        rng: random.Random | None = None,
    ) -> T:
        """Call ``call(attempt)`` until it returns, retrying transient errors.

        Returns what ``call`` returned. Raises a non-transient error at once, and the last
        transient error when attempts run out or the next wait would exceed the total budget.
        ``on_retry`` hears about each retry before its wait.
        """
        rng = rng or random.Random()
        waited = 0.0
        attempt = 1
        while True:
            try:
                return call(attempt)
            except TransientError as exc:
                if attempt >= self.max_attempts:
                    raise
                delay = self.delay_for(exc, attempt, clock.now(), rng)
                if waited + delay > self.max_total_wait_s:
                    raise
                if on_retry is not None:
                    on_retry(RetryEvent(attempt, exc, delay))
                clock.sleep(delay)
                waited += delay
                attempt += 1
