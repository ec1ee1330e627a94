"""RetryPolicy: what is retried, how long it waits, and when it gives up (manual clock)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from stockdb.clock import ManualClock
from stockdb.errors import (
    AuthError,
    BadRequest,
    DataIntegrityError,
    RateLimited,
    StockDBError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from stockdb.providers.retry import RetryEvent, RetryPolicy

T0 = datetime(2025, 1, 6, 15, 0, 0, tzinfo=UTC)


class Script:
    """A call that raises the scripted errors in turn, then returns "done"."""

    def __init__(self, *errors: StockDBError) -> None:
        self.errors = list(errors)
        self.attempts: list[int] = []

    def __call__(self, attempt: int) -> str:
        self.attempts.append(attempt)
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def test_transient_errors_are_retried_until_success() -> None:
    clock = ManualClock(T0)
    call = Script(UpstreamUnavailable("500"), UpstreamTimeout("slow"))
    assert RetryPolicy(jitter=0.0).run(call, clock) == "done"
    assert call.attempts == [1, 2, 3]
    assert clock.slept == [0.5, 1.0]


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=5.0, jitter=0.0)
    rng = random.Random(0)
    assert [policy.backoff(n, rng) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_stays_within_its_band() -> None:
    policy = RetryPolicy(base_delay_s=2.0, max_delay_s=100.0, jitter=0.5)
    rng = random.Random(7)
    delays = [policy.backoff(3, rng) for _ in range(200)]
    assert all(4.0 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 100  # actually random, not a constant


@pytest.mark.parametrize(
    "error", [AuthError("keys"), BadRequest("bad"), DataIntegrityError("junk"), ValueError("x")]
)
def test_non_transient_errors_propagate_at_once(error: Exception) -> None:
    clock = ManualClock(T0)

    def call(attempt: int) -> str:
        raise error

    with pytest.raises(type(error)):
        RetryPolicy().run(call, clock)
    assert clock.slept == []


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    clock = ManualClock(T0)
    call = Script(*[UpstreamUnavailable(f"fail {i}") for i in range(10)])
    with pytest.raises(UpstreamUnavailable, match="fail 3"):
        RetryPolicy(max_attempts=4, jitter=0.0).run(call, clock)
    assert call.attempts == [1, 2, 3, 4]
    assert len(clock.slept) == 3


def test_gives_up_when_the_next_wait_would_exceed_the_budget() -> None:
    clock = ManualClock(T0)
    call = Script(*[UpstreamUnavailable("down") for _ in range(10)])
    policy = RetryPolicy(max_attempts=10, base_delay_s=1.0, jitter=0.0, max_total_wait_s=6.0)
    with pytest.raises(UpstreamUnavailable):
        policy.run(call, clock)
    assert clock.slept == [1.0, 2.0]  # the next wait (4 s) would pass 6 s in total
    assert call.attempts == [1, 2, 3]


def test_rate_limited_waits_until_its_reset() -> None:
    clock = ManualClock(T0)
    reset = T0 + timedelta(seconds=37)
    call = Script(RateLimited("429", reset_at=reset))
    assert RetryPolicy(reset_margin_s=0.25).run(call, clock) == "done"
    assert clock.slept == [pytest.approx(37.25)]


def test_rate_limited_with_a_past_or_missing_reset_backs_off() -> None:
    clock = ManualClock(T0)
    call = Script(
        RateLimited("429", reset_at=T0 - timedelta(seconds=5)), RateLimited("429", reset_at=None)
    )
    assert RetryPolicy(base_delay_s=0.5, jitter=0.0).run(call, clock) == "done"
    assert clock.slept == [0.5, 1.0]


def test_a_reset_beyond_the_budget_is_not_waited_for() -> None:
    clock = ManualClock(T0)
    call = Script(RateLimited("429", reset_at=T0 + timedelta(hours=1)))
    with pytest.raises(RateLimited):
        RetryPolicy(max_total_wait_s=60.0).run(call, clock)
    assert clock.slept == []


def test_on_retry_hears_each_retry_before_its_wait() -> None:
    clock = ManualClock(T0)
    events: list[RetryEvent] = []
    call = Script(UpstreamUnavailable("a"), RateLimited("b", reset_at=T0 + timedelta(seconds=3)))
    RetryPolicy(jitter=0.0, reset_margin_s=0.0).run(call, clock, on_retry=events.append)
    assert [(e.attempt, e.rate_limited) for e in events] == [(1, False), (2, True)]
    assert [e.delay_s for e in events] == [0.5, pytest.approx(2.5)]  # 3 s reset, 0.5 s gone


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"jitter": 1.5}, {"base_delay_s": -1.0}])
def test_rejects_nonsense_configuration(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
