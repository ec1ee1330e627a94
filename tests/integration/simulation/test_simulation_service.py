"""Train, then simulate, on a real SQLite state store with results written as Parquet."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from stockdb.errors import Conflict, DataIntegrityError, InvalidInput, NotFound
from stockdb.simulation.engine import buy_and_hold, simulate
from stockdb.simulation.service import SimulationRequest
from stockdb.state import tables
from stockdb.training.service import TrainRequest

EQUITY_COLUMNS = [
    "ts",
    "close",
    "prediction",
    "signal",
    "shares",
    "cash",
    "equity",
    "benchmark_equity",
]


def _train(trainer, **kwargs):
    request = TrainRequest(
        tickers=["AAA", "SPY"],
        train_end=date(2024, 1, 3),
        validation_end=date(2024, 1, 4),
        **kwargs,
    )
    return trainer.train(request)


def test_train_then_simulate_round_trip(trainer, simulator, source, state) -> None:
    model = _train(trainer)
    calls: list[int] = []
    request = SimulationRequest(
        model_id=model.id, start=date(2024, 1, 5), end=date(2024, 1, 8), fee_bps=1.0
    )
    result = simulator.simulate(request, progress=lambda done, total, msg: calls.append(done))
    assert calls == [0, 1, 2, 3, 4, 5]
    assert result.symbol == "AAA" and not result.overlaps_training and result.warnings == ()
    equity = pq.read_table(result.equity_path).to_pandas()
    trades = pq.read_table(result.trades_path).to_pandas()
    assert list(equity.columns) == EQUITY_COLUMNS
    assert list(trades.columns) == ["ts", "side", "price", "shares", "fee", "cash_after"]
    assert Path(result.equity_path).parent == simulator.settings.simulations_dir / result.id
    assert len(equity) == 2 * 390 and str(equity["ts"].dt.tz) == "UTC"
    # The stored curve is the engine's on the stored signals, and the model's own predictions.
    frame = source.frames["AAA"]
    period = frame[frame["ts"].dt.date.between(date(2024, 1, 5), date(2024, 1, 8))]
    np.testing.assert_array_equal(equity["close"], period["close"])
    replay = simulate(period["close"].to_numpy(), equity["signal"].to_numpy(), fee_bps=1.0)
    np.testing.assert_array_equal(equity["equity"], replay.equity)
    np.testing.assert_array_equal(equity["shares"], replay.shares)
    np.testing.assert_array_equal(
        equity["benchmark_equity"], buy_and_hold(period["close"].to_numpy(), fee_bps=1.0).equity
    )
    pipeline = trainer.registry.load(model.id).pipeline
    ctx = source.frames["SPY"].set_index("ts").add_suffix("_SPY")
    x = period.set_index("ts").join(ctx, how="inner")[list(model.features)]
    np.testing.assert_array_equal(equity["prediction"], pipeline.predict(x))
    np.testing.assert_array_equal(equity["signal"], np.where(equity["prediction"] == 1, 1, -1))
    assert len(trades) == len(replay.trades) and set(trades["side"]) <= {"buy", "sell"}
    assert result.metrics["final_equity"] == pytest.approx(replay.equity[-1])
    assert result.metrics["sessions"] == 2 and result.metrics["bars"] == 2 * 390
    assert result.benchmark_metrics["trades"] == 1
    assert result.params["fee_bps"] == 1.0 and result.params["tickers"] == ["AAA", "SPY"]
    assert simulator.get(result.id) == result
    assert [s.id for s in simulator.list()] == [result.id]
    assert simulator.list(model_id="other") == []
    with state.engine.connect() as conn:
        row = conn.execute(select(tables.simulations)).mappings().one()
    assert row["model_id"] == model.id and not row["overlaps_training"]


def test_default_period_is_out_of_sample(trainer, simulator, source) -> None:
    model = _train(trainer, horizon=30)
    train_end = pd.Timestamp(model.windows["train"]["end"])
    # The training rows end on 01-03 but their 30-bar labels read into 01-04's first bars.
    assert train_end.tz_convert("America/New_York").date() == date(2024, 1, 4)
    result = simulator.simulate(SimulationRequest(model_id=model.id))
    assert not result.overlaps_training and result.warnings == ()
    assert result.params["out_of_sample_from"] == "2024-01-05" == result.params["start"]
    frame = source.frames["AAA"]
    first = frame[frame["ts"] > train_end]["ts"]
    assert pd.Timestamp(result.params["first_ts"]) > train_end
    assert pd.Timestamp(result.params["first_ts"]).date() == date(2024, 1, 5)
    assert pd.Timestamp(result.params["last_ts"]) == first.iloc[-1]  # the last stored bar
    assert result.params["in_sample"] is False


def test_overlap_needs_in_sample_and_then_warns(trainer, simulator, caplog) -> None:
    model = _train(trainer)
    with pytest.raises(InvalidInput, match="overlaps .* --in-sample"):
        simulator.simulate(SimulationRequest(model_id=model.id, start=date(2024, 1, 3)))
    with pytest.raises(InvalidInput, match="--in-sample"):
        simulator.preflight(SimulationRequest(model_id=model.id, start=date(2024, 1, 2)))
    assert simulator.list() == []
    with caplog.at_level(logging.WARNING, logger="stockdb.simulation.service"):
        result = simulator.simulate(SimulationRequest(model_id=model.id, in_sample=True))
    assert result.overlaps_training and result.warnings
    assert result.params["in_sample"] is True and result.params["start"] is None
    assert pd.Timestamp(result.params["first_ts"]).date() == date(2024, 1, 2)
    assert any("overlaps" in r.getMessage() for r in caplog.records)
    assert simulator.get(result.id).overlaps_training and simulator.get(result.id).warnings


def test_nothing_out_of_sample_left_is_refused(trainer, simulator, source) -> None:
    model = _train(trainer)
    with pytest.raises(InvalidInput, match="nothing out of sample is left"):
        simulator.preflight(SimulationRequest(model_id=model.id, end=date(2024, 1, 3)))
    for symbol, frame in source.frames.items():
        source.frames[symbol] = frame[frame["ts"].dt.date <= date(2024, 1, 4)]
    with pytest.raises(InvalidInput, match="nothing out of sample is left") as info:
        simulator.simulate(SimulationRequest(model_id=model.id))
    assert "\n" not in str(info.value)
    assert simulator.list() == []
    assert simulator.simulate(SimulationRequest(model_id=model.id, in_sample=True)).warnings


def test_regressor_next_open_on_another_symbol(trainer, simulator, source) -> None:
    model = _train(trainer, model="ridge", target="return")
    result = simulator.simulate(
        SimulationRequest(
            model_id=model.id,
            symbol="bbb",
            start=date(2024, 1, 5),
            fill="next_open",
            slippage_bps=2.0,
            cash=5000.0,
        )
    )
    assert result.symbol == "BBB" and result.params["tickers"] == ["BBB", "SPY"]
    equity = pq.read_table(result.equity_path).to_pandas()
    np.testing.assert_array_equal(equity["signal"], np.where(equity["prediction"] > 0, 1, -1))
    frame = source.frames["BBB"]
    period = frame[frame["ts"].dt.date >= date(2024, 1, 5)]
    replay = simulate(
        period["close"].to_numpy(),
        equity["signal"].to_numpy(),
        period["open"].to_numpy(),
        5000.0,
        "next_open",
        0.0,
        2.0,
    )
    np.testing.assert_array_equal(equity["equity"], replay.equity)
    with pytest.raises(InvalidInput, match="context"):
        simulator.simulate(SimulationRequest(model_id=model.id, symbol="SPY"))


def test_other_feature_set_is_refused(trainer, simulator, source) -> None:
    model = _train(trainer)
    source.hashes = dict.fromkeys(source.hashes, "fs-2")
    with pytest.raises(Conflict, match="feature set"):
        simulator.simulate(SimulationRequest(model_id=model.id))
    assert simulator.list() == []


def test_tampered_artifact_is_refused(trainer, simulator) -> None:
    model = _train(trainer)
    path = Path(model.path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataIntegrityError, match="sha256"):
        simulator.simulate(SimulationRequest(model_id=model.id))
    assert simulator.list() == []
    assert not simulator.settings.simulations_dir.exists() or not any(
        simulator.settings.simulations_dir.iterdir()
    )


def test_bad_requests_and_stale_after_model_delete(trainer, simulator) -> None:
    with pytest.raises(NotFound):
        simulator.simulate(SimulationRequest(model_id="missing-model"))
    with pytest.raises(InvalidInput):
        simulator.simulate(SimulationRequest(model_id="../x"))
    model = _train(trainer)
    with pytest.raises(InvalidInput, match="fill"):
        simulator.simulate(SimulationRequest(model_id=model.id, fill="vwap"))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="after"):
        simulator.simulate(
            SimulationRequest(model_id=model.id, start=date(2024, 2, 1), end=date(2024, 1, 1))
        )
    with pytest.raises(NotFound):
        simulator.simulate(SimulationRequest(model_id=model.id, start=date(2025, 1, 1)))
    with pytest.raises(NotFound):
        simulator.get("nope")
    result = simulator.simulate(SimulationRequest(model_id=model.id, start=date(2024, 1, 5)))
    trainer.delete(model.id)
    assert simulator.get(result.id).stale
    assert pd.Timestamp(result.params["first_ts"]).date() == date(2024, 1, 5)
