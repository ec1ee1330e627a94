"""The shared budget's steps on plain data: a header from a window that already ended, one
request in flight until a header names the quota, and a 429's Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from stockdb.providers.budget import (
    PROBE_POLL_S,
    Budget,
    BudgetParams,
    grant,
    learn,
    release,
)
from stockdb.providers.shared_limit import retry_after_s

PARAMS = BudgetParams(limit=3, window_s=2.0, burst=5, reset_margin_s=0.05)


def test_a_passed_reset_aligns_to_the_server_grid_and_keeps_in_flight_requests_counted() -> None:
    budget = Budget.fresh(PARAMS)
    budget.last_header_reset = -40.0  # a header named the quota long ago (no probe now)
    # three requests at t=1.95, our assumed window is [1.95, 3.95), off the server's grid
    for gid in ("a", "b", "c"):
        assert grant(budget, 1.95, gid, PARAMS) == 0.0
    # "a" was counted in the server's window [0, 2); its answer is learnt at t=2.1, while
    # "b" and "c" (which reached the server after 2.0) are still in flight
    learn(budget, 2.1, "a", 3, 0, 2.0)
    assert budget.reset_at == 4.0  # the server's grid, not now + window
    assert budget.remaining == 1  # 3 per window, less the two in flight
    assert grant(budget, 2.1, "d", PARAMS) == 0.0
    assert grant(budget, 2.1, "e", PARAMS) > 0.0  # a fourth in [2, 4) would be a 429


def test_a_header_of_the_current_window_only_lowers_the_count() -> None:
    budget = Budget.fresh(PARAMS)
    assert grant(budget, 2.0, "a", PARAMS) == 0.0
    learn(budget, 2.2, "a", 3, 0, 4.0)  # another process spent the rest of [2, 4)
    assert (budget.reset_at, budget.remaining, budget.known) == (4.0, 0, True)
    assert grant(budget, 2.3, "b", PARAMS) > 0.0


def test_until_a_header_names_the_quota_only_one_request_is_in_flight() -> None:
    budget = Budget.fresh(BudgetParams())  # assumes Alpaca's default: 200 a minute, burst 5
    assert grant(budget, 10.0, "probe", PARAMS) == 0.0
    # the assumed quota would let many more go; the real one may be 3: everyone waits
    for gid in ("b", "c", "d"):
        assert grant(budget, 10.01, gid, PARAMS) == PROBE_POLL_S
    assert list(budget.grants) == ["probe"] and budget.remaining == 199
    learn(budget, 10.05, "probe", 3, 2, 12.0)  # the probe's answer: 3 per window, 2 left
    assert grant(budget, 10.06, "b", PARAMS) == 0.0
    assert grant(budget, 10.06, "c", PARAMS) == 0.0
    # the server's count is spent: the next waits for its reset, not for a probe
    assert grant(budget, 10.06, "d", PARAMS) == 12.0 + PARAMS.reset_margin_s - 10.06


def test_a_probe_without_an_answer_hands_the_slot_on() -> None:
    budget = Budget.fresh(BudgetParams())
    assert grant(budget, 1.0, "probe", PARAMS) == 0.0
    release(budget, 1.5, "probe")  # timed out: no header was learnt
    assert grant(budget, 1.6, "next", PARAMS) == 0.0
    learn(budget, 1.7, "next", None, None, None)  # an answer without rate-limit headers
    assert budget.last_header_reset is None
    assert grant(budget, 1.8, "a", PARAMS) == 0.0  # still probing, one at a time
    assert grant(budget, 1.8, "b", PARAMS) == PROBE_POLL_S


def test_a_dead_probe_holder_blocks_the_fleet_for_one_window_only() -> None:
    budget = Budget.fresh(PARAMS)
    assert grant(budget, 5.0, "dead", PARAMS) == 0.0  # its holder is killed: no answer
    assert grant(budget, 5.0 + PARAMS.window_s - 1e-3, "x", PARAMS) > 0.0
    assert grant(budget, 5.0 + PARAMS.window_s, "x", PARAMS) == 0.0
    assert list(budget.grants) == ["x"]


def test_a_429_retry_after_empties_the_budget_until_then() -> None:
    budget = Budget.fresh(PARAMS)
    assert grant(budget, 0.1, "a", PARAMS) == 0.0
    learn(budget, 0.2, "a", 3, 2, 2.0)  # quota known: window [0, 2), 2 left
    assert grant(budget, 0.3, "b", PARAMS) == 0.0
    # someone else's use made this one a 429 that names no reset, only Retry-After: 5 s
    learn(budget, 0.4, "b", None, None, None, rate_limited=True, retry_after=5.0)
    assert budget.remaining == 0 and budget.reset_at == 5.4
    wait = grant(budget, 2.1, "c", PARAMS)
    assert wait == 5.4 + PARAMS.reset_margin_s - 2.1  # not the old reset at 2.0
    assert grant(budget, 2.1 + wait, "c", PARAMS) == 0.0


def test_a_429_retry_after_shorter_than_the_known_reset_does_not_shorten_it() -> None:
    budget = Budget.fresh(PARAMS)
    assert grant(budget, 0.1, "a", PARAMS) == 0.0
    learn(budget, 0.2, "a", 3, 0, 2.0, rate_limited=True, retry_after=0.5)
    assert (budget.remaining, budget.reset_at) == (0, 2.0)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2024, 3, 5, 15, 0, 0, tzinfo=UTC)
    at = now.timestamp()
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert retry_after_s({"Retry-After": "3"}, at) == 3.0
    assert retry_after_s({"Retry-After": " 1.5 "}, at) == 1.5
    assert retry_after_s({"Retry-After": later}, at) == 7.0
    for bad in ("", "0", "-2", "soon", "nan", "inf"):
        assert retry_after_s({"Retry-After": bad}, at) is None, bad
    assert retry_after_s({}, at) is None


def test_a_429_naming_an_earlier_reset_still_empties_the_known_window() -> None:
    params = BudgetParams(limit=200, window_s=60.0, burst=10_000)
    budget = Budget.fresh(params)
    assert grant(budget, 0.5, "a", params) == 0.0
    learn(budget, 0.6, "a", 200, 199, 60.0)  # window [0, 60): 199 left
    assert grant(budget, 5.0, "b", params) == 0.0
    # the server refuses with a reset at 20 s (someone else's burst): nothing until then,
    # and our window's own reset is the later, so it stands
    learn(budget, 5.1, "b", 200, 0, 20.0, rate_limited=True)
    assert (budget.remaining, budget.reset_at) == (0, 60.0)
    assert grant(budget, 30.0, "c", params) > 0.0


def test_a_stale_429_from_an_ended_window_changes_nothing() -> None:
    budget = Budget.fresh(PARAMS)
    assert grant(budget, 1.9, "a", PARAMS) == 0.0
    learn(budget, 2.1, "x", 3, 3, 4.0)  # the next window [2, 4) is open: 3 left, "a" in flight
    before = (budget.remaining, budget.reset_at)
    learn(budget, 2.2, "a", 3, 0, 2.0, rate_limited=True)  # "a" was refused in [0, 2)
    assert (budget.remaining, budget.reset_at) == before
