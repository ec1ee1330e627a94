"""The shared budget's steps on plain data: a header from a window that already ended."""

from __future__ import annotations

from stockdb.providers.budget import Budget, BudgetParams, grant, learn

PARAMS = BudgetParams(limit=3, window_s=2.0, burst=5, reset_margin_s=0.05)


def test_a_passed_reset_aligns_to_the_server_grid_and_keeps_in_flight_requests_counted() -> None:
    budget = Budget.fresh(PARAMS)
    # three requests at t=1.95, before any header: our assumed window is [1.95, 3.95)
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
