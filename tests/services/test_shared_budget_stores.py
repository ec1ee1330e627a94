"""The shared budget stores against real Redis and PostgreSQL: the Redis Lua script performs
exactly the Python budget model's steps; both stores let one probe out until a response
names the quota; a 429 (its reset or Retry-After) holds back every process sharing the
budget, down to the requests the fake Alpaca server sees; and a process killed with SIGKILL
while holding grants leaks them for at most one window."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from stockdb.clock import ManualClock, SystemClock
from stockdb.errors import RateLimited
from stockdb.providers import budget as model
from stockdb.providers.alpaca import AlpacaProvider
from stockdb.providers.budget import PROBE_POLL_S, Budget, BudgetParams
from stockdb.providers.redis_budget import RedisBudgetStore
from stockdb.providers.retry import RetryPolicy
from stockdb.providers.shared_limit import BudgetStore, PostgresBudgetStore, SharedRateLimiter
from stockdb.providers.throttle import RateLimitHeaders
from stockdb.state.store import StateStore
from stockdb.testing.fake_alpaca import FakeAlpacaServer

pytestmark = pytest.mark.services

T0 = 1_700_000_000.25


@pytest.fixture(params=["redis", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[BudgetStore]:
    """A fresh budget in Redis or in PostgreSQL (the fallback)."""
    if request.param == "redis":
        redis_store = RedisBudgetStore(request.getfixturevalue("redis_url"), "stockdb:rl:t")
        try:
            yield redis_store
        finally:
            redis_store.close()
        return
    state = StateStore(request.getfixturevalue("pg_database"))
    try:
        yield PostgresBudgetStore(state.engine, "stockdb:rl:t")
    finally:
        state.dispose()


def _random_ops(rng: random.Random, start: float) -> Iterator[tuple[str, float, dict[str, object]]]:
    now = start
    granted: list[str] = []
    for i in range(600):
        now += rng.choice([0.0, 0.001, 0.05, 0.2, 0.7, 1.3, 2.9])
        roll = rng.random()
        if roll < 0.55:
            gid = f"g{i}"
            yield "grant", now, {"gid": gid}
            granted.append(gid)
        elif roll < 0.9:
            gid = granted.pop(rng.randrange(len(granted))) if granted else None
            window = int(now // 3)
            reset = float((window + rng.choice([0, 1, 1, 1, 2])) * 3)
            yield (
                "learn",
                now,
                {
                    "gid": gid,
                    "limit": rng.choice([None, 12, 12, 20]),
                    "remaining": rng.choice([None, 0, 3, 7, 11]),
                    # headers are rare at first, so the probe rule is exercised too
                    "reset": rng.choice([None, None, None, reset] if i < 60 else [None, reset]),
                    "limited": rng.random() < 0.1,
                    "retry_after": rng.choice([None, None, 0.4, 2.5, 7.0]),
                },
            )
        else:
            gid = granted.pop(rng.randrange(len(granted))) if granted else None
            yield "release", now, {"gid": gid}


def test_store_performs_the_python_model_steps(store: BudgetStore) -> None:
    """Redis: the Lua script computes what the model does; PostgreSQL: the row round-trips."""
    params = BudgetParams(limit=12, window_s=3.0, burst=3, reset_margin_s=0.05)
    reference = Budget.fresh(params)
    probes = 0
    for op, now, a in _random_ops(random.Random(18), T0):
        gid = a["gid"]
        assert gid is None or isinstance(gid, str)
        if op == "grant":
            assert gid is not None
            delay, in_flight = store.grant(now, gid, params)
            expected = model.grant(reference, now, gid, params)
            assert delay == expected
            assert in_flight == len(reference.grants)
            probes += reference.last_header_reset is None and expected == PROBE_POLL_S
        elif op == "learn":
            headers = RateLimitHeaders(a["limit"], a["remaining"], a["reset"])  # type: ignore[arg-type]
            retry_after = a["retry_after"]
            assert retry_after is None or isinstance(retry_after, float)
            store.learn(now, gid, headers, bool(a["limited"]), retry_after)
            model.learn(
                reference,
                now,
                gid,
                headers.limit,
                headers.remaining,
                headers.reset_at,
                rate_limited=bool(a["limited"]),
                retry_after=retry_after,
            )
        else:
            store.release(now, gid)
            model.release(reference, now, gid)
        assert store.snapshot(params) == reference, (op, now)
    assert probes >= 3, "the ops exercised the unknown-quota probe"


def test_one_probe_in_flight_until_a_header_names_the_quota(store: BudgetStore) -> None:
    params = BudgetParams()  # Alpaca's default 200 a minute is only an assumption
    assert store.grant(T0, "probe", params) == (0.0, 1)
    for gid in ("b", "c", "d"):
        assert store.grant(T0 + 0.01, gid, params) == (PROBE_POLL_S, 1)
    reset = float(int(T0) + 2)
    store.learn(T0 + 0.05, "probe", RateLimitHeaders(3, 2, reset), False)  # 3 per window
    assert store.grant(T0 + 0.06, "b", params) == (0.0, 1)
    assert store.grant(T0 + 0.06, "c", params) == (0.0, 2)
    delay, in_flight = store.grant(T0 + 0.06, "d", params)
    assert in_flight == 2 and delay == reset + params.reset_margin_s - (T0 + 0.06)


def alpaca_headers(remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "200",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": repr(reset),
    }


def test_a_429_holds_back_every_process_sharing_the_budget(store: BudgetStore) -> None:
    clock = ManualClock(datetime.fromtimestamp(T0, tz=UTC))
    params = BudgetParams(limit=200, window_s=60.0, burst=10_000)
    first, second = (SharedRateLimiter(store, clock, params=params) for _ in range(2))
    reset = float(int(T0) + 60)
    assert first.acquire() == 0.0
    first.record_response(alpaca_headers(150, reset))
    assert second.acquire() == 0.0
    second.record_response(alpaca_headers(149, reset))
    # another user of the account spent the quota: a 429 that names only Retry-After (90 s,
    # beyond the window's reset), learnt by the first process ...
    assert first.acquire() == 0.0
    first.record_response({"Retry-After": "90"}, rate_limited=True)
    # ... holds the second process back without a 429 of its own
    assert second.acquire() >= 90.0
    assert clock.now().timestamp() >= T0 + 90.0
    second.record_failure()
    # a 429 with Alpaca's own headers: the rest of its window is spent for everyone
    later = clock.now().timestamp()
    next_reset = float(int(later) + 30)
    assert first.acquire() == 0.0
    first.record_response(alpaca_headers(0, next_reset), rate_limited=True)
    assert second.acquire() >= next_reset - later
    second.record_failure()
    assert first.state().in_flight == 0


def test_a_429_one_provider_gets_holds_back_the_other_at_the_fake(store: BudgetStore) -> None:
    """End to end: a 429 injected at the fake Alpaca server, answered to one provider, keeps
    another provider sharing the budget from sending anything before that 429's reset."""
    clock = ManualClock(datetime(2025, 6, 2, 15, tzinfo=UTC))  # the fake's windows too
    start, end = datetime(2024, 4, 1, 13, tzinfo=UTC), datetime(2024, 4, 1, 16, tzinfo=UTC)
    with FakeAlpacaServer(clock=clock, rate_limit=200, window_s=60) as fake:
        first, second = (
            AlpacaProvider(
                fake.settings(),
                limiter=SharedRateLimiter(store, clock),
                clock=clock,
                retry=RetryPolicy(max_attempts=attempts),
            )
            for attempts in (1, 6)
        )
        try:
            assert list(first.fetch_bars(["SPY"], start, end))  # names the quota: 200/60s
            fake.faults.rate_limit(reset_in_s=20.0)
            with pytest.raises(RateLimited) as raised:
                list(first.fetch_bars(["SPY"], start, end))
            assert raised.value.reset_at is not None
            reset = raised.value.reset_at.timestamp()
            sent = len(fake.requests)
            pages = list(second.fetch_bars(["SPY"], start, end))
        finally:
            first.close()
            second.close()
        after = fake.requests[sent:]
    assert pages and after
    assert min(r.at for r in after) >= reset, "nothing went before the 429's reset"
    assert second.stats.rate_limited == 0 and fake.total_429s == 1


