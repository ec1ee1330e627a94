"""Training end to end on a real SQLite state store and model folder under tmp_path."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from stockdb.errors import Conflict, DataIntegrityError, InvalidInput, NotFound
from stockdb.state import tables
from stockdb.training.dataset import build_dataset
from stockdb.training.service import TrainRequest, WalkForward
from stockdb.training.splits import split_by_fractions
from stockdb.training.targets import label, select_features

FAST = {
    "random_forest": {"n_estimators": 8, "max_depth": 4},
    "hist_gradient_boosting": {"max_iter": 15},
}


def test_train_registers_artifact_and_row(trainer, state) -> None:
    calls: list[tuple[int, int, str]] = []
    record = trainer.train(
        TrainRequest(tickers=["AAA", "SPY"], features=["logret_*", "sma_5", "*_SPY"]),
        progress=lambda done, total, msg: calls.append((done, total, msg)),
    )
    assert record.tickers == ("AAA", "SPY") and record.kind == "logistic_regression"
    assert "close_SPY" in record.features and "logret_1" in record.features
    assert "close" not in record.features
    assert record.feature_set_hash == "fs-1"
    path = Path(record.path)
    assert path.name == f"{record.id}.joblib" and path.parent == trainer.settings.models_dir
    assert hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256
    assert set(record.library_versions) >= {"sklearn", "numpy", "pandas", "python"}
    assert {"accuracy", "precision", "recall", "f1", "roc_auc"} <= set(record.metrics["test"])
    assert record.metrics["dataset"]["dropped_by_context"] == {"SPY": 0}
    assert record.class_balance is not None
    assert record.class_balance["up"] + record.class_balance["down"] == pytest.approx(1.0)
    train, test = record.windows["train"], record.windows["test"]
    assert train["rows"] == int(0.7 * (5 * 390 - 1)) and record.windows["gap_bars"] == 1
    assert pd.Timestamp(train["end"]) < pd.Timestamp(test["start"])
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1]
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    with state.engine.connect() as conn:
        row = conn.execute(select(tables.models)).mappings().one()
    assert row["id"] == record.id and row["sha256"] == record.sha256
    assert trainer.get(record.id) == record
    assert [m.id for m in trainer.list()] == [record.id]


@pytest.mark.parametrize(
    ("model", "target", "metric"),
    [
        ("random_forest", "direction", "roc_auc"),
        ("hist_gradient_boosting", "direction", "f1"),
        ("random_forest", "return", "rmse"),
        ("hist_gradient_boosting", "return", "r2"),
        ("ridge", "return", "directional_accuracy"),
    ],
)
def test_every_model_kind_trains(trainer, model: str, target: str, metric: str) -> None:
    record = trainer.train(
        TrainRequest(tickers=["AAA"], model=model, target=target, horizon=3, params=FAST.get(model))
    )
    assert record.task == ("classification" if target == "direction" else "regression")
    assert metric in record.metrics["test"] and metric in record.metrics["validation"]
    loaded = trainer.registry.load(record.id)
    assert [name for name, _ in loaded.pipeline.steps] == ["imputer", "scaler", "model"]


def _fitted(trainer, request: TrainRequest):
    record = trainer.train(request)
    return record, trainer.registry.load(record.id).pipeline


def test_imputer_scaler_and_model_ignore_rows_after_the_training_window(trainer, source) -> None:
    request = TrainRequest(tickers=["AAA", "SPY"], horizon=5)
    record, before = _fitted(trainer, request)
    train_end = pd.Timestamp(record.windows["train"]["end"])
    for symbol in ("AAA", "SPY"):
        frame = source.frames[symbol].copy()
        later = frame["ts"] > train_end
        rng = np.random.default_rng(7)
        for col in [c for c in frame.columns if c not in ("ts", "volume", "trade_count")]:
            frame.loc[later, col] = rng.uniform(1.0, 1e4, int(later.sum()))
        frame.loc[later & (frame.index % 3 == 0), "sma_5"] = np.nan
        source.frames[symbol] = frame
    _, after = _fitted(trainer, request)
    for step, attrs in (
        ("imputer", ["statistics_"]),
        ("scaler", ["mean_", "scale_", "var_"]),
        ("model", ["coef_", "intercept_"]),
    ):
        for attr in attrs:
            np.testing.assert_array_equal(
                getattr(before.named_steps[step], attr), getattr(after.named_steps[step], attr)
            )


def test_training_rows_do_not_depend_on_later_rows(source) -> None:
    def training_rows():
        ds = build_dataset(source, ["AAA", "SPY"])
        data = label(ds.frame, select_features(ds.frame, None), "return", 4)
        split = split_by_fractions(len(data.y), 0.6, 0.2, gap=4)
        rows = split.train.as_slice()
        return data.x.iloc[rows], data.y[rows], ds.frame["ts"].iloc[split.train.stop - 1 + 4]

    x0, y0, last_bar = training_rows()
    for symbol in ("AAA", "SPY"):
        frame = source.frames[symbol]
        later = frame["ts"] > last_bar
        source.frames[symbol] = frame.assign(
            close=np.where(later, frame["close"] * 3.0, frame["close"]),
            logret_1=np.where(later, 9.0, frame["logret_1"]),
        )
    x1, y1, _ = training_rows()
    pd.testing.assert_frame_equal(x0, x1)
    np.testing.assert_array_equal(y0, y1)


def test_date_split_and_walk_forward(trainer) -> None:
    dated = trainer.train(
        TrainRequest(
            tickers=["AAA"],
            train_end=date(2024, 1, 4),
            validation_end=date(2024, 1, 5),
            features=["logret_1", "vol_20"],
        )
    )
    assert dated.windows["split"] == "dates"
    assert dated.windows["train"]["rows"] == 3 * 390
    assert dated.windows["validation"]["rows"] == 390 - 1
    assert pd.Timestamp(dated.windows["test"]["start"]).date() == date(2024, 1, 8)
    wf = trainer.train(
        TrainRequest(
            tickers=["AAA"], horizon=2, walk_forward=WalkForward(n_splits=3, mode="expanding")
        )
    )
    assert len(wf.metrics["folds"]) == 3 and len(wf.windows["folds"]) == 3
    assert set(wf.metrics["walk_forward_mean"]) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
    }
    assert wf.windows["train"]["start"] == wf.windows["folds"][-1]["train"]["start"]
    rolling = trainer.train(
        TrainRequest(
            tickers=["AAA"], walk_forward=WalkForward(n_splits=2, mode="rolling", train_size=500)
        )
    )
    assert all(f["train"]["rows"] == 500 for f in rolling.windows["folds"])


@pytest.mark.parametrize(
    ("request_", "error", "message"),
    [
        (TrainRequest(tickers=["AAA"], features=["nope"]), InvalidInput, "unknown feature"),
        (TrainRequest(tickers=["AAA"], model="svm"), InvalidInput, "unknown model"),
        (TrainRequest(tickers=["AAA"], model="ridge"), InvalidInput, "cannot learn"),
        (TrainRequest(tickers=["AAA"], params={"bogus": 1}), InvalidInput, "bogus"),
        (TrainRequest(tickers=["AAA"], horizon=0), InvalidInput, "horizon"),
        (TrainRequest(tickers=["AAA", "QQQ"]), NotFound, "QQQ"),
        (
            TrainRequest(tickers=["AAA"], validation_end=date(2024, 1, 3)),
            InvalidInput,
            "train_end",
        ),
    ],
)
def test_bad_requests_change_nothing(trainer, request_, error, message: str) -> None:
    with pytest.raises(error, match=message):
        trainer.train(request_)
    assert trainer.list() == []
    assert not trainer.settings.models_dir.exists() or not any(
        trainer.settings.models_dir.iterdir()
    )


def test_one_class_training_window_is_refused(trainer, source) -> None:
    frame = source.frames["AAA"]
    source.frames["AAA"] = frame.assign(close=np.linspace(10.0, 20.0, len(frame)))
    with pytest.raises(InvalidInput, match="one class"):
        trainer.train(TrainRequest(tickers=["AAA"]))


def test_registry_refuses_tampered_artifacts_and_other_feature_sets(trainer, state) -> None:
    record = trainer.train(TrainRequest(tickers=["AAA"]))
    with pytest.raises(Conflict, match="feature set fs-1"):
        trainer.registry.load(record.id, feature_set_hash="fs-2")
    path = Path(record.path)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(DataIntegrityError, match="sha256"):
        trainer.registry.load(record.id)
    path.unlink()
    with pytest.raises(DataIntegrityError, match="missing"):
        trainer.registry.load(record.id)
    with pytest.raises(InvalidInput):
        trainer.get("../etc/passwd")
    with pytest.raises(NotFound):
        trainer.get("no-such-model")


def test_delete_removes_row_and_artifact(trainer) -> None:
    record = trainer.train(TrainRequest(tickers=["AAA"]))
    trainer.delete(record.id)
    assert not Path(record.path).exists() and trainer.list() == []
    with pytest.raises(NotFound):
        trainer.delete(record.id)
