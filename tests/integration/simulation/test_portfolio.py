"""A panel model simulated on several symbols and their equal-weight portfolio."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from stockdb.errors import InvalidInput
from stockdb.simulation.portfolio import combine_equal_weight, simulate_portfolio
from stockdb.simulation.service import SimulationRequest, SimulationService
from stockdb.testing.feature_frames import MemorySource, feature_frame, session_minutes
from stockdb.training.service import TrainingService, TrainRequest


@pytest.fixture
def panel_source() -> MemorySource:
    ts = session_minutes(8)
    frames = {s: feature_frame(ts, seed=20 + i) for i, s in enumerate(("AAA", "BBB"))}
    late = feature_frame(ts, seed=22)
    frames["CCC"] = late[late.index % 5 != 0].reset_index(drop=True)  # its own stamps
    return MemorySource(frames)


def _loop_sum(curves: dict[str, pd.Series], initial: float) -> pd.Series:
    """Reference: walk the union of stamps in order, keep each account's last value."""
    stamps = sorted({t for c in curves.values() for t in c.index})
    last = dict.fromkeys(curves, initial)
    out = []
    for t in stamps:
        for name, curve in curves.items():
            if t in curve.index:
                last[name] = float(curve[t])
        out.append(sum(last.values()))
    return pd.Series(out, index=pd.DatetimeIndex(stamps))


def test_panel_model_portfolio_matches_a_plain_loop(settings, state, panel_source) -> None:
    trainer = TrainingService(settings, state, panel_source)
    model = trainer.train(
        TrainRequest(
            tickers=["AAA", "BBB", "CCC"], panel=True, features=["logret_*", "sma_5", "symbol"]
        )
    )
    service = SimulationService(settings, state, panel_source, trainer.registry)
    request = SimulationRequest(model_id=model.id, cash=30_000.0, fee_bps=1.0)
    result = simulate_portfolio(service, request, ["AAA", "BBB", "CCC"])
    assert [r.symbol for r in result.runs] == ["AAA", "BBB", "CCC"]
    curves, benches = {}, {}
    for run in result.runs:
        assert run.params["cash"] == pytest.approx(10_000.0)
        assert run.params["tickers"] == [run.symbol]  # no context join for a panel model
        frame = pq.read_table(run.equity_path).to_pandas()
        index = pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True))
        curves[run.symbol] = pd.Series(frame["equity"].to_numpy(), index=index)
        benches[run.symbol] = pd.Series(frame["benchmark_equity"].to_numpy(), index=index)
        # each symbol's run starts after the panel's training window
        assert index[0] > pd.Timestamp(model.windows["train"]["end"])
    expected = _loop_sum(curves, 10_000.0)
    np.testing.assert_allclose(result.equity, expected.to_numpy(), rtol=1e-12)
    assert (result.ts == expected.index).all()
    bench = _loop_sum(benches, 10_000.0)
    np.testing.assert_allclose(result.benchmark_equity, bench.to_numpy(), rtol=1e-12)
    assert result.metrics["total_return"] == pytest.approx(expected.iloc[-1] / 30_000.0 - 1.0)
    assert result.benchmark_metrics["total_return"] == pytest.approx(bench.iloc[-1] / 30_000 - 1)
    # the per-symbol runs use the panel model's symbol indicator: AAA alone gives the same
    alone = service.simulate(
        SimulationRequest(model_id=model.id, symbol="AAA", cash=10_000.0, fee_bps=1.0)
    )
    assert alone.metrics == result.runs[0].metrics


def test_combine_refuses_nothing_and_keeps_cash_before_first_bar() -> None:
    with pytest.raises(InvalidInput):
        combine_equal_weight([], 1.0)
    a = pd.Series(
        [1.0, 2.0], index=pd.to_datetime(["2024-01-02 15:00", "2024-01-02 15:02"], utc=True)
    )
    b = pd.Series([5.0], index=pd.to_datetime(["2024-01-02 15:01"], utc=True))
    ts, total = combine_equal_weight([a, b], 3.0)
    assert list(total) == [1.0 + 3.0, 1.0 + 5.0, 2.0 + 5.0] and len(ts) == 3
