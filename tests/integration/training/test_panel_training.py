"""Panel training: several symbols stacked, one time cut for all, no test row in training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockdb.errors import InvalidInput
from stockdb.testing.feature_frames import MemorySource, feature_frame, session_minutes
from stockdb.training.panel import build_panel, split_panel
from stockdb.training.service import TrainingService, TrainRequest, WalkForward


def _panel_source() -> MemorySource:
    """Three symbols over six sessions; CCC starts a session late and misses some minutes."""
    ts = session_minutes(6)
    frames = {s: feature_frame(ts, seed=10 + i) for i, s in enumerate(("AAA", "BBB"))}
    ccc = feature_frame(ts, seed=12).iloc[390:]
    frames["CCC"] = ccc[ccc.index % 7 != 0].reset_index(drop=True)
    return MemorySource(frames)


def test_panel_stacks_every_symbol_with_labels_from_its_own_rows() -> None:
    source = _panel_source()
    panel = build_panel(source, ["aaa", "BBB", "CCC"], None, "return", 3)
    assert panel.symbols == ("AAA", "BBB", "CCC")
    for symbol, frame in source.frames.items():
        rows = panel.symbol == symbol
        assert rows.sum() == len(frame) - 3
        # reference: the plain per-symbol forward return, matched by timestamp
        close = frame["close"].to_numpy()
        expected = pd.Series(close[3:] / close[:-3] - 1.0, index=frame["ts"].iloc[:-3].to_numpy())
        got = pd.Series(panel.y[rows], index=panel.ts[rows].to_numpy())
        pd.testing.assert_series_equal(got, expected, check_names=False, check_index_type=False)
    assert panel.ts.is_monotonic_increasing
    assert not any(f.startswith("symbol_is_") for f in panel.features)


def test_symbol_feature_adds_one_indicator_per_symbol() -> None:
    panel = build_panel(
        _panel_source(), ["AAA", "BBB", "CCC"], ["logret_1", "symbol"], "direction", 1
    )
    assert panel.features == ("logret_1", "symbol_is_AAA", "symbol_is_BBB", "symbol_is_CCC")
    for symbol in panel.symbols:
        own = panel.x[f"symbol_is_{symbol}"].to_numpy()
        np.testing.assert_array_equal(own, (panel.symbol == symbol).astype(float))


@pytest.mark.parametrize("horizon", [1, 15])
def test_one_cut_for_all_symbols_and_no_test_bar_in_training(horizon: int) -> None:
    panel = build_panel(_panel_source(), ["AAA", "BBB", "CCC"], None, "direction", horizon)
    split = split_panel(panel, 0.6, 0.2)
    ts, ends = panel.ts.to_numpy(), panel.label_end.to_numpy()
    test_start = ts[split.test].min()
    assert (ends[split.train] < panel.ts[split.validation].min()).all()
    assert (ends[split.train] < test_start).all() and (ends[split.validation] < test_start).all()
    for symbol in panel.symbols:  # the same cut instant for every symbol
        own = panel.symbol == symbol
        assert ts[split.test & own].min() == pd.Timestamp(split.test_from)
        assert (ts[own & ~split.test] < pd.Timestamp(split.test_from)).all()


def test_panel_model_does_not_see_the_test_window(settings, state) -> None:
    """Scrambling every bar of the test window leaves the fitted model unchanged."""
    source = _panel_source()
    request = TrainRequest(
        tickers=["AAA", "BBB", "CCC"], panel=True, features=["logret_*", "sma_5", "symbol"]
    )
    trainer = TrainingService(settings, state, source)
    first = trainer.train(request)
    test_from = pd.Timestamp(first.windows["test_from"])
    assert pd.Timestamp(first.windows["train"]["end"]) < test_from
    rng = np.random.default_rng(0)
    for frame in source.frames.values():
        late = frame["ts"] >= test_from
        for column in ("close", "logret_1", "logret_2", "sma_5"):
            frame.loc[late, column] = rng.normal(5.0, 3.0, int(late.sum())) ** 2
    second = trainer.train(request)
    a = trainer.registry.load(first.id).pipeline[-1]
    b = trainer.registry.load(second.id).pipeline[-1]
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert first.windows["train"] == second.windows["train"]
    assert first.metrics["train"] == second.metrics["train"]
    assert first.metrics["test"] != second.metrics["test"]
    assert set(first.metrics["test_by_symbol"]) == {"AAA", "BBB", "CCC"}
    assert first.windows["panel"] is True and first.tickers == ("AAA", "BBB", "CCC")


def test_panel_refusals(settings, state) -> None:
    trainer = TrainingService(settings, state, _panel_source())
    with pytest.raises(InvalidInput, match="at least two"):
        trainer.train(TrainRequest(tickers=["AAA"], panel=True))
    with pytest.raises(InvalidInput, match="walk-forward"):
        trainer.train(TrainRequest(tickers=["AAA", "BBB"], panel=True, walk_forward=WalkForward()))


def test_per_symbol_test_metrics_equal_scoring_each_symbol_alone(settings, state) -> None:
    from stockdb.training.models import score

    source = _panel_source()
    trainer = TrainingService(settings, state, source)
    record = trainer.train(TrainRequest(tickers=["AAA", "BBB", "CCC"], panel=True))
    pipeline = trainer.registry.load(record.id).pipeline
    panel = build_panel(source, ["AAA", "BBB", "CCC"], None, "direction", 1)
    split = split_panel(panel)
    y = panel.y.astype(np.int64)
    assert record.metrics["test"] == score(
        pipeline, "classification", panel.x[split.test], y[split.test]
    )
    for symbol in panel.symbols:
        rows = split.test & (panel.symbol == symbol)
        want = score(pipeline, "classification", panel.x[rows], y[rows])
        assert record.metrics["test_by_symbol"][symbol] == want
