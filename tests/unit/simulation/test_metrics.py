"""Backtest statistics against hand-worked figures, brute-force loops and empyrical."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockdb.errors import InvalidInput
from stockdb.simulation.engine import simulate
from stockdb.simulation.metrics import (
    daily_returns,
    max_drawdown,
    performance,
    profit_factor,
    round_trip_pnl,
    session_equity,
)


def brute_drawdown(curve: list[float]) -> tuple[float, int, int, int]:
    """Depth, peak of the deepest fall, bars from that peak to recovery (or the end), and
    the longest run below a previous peak: plain loops."""
    worst, trough = 0.0, 0
    for j in range(len(curve)):
        depth = curve[j] / max(curve[: j + 1]) - 1
        if depth < worst:
            worst, trough = depth, j
    if worst == 0.0:
        return 0.0, 0, 0, 0
    top = max(curve[: trough + 1])
    peak = max(i for i in range(trough + 1) if curve[i] >= top)
    end = next((j for j in range(trough, len(curve)) if curve[j] >= top), len(curve) - 1)
    run = longest = 0
    for j in range(len(curve)):
        run = run + 1 if curve[j] < max(curve[: j + 1]) else 0
        longest = max(longest, run)
    return worst, peak, end - peak, longest


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(1.0, 1e6), min_size=1, max_size=50))
def test_max_drawdown_matches_brute_force_and_empyrical(curve: list[float]) -> None:
    dd = max_drawdown(np.array(curve))
    depth, peak, bars, longest = brute_drawdown(curve)
    assert dd.depth == pytest.approx(depth, abs=1e-12)
    assert (dd.bars, dd.longest_bars) == (bars, longest)
    if depth < 0:
        assert dd.peak == peak
    returns = np.diff(curve) / np.array(curve[:-1])
    if returns.size:
        assert dd.depth == pytest.approx(min(0.0, empyrical.max_drawdown(returns)), abs=1e-9)


def _minutes(days: list[str], per_day: int) -> pd.Series:
    """``per_day`` minute stamps from 09:30 New York on each day, in UTC."""
    parts = [
        pd.date_range(f"{d} 09:30", periods=per_day, freq="1min", tz="America/New_York")
        for d in days
    ]
    return pd.Series(parts[0].append(parts[1:]).tz_convert("UTC"))


def test_daily_returns_take_each_sessions_last_bar_against_initial_cash() -> None:
    ts = _minutes(["2024-01-02", "2024-01-03", "2024-01-05"], 3)
    # The last session's bars run past 19:00 New York = 00:00 UTC the next day.
    late = pd.Series(pd.date_range("2024-01-05 23:58", periods=3, freq="1min", tz="UTC"))
    ts = pd.concat([ts, late], ignore_index=True)
    equity = np.array([100, 101, 102, 99, 98, 97, 97, 98, 110, 111, 112, 120.0])
    daily = session_equity(ts, equity)
    assert [str(d) for d in daily.index] == ["2024-01-02", "2024-01-03", "2024-01-05"]
    assert daily.tolist() == [102.0, 97.0, 120.0]
    r = daily_returns(ts, equity, 100.0)
    np.testing.assert_allclose(r, [0.02, 97 / 102 - 1, 120 / 97 - 1])
    with pytest.raises(InvalidInput):
        session_equity(ts[::-1], equity)
    with pytest.raises(InvalidInput):
        session_equity(ts[:3], equity)


def test_performance_matches_empyrical_on_daily_returns() -> None:
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2024-01-02", periods=60).strftime("%Y-%m-%d").tolist()
    ts = _minutes(days, 30)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, ts.size)))
    signal = rng.choice(np.array([-1, 0, 1], dtype=np.int8), ts.size)
    result = simulate(close, signal, cash=10_000.0, fee_bps=1.0)
    m = performance(result, ts)
    frame = pd.DataFrame({"ts": ts.dt.tz_convert("America/New_York"), "eq": result.equity})
    daily = frame.groupby(frame["ts"].dt.date)["eq"].last()
    r = daily.pct_change()
    r.iloc[0] = daily.iloc[0] / 10_000.0 - 1
    assert m["sessions"] == 60 == len(r)
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r), rel=1e-9)
    assert m["volatility"] == pytest.approx(empyrical.annual_volatility(r), rel=1e-9)
    assert m["sortino"] == pytest.approx(empyrical.sortino_ratio(r), rel=1e-9)
    assert m["cagr"] == pytest.approx(empyrical.annual_return(r), rel=1e-9)
    assert m["calmar"] == pytest.approx(empyrical.calmar_ratio(r), rel=1e-9)
    bars = pd.Series(np.concatenate(([10_000.0], result.equity))).pct_change().dropna()
    assert m["max_drawdown"] == pytest.approx(empyrical.max_drawdown(bars), rel=1e-9)
    assert m["total_return"] == pytest.approx(empyrical.cum_returns_final(r), rel=1e-9)


def test_performance_by_hand() -> None:
    close = np.array([10.0, 11.0, 9.9, 12.1, 12.1])
    signal = np.array([1, 0, 0, -1, 0], dtype=np.int8)
    ts = _minutes(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"], 1)
    result = simulate(close, signal, cash=100.0)
    m = performance(result, ts)
    returns = np.array([0.0, 0.1, -0.1, 121 / 99 - 1, 0.0])
    assert m["total_return"] == pytest.approx(0.21)
    assert m["final_equity"] == pytest.approx(121.0)
    assert m["volatility"] == pytest.approx(np.std(returns, ddof=1) * math.sqrt(252))
    sharpe = returns.mean() / np.std(returns, ddof=1) * math.sqrt(252)
    assert m["sharpe"] == pytest.approx(sharpe)
    downside = math.sqrt(np.mean(np.minimum(returns, 0) ** 2)) * math.sqrt(252)
    assert m["sortino"] == pytest.approx(returns.mean() * 252 / downside)
    assert m["cagr"] == pytest.approx(1.21 ** (252 / 5) - 1)
    assert m["calmar"] == pytest.approx(m["cagr"] / 0.1)
    assert m["max_drawdown"] == pytest.approx(-0.1)
    # Peak at bar 1 (11.0), trough at bar 2, recovered at bar 3: two bars, one session apart.
    assert m["max_drawdown_bars"] == 2 and m["longest_underwater_bars"] == 1
    assert m["max_drawdown_peak"] == ts[1].isoformat()
    assert m["max_drawdown_trough"] == ts[2].isoformat()
    assert m["max_drawdown_recovery"] == ts[3].isoformat()
    assert m["max_drawdown_days"] == pytest.approx(2.0)
    assert m["trades"] == 2 and m["round_trips"] == 1 and m["win_rate"] == 1.0
    assert m["profit_factor"] is None  # no losing round trip
    assert m["exposure"] == pytest.approx(3 / 5)


def test_minute_bars_never_annualise_from_a_bar_count() -> None:
    """390 bars of one session up 1 %: the CAGR is a year of such days, not 98,280 bars'."""
    ts = _minutes(["2024-01-02"], 390)
    close = np.linspace(100.0, 101.0, 390)
    hold = np.zeros(close.size, dtype=np.int8)
    hold[0] = 1
    m = performance(simulate(close, hold, cash=1000.0), ts)
    assert m["sessions"] == 1 and m["bars"] == 390
    assert m["cagr"] == pytest.approx(1.01**252 - 1)
    assert m["sharpe"] is None and m["volatility"] is None  # one daily return has no spread
    assert m["win_rate"] is None and m["round_trips"] == 0
    flat = performance(simulate(np.full(3, 10.0), np.zeros(3, np.int8)), ts[:3])
    assert flat["total_return"] == 0.0 and flat["exposure"] == 0.0 and flat["calmar"] is None


def test_round_trips_include_fees_and_profit_factor() -> None:
    close = np.array([10.0, 10.0, 12.0, 12.0, 9.0])
    signal = np.array([1, -1, 1, -1, 1], dtype=np.int8)
    result = simulate(close, signal, cash=1000.0, fee_bps=100)
    pnl = round_trip_pnl(result.trades)
    assert pnl.size == 2
    assert pnl[0] == pytest.approx(-(99 * 10 * 0.01) * 2)
    m = performance(result, _minutes(["2024-01-02"], 5))
    assert m["win_rate"] == 0.0 and m["profit_factor"] == 0.0
    assert profit_factor(np.array([3.0, -1.0, -2.0, 1.0])) == pytest.approx(4 / 3)
