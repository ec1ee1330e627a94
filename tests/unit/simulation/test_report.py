"""Tearsheet series against empyrical and plain loops, and the page's contents."""

from __future__ import annotations

import re
from datetime import date

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockdb.simulation.engine import buy_and_hold, simulate
from stockdb.simulation.metrics import daily_returns, performance
from stockdb.simulation.report import (
    MAX_TRADE_ROWS,
    ReportInput,
    monthly_returns,
    rolling_sharpe,
    tearsheet,
    thin_indices,
)


def _daily(n: int, seed: int = 3) -> pd.Series:
    days = pd.bdate_range("2023-11-20", periods=n)
    r = np.random.default_rng(seed).normal(0.0005, 0.01, n)
    return pd.Series(r, index=pd.Index([d.date() for d in days]))


def test_monthly_returns_compound_like_empyrical() -> None:
    daily = _daily(130)
    table = monthly_returns(daily)
    ref = empyrical.aggregate_returns(
        pd.Series(daily.to_numpy(), index=pd.to_datetime([str(d) for d in daily.index])),
        "monthly",
    )
    assert list(table.columns) == list(range(1, 13))
    for (year, month), value in ref.items():
        assert table.loc[year, month] == pytest.approx(value, rel=1e-12)
    assert table.notna().sum().sum() == len(ref)
    assert np.isnan(table.loc[2023, 1])  # no session in January 2023


def test_rolling_sharpe_equals_empyrical() -> None:
    daily = _daily(90)
    ours = rolling_sharpe(daily, 20)
    ref = empyrical.roll_sharpe_ratio(daily.reset_index(drop=True), window=20)
    np.testing.assert_allclose(ours.to_numpy()[19:], np.asarray(ref)[-71:], rtol=1e-9)
    assert ours.iloc[:19].isna().all()
    with pytest.raises(ValueError, match="window"):
        rolling_sharpe(daily, 1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=400),
    st.integers(3, 60),
)
def test_thinning_keeps_extremes_and_the_last_point(values: list[float], cap: int) -> None:
    arr = np.array(values)
    keep = thin_indices(arr, cap)
    assert np.all(np.diff(keep) > 0) and keep[-1] == arr.size - 1
    assert arr[keep].min() == arr.min() and arr[keep].max() == arr.max()
    assert keep.size <= max(arr.size if arr.size <= cap else 0, cap + 1)


def _input(n_sessions: int = 45) -> ReportInput:
    days = pd.bdate_range("2024-01-29", periods=n_sessions)
    ts = pd.Series(
        pd.DatetimeIndex(
            np.concatenate(
                [
                    pd.date_range(f"{d:%Y-%m-%d} 14:30", periods=30, freq="1min", tz="UTC")
                    for d in days
                ]
            ),
            tz="UTC",
        )
    )
    rng = np.random.default_rng(5)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.003, ts.size)))
    signal = rng.choice(np.array([-1, 1], dtype=np.int8), ts.size, p=[0.02, 0.98])
    result = simulate(close, signal, cash=1000.0, fee_bps=1.0)
    bench = buy_and_hold(close, 1000.0, 1.0)
    curve = pd.DataFrame(
        {"ts": ts, "equity": result.equity, "benchmark_equity": bench.equity, "close": close}
    )
    t = result.trades
    trades = pd.DataFrame(
        {
            "ts": ts.iloc[t.index].reset_index(drop=True),
            "side": np.where(t.side == 1, "buy", "sell"),
            "price": t.price,
            "shares": t.shares,
            "fee": t.fee,
            "cash_after": t.cash_after,
        }
    )
    return ReportInput(
        simulation_id="sim-1",
        model_id="m<1>",
        symbol="AAA",
        created_at="2024-04-01T00:00:00+00:00",
        params={
            "tickers": ["AAA", "SPY"],
            "first_ts": ts.iloc[0].isoformat(),
            "last_ts": ts.iloc[-1].isoformat(),
            "fill": "next_open",
            "fee_bps": 1.0,
            "slippage_bps": 0.5,
            "cash": 1000.0,
            "in_sample": False,
            "out_of_sample_from": "2024-01-29",
        },
        metrics=performance(result, ts),
        benchmark_metrics=performance(bench, ts),
        warnings=["the simulated window overlaps the model's training window"],
        stale=True,
        model={"kind": "ridge", "task": "regression", "features": ["a", "b"], "windows": {}},
        curve=curve,
        trades=trades,
    )


def test_tearsheet_holds_every_section_inline() -> None:
    data = _input()
    page = tearsheet(data)
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>")
    assert "<script src" not in page and "cdn.plot.ly" not in page.split("</head>")[1]
    assert len(page) > 3_000_000  # plotly.js itself is inline
    assert page.count('class="plotly-graph-div"') == 4
    for needle in (
        "Equity vs buy-and-hold",
        "Drawdown over every bar",
        "Monthly returns of the strategy",
        "Rolling Sharpe (22 sessions",
        "m&lt;1&gt; on AAA",  # escaped
        "ridge",
        "next_open",
        "fee 1.0 bps, slippage 0.5 bps",
        "out of sample from 2024-01-29",
        "overlaps the model",
        "stale",
        "sharpe",
        "profit_factor",
        f"{len(data.trades):,} fills.",
    ):
        assert needle in page, needle
    daily = daily_returns(data.curve["ts"], data.curve["equity"].to_numpy(), 1000.0)
    assert len(daily) == 45 and data.metrics["sessions"] == 45
    row = re.search(r"<td>sharpe</td><td>([^<]+)</td>", page)
    assert row is not None and float(row.group(1)) == pytest.approx(
        data.metrics["sharpe"], abs=1e-4
    )


def test_long_trade_lists_are_capped_and_said_so() -> None:
    data = _input()
    many = pd.concat([data.trades] * (MAX_TRADE_ROWS // len(data.trades) + 2), ignore_index=True)
    page = tearsheet(
        ReportInput(**{**data.__dict__, "trades": many, "model": None, "warnings": []})
    )
    assert f"The last {MAX_TRADE_ROWS:,} of {len(many):,} fills" in page
    assert page.count("<td>buy</td>") + page.count("<td>sell</td>") == MAX_TRADE_ROWS
    assert "deleted" in page and date(2024, 1, 29).isoformat() in page