HOLDER = """
import sys
from stockdb.providers.budget import BudgetParams
from stockdb.providers.redis_budget import RedisBudgetStore
from stockdb.providers.shared_limit import SharedRateLimiter

store = RedisBudgetStore(sys.argv[1], sys.argv[2])
limiter = SharedRateLimiter(store, params=BudgetParams(limit=12, window_s=3.0, burst=5))
for _ in range(int(sys.argv[3])):
    limiter.acquire()  # sent, never answered: this process dies holding its grants
print("held", flush=True)
sys.stdin.read()
"""


def _hold_and_kill(redis_url: str, key: str, grants: int) -> None:
    """Run a process that takes ``grants`` grants from the budget, then SIGKILL it."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, redis_url, key, str(grants)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == b"held"
            os.kill(holder.pid, signal.SIGKILL)
            assert holder.wait(timeout=10) == -signal.SIGKILL
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait(timeout=10)


def test_killed_holder_leaks_its_grants_for_at_most_one_window(redis_url: str) -> None:
    key = "stockdb:ratelimit:kill-check"
    params = BudgetParams(limit=12, window_s=3.0)
    store = RedisBudgetStore(redis_url, key)
    try:
        # a survivor's probe has named the quota (12 per 3 s), so the holder is not limited
        # to one request in flight
        seeded = SystemClock().now().timestamp()
        assert store.grant(seeded, "seed", params) == (0.0, 1)
        store.learn(seeded, "seed", RateLimitHeaders(12, 11, float(int(seeded) + 3)), False)
        _hold_and_kill(redis_url, key, 3)
        held = store.snapshot(params)
        assert len(held.grants) == 3 and held.window_s == 3.0
        taken_by = min(held.grants.values()) - held.window_s  # when the first was granted
        assert taken_by >= seeded
        # a survivor's answer in a later window: the dead holder's grants still count ...
        reset = float(int(taken_by) + 100)
        store.learn(taken_by + 0.5, None, RateLimitHeaders(12, 9, reset), False)
        assert store.snapshot(params).remaining == 9 - 3
        # ... but one window after they were taken they are gone, and the budget is whole
        after = max(held.grants.values()) + 1e-3
        assert after - taken_by <= held.window_s + 1.0
        store.learn(after, None, RateLimitHeaders(12, 9, reset + 3.0), False)
        freed = store.snapshot(params)
        assert freed.grants == {} and freed.remaining == 9
    finally:
        store.close()


def test_a_killed_probe_holder_blocks_the_fleet_for_one_window_only(redis_url: str) -> None:
    key = "stockdb:ratelimit:probe-kill-check"
    params = BudgetParams(limit=12, window_s=3.0)
    _hold_and_kill(redis_url, key, 1)  # no header seen yet: its one grant is the probe
    store = RedisBudgetStore(redis_url, key)
    try:
        (expiry,) = store.snapshot(params).grants.values()
        assert store.grant(expiry - 1e-3, "survivor", params) == (PROBE_POLL_S, 1)
        assert store.grant(expiry, "survivor", params) == (0.0, 1)
        assert list(store.snapshot(params).grants) == ["survivor"]
    finally:
        store.close()
