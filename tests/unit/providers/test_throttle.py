"""RateLimiter: pacing from X-RateLimit headers, on a manual clock (no real sleeping)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from stockdb.clock import ManualClock
from stockdb.providers.throttle import RateLimiter, parse_rate_limit_headers

T0 = datetime(2025, 1, 6, 15, 0, 0, tzinfo=UTC)
EPOCH0 = T0.timestamp()


def _headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }


def _elapsed(clock: ManualClock) -> float:
    return clock.now().timestamp() - EPOCH0


def test_parse_headers_reads_values_and_tolerates_garbage() -> None:
    parsed = parse_rate_limit_headers(_headers(200, 17, 1_736_175_660))
    assert (parsed.limit, parsed.remaining, parsed.reset_at) == (200, 17, 1_736_175_660.0)
    bad = parse_rate_limit_headers(
        {"X-RateLimit-Limit": "lots", "X-RateLimit-Remaining": "-3", "X-RateLimit-Reset": "nan"}
    )
    assert bad.empty
    assert parse_rate_limit_headers({}).empty


def test_before_any_response_assumes_200_per_minute() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(clock, burst=1)
    for _ in range(200):
        limiter.acquire()
        limiter.record_failure()
    assert _elapsed(clock) < 60.0
    limiter.acquire()  # the 201st must wait for the assumed window to refill
    assert _elapsed(clock) >= 60.0


def test_spreads_remaining_quota_evenly_until_reset() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(clock, burst=1)
    limiter.acquire()
    limiter.record_response(_headers(100, 10, EPOCH0 + 10))
    sent = []
    for _ in range(10):
        limiter.acquire()
        sent.append(round(_elapsed(clock), 6))
        limiter.record_failure()
    assert sent == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    limiter.acquire()  # quota spent: nothing goes before the reset
    assert _elapsed(clock) >= 10.0


def test_burst_lets_the_first_requests_go_back_to_back() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(clock, burst=3)
    limiter.acquire()
    limiter.record_response(_headers(100, 30, EPOCH0 + 30))
    waits = []
    for _ in range(4):
        waits.append(limiter.acquire())
        limiter.record_failure()
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] > 0.0


def test_never_sends_with_zero_remaining_before_reset() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(clock, reset_margin_s=0.05)
    limiter.acquire()
    limiter.record_response(_headers(200, 0, EPOCH0 + 42))
    waited = limiter.acquire()
    assert _elapsed(clock) >= 42.05 - 1e-6
    assert waited == pytest.approx(42.05, abs=2e-3)


def test_a_429_without_headers_stops_sending() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(clock)
    limiter.acquire()
    limiter.record_response({}, rate_limited=True)
    assert limiter.state().remaining == 0


def test_out_of_order_answers_cannot_raise_remaining_in_one_window() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(clock)
    limiter.acquire()
    limiter.record_response(_headers(200, 5, EPOCH0 + 30))
    limiter.acquire()
    limiter.record_response(_headers(200, 8, EPOCH0 + 30))
    assert limiter.state().remaining == 4  # 5, minus the one sent since


def test_a_later_reset_opens_a_new_window_and_a_stale_one_is_ignored() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(clock)
    limiter.acquire()
    limiter.record_response(_headers(200, 3, EPOCH0 + 2))
    clock.advance(2.5)
    limiter.acquire()
    limiter.record_response(_headers(200, 199, EPOCH0 + 4))
    state = limiter.state()
    assert (state.remaining, state.reset_at) == (199, EPOCH0 + 4)
    assert state.window_s == pytest.approx(2.0)  # learned from consecutive resets
    limiter.acquire()
    limiter.record_response(_headers(200, 50, EPOCH0 + 2))  # an answer from the old window
    assert limiter.state().remaining == 198


def test_requests_in_flight_are_subtracted_from_the_header() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(clock, burst=10)
    for _ in range(3):
        limiter.acquire()
    limiter.record_response(_headers(200, 10, EPOCH0 + 60))
    state = limiter.state()
    assert state.in_flight == 2
    assert state.remaining == 8


def test_limit_header_replaces_the_assumed_plan() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(clock)
    limiter.acquire()
    limiter.record_response(_headers(10_000, 9_999, EPOCH0 + 60))
    assert limiter.state().limit == 10_000


def test_after_the_reset_the_first_request_goes_at_once() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(clock, burst=1, reset_margin_s=0.0)
    limiter.acquire()
    limiter.record_response(_headers(20, 0, EPOCH0 + 2))
    limiter.acquire()
    assert _elapsed(clock) == pytest.approx(2.0)
    assert limiter.state().remaining == 19


def test_threads_sharing_one_limiter_never_exceed_the_quota() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(clock, burst=4, poll_s=0.1)
    limiter.acquire()
    limiter.record_response(_headers(200, 50, EPOCH0 + 1000))
    sent_at: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            limiter.acquire()
            with lock:
                sent_at.append(clock.now().timestamp())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(sent_at) == 80
    assert sum(1 for t in sent_at if t < EPOCH0 + 1000) <= 50


def test_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="limit"):
        RateLimiter(ManualClock(T0), limit=0)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(ManualClock(T0), burst=0)
