"""Every stored figure of a simulation equals empyrical's on the stored equity curve."""

from __future__ import annotations

from datetime import date
from typing import Any

import empyrical
import pandas as pd
import pyarrow.parquet as pq
import pytest

from stockdb.simulation.service import SimulationRequest
from stockdb.training.service import TrainRequest


def _daily(curve: pd.DataFrame, column: str, cash: float) -> pd.Series:
    """Session returns from the stored curve: the last bar of each New York date."""
    local = curve["ts"].dt.tz_convert("America/New_York")
    daily = curve.groupby(local.dt.date)[column].last()
    returns = daily.pct_change()
    returns.iloc[0] = daily.iloc[0] / cash - 1.0
    return returns


def _check(stored: dict[str, Any], curve: pd.DataFrame, column: str, cash: float) -> None:
    r = _daily(curve, column, cash)
    assert stored["sessions"] == len(r) >= 2
    assert stored["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r), rel=1e-9)
    assert stored["volatility"] == pytest.approx(empyrical.annual_volatility(r), rel=1e-9)
    assert stored["cagr"] == pytest.approx(empyrical.annual_return(r), rel=1e-9)
    sortino = empyrical.sortino_ratio(r)
    assert stored["sortino"] == (pytest.approx(sortino, rel=1e-9) if abs(sortino) < 1e300 else None)
    calmar = empyrical.calmar_ratio(r)
    assert stored["calmar"] == (pytest.approx(calmar, rel=1e-9) if calmar == calmar else None)
    bars = pd.concat([pd.Series([cash]), curve[column]], ignore_index=True).pct_change().dropna()
    assert stored["max_drawdown"] == pytest.approx(empyrical.max_drawdown(bars), abs=1e-12)
    assert stored["total_return"] == pytest.approx(empyrical.cum_returns_final(bars), rel=1e-9)
    assert stored["final_equity"] == pytest.approx(curve[column].iloc[-1])


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_stored_figures_equal_empyrical(trainer, simulator, fill: str) -> None:
    model = trainer.train(
        TrainRequest(tickers=["AAA", "SPY"], train_end=date(2024, 1, 2), validation_end=None)
    )
    result = simulator.simulate(
        SimulationRequest(model_id=model.id, start=date(2024, 1, 4), fee_bps=2.0, fill=fill)
    )
    curve = pq.read_table(result.equity_path).to_pandas()
    _check(result.metrics, curve, "equity", 10_000.0)
    _check(result.benchmark_metrics, curve, "benchmark_equity", 10_000.0)
    assert result.metrics["sessions"] == 3 and result.benchmark_metrics["trades"] == 1
