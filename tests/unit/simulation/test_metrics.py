"""Backtest statistics against hand-worked figures and brute-force definitions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockdb.errors import InvalidInput
from stockdb.simulation.engine import simulate
from stockdb.simulation.metrics import (
    annualisation,
    infer_annualisation,
    max_drawdown,
    performance,
    round_trip_pnl,
)


def brute_drawdown(curve: list[float]) -> tuple[float, int]:
    worst, longest = 0.0, 0
    for j in range(len(curve)):
        peak = max(curve[: j + 1])
        worst = min(worst, curve[j] / peak - 1)
    run = 0
    for j in range(len(curve)):
        run = run + 1 if curve[j] < max(curve[: j + 1]) else 0
        longest = max(longest, run)
    return worst, longest


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(1.0, 1e6), min_size=1, max_size=50))
def test_max_drawdown_matches_brute_force(curve: list[float]) -> None:
    depth, bars = max_drawdown(np.array(curve))
    ref_depth, ref_bars = brute_drawdown(curve)
    assert depth == pytest.approx(ref_depth, abs=1e-12) and bars == ref_bars


def test_performance_by_hand() -> None:
    close = np.array([10.0, 11.0, 9.9, 12.1, 12.1])
    signal = np.array([1, 0, 0, -1, 0], dtype=np.int8)
    result = simulate(close, signal, cash=100.0)
    factor = annualisation(1.0, 390)
    m = performance(result, factor)
    returns = np.array([0.0, 0.1, -0.1, 121 / 99 - 1, 0.0])
    assert factor.bars_per_year == 252 * 390 == m["annualisation"]["bars_per_year"]
    assert m["total_return"] == pytest.approx(0.21)
    assert m["final_equity"] == pytest.approx(121.0)
    assert m["volatility"] == pytest.approx(np.std(returns, ddof=1) * math.sqrt(98_280))
    sharpe = returns.mean() / np.std(returns, ddof=1) * math.sqrt(98_280)
    assert m["sharpe"] == pytest.approx(sharpe)
    assert m["max_drawdown"] == pytest.approx(-0.1)
    assert m["max_drawdown_bars"] == 1
    assert m["trades"] == 2 and m["round_trips"] == 1 and m["win_rate"] == 1.0
    assert m["exposure"] == pytest.approx(3 / 5)
    years = 5 / 98_280
    assert m["cagr"] is None or m["cagr"] == pytest.approx(1.21 ** (1 / years) - 1)


def test_cagr_over_a_year_and_flat_curves() -> None:
    close = np.full(390 * 252, 10.0)
    close[-1] = 11.0
    hold = np.zeros(close.size, dtype=np.int8)
    hold[0] = 1
    m = performance(simulate(close, hold, cash=1000.0), annualisation(1.0, 390))
    assert m["cagr"] == pytest.approx(0.1)
    assert m["win_rate"] is None and m["round_trips"] == 0
    flat = performance(simulate(np.full(3, 10.0), np.zeros(3, np.int8)), annualisation())
    assert flat["sharpe"] is None and flat["volatility"] == 0.0 and flat["exposure"] == 0.0


def test_round_trips_include_fees() -> None:
    close = np.array([10.0, 10.0, 12.0, 12.0, 9.0])
    signal = np.array([1, -1, 1, -1, 1], dtype=np.int8)
    result = simulate(close, signal, cash=1000.0, fee_bps=100)
    pnl = round_trip_pnl(result.trades)
    assert pnl.size == 2
    assert pnl[0] == pytest.approx(-(99 * 10 * 0.01) * 2)
    assert performance(result, annualisation())["win_rate"] == 0.0


def test_annualisation_is_inferred_from_bar_size_and_session() -> None:
    regular = pd.Series(pd.date_range("2024-01-02 14:30", periods=390, freq="1min", tz="UTC"))
    assert infer_annualisation(regular).bars_per_year == 252 * 390
    five = pd.Series(pd.date_range("2024-01-02 14:30", periods=78, freq="5min", tz="UTC"))
    f = infer_annualisation(five)
    assert (f.bar_minutes, f.bars_per_session) == (5.0, 78.0)
    extended = pd.Series(pd.date_range("2024-01-02 09:00", periods=600, freq="1min", tz="UTC"))
    assert infer_annualisation(extended).bars_per_session == 960
    with pytest.raises(InvalidInput):
        annualisation(0.0, 390)
