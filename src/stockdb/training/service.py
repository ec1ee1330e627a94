"""Training facade: features -> labelled dataset -> time splits -> fitted pipeline -> registry."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from stockdb.config import Settings
from stockdb.errors import InvalidInput
from stockdb.state.store import StateStore
from stockdb.training.dataset import (
    JOIN_TIMEFRAMES,
    FeatureSource,
    build_dataset,
    timeframes_of,
)
from stockdb.training.models import ModelSpec, build_pipeline, class_balance, resolve_model, score
from stockdb.training.registry import ModelDraft, ModelRecord, ModelRegistry
from stockdb.training.splits import (
    Segment,
    Split,
    split_by_dates,
    split_by_fractions,
    walk_forward,
)
from stockdb.training.targets import TARGETS, LabelledData, label, select_features

__all__ = ["Progress", "TrainRequest", "TrainingService", "WalkForward"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class WalkForward:
    """Walk-forward evaluation: ``n_splits`` test blocks, expanding or rolling training."""

    n_splits: int = 5
    mode: Literal["expanding", "rolling"] = "expanding"
    test_size: int | None = None
    train_size: int | None = None


@dataclass(frozen=True)
class TrainRequest:
    """What to train: tickers (first is primary), model, target, features, period and split.

    The split is by ``train_end``/``validation_end`` dates when ``train_end`` is set, by
    ``walk_forward`` when given, else by fractions. ``params`` override the model's defaults.
    """

    tickers: Sequence[str]
    model: str = "logistic_regression"
    target: str = "direction"
    horizon: int = 1
    features: Sequence[str] | None = None
    params: Mapping[str, Any] | None = None
    start: date | None = None
    end: date | None = None
    train_fraction: float = 0.7
    validation_fraction: float = 0.15
    train_end: date | None = None
    validation_end: date | None = None
    walk_forward: WalkForward | None = None
    timeframes: Sequence[str] = ()
    panel: bool = False

    @property
    def joined_timeframes(self) -> tuple[str, ...]:
        """``timeframes`` plus those the requested feature names end in (``rsi_14_1Day``)."""
        named = timeframes_of(list(self.features or []))
        return tuple(tf for tf in JOIN_TIMEFRAMES if tf in {*self.timeframes, *named})

    def validate(self) -> ModelSpec:
        """The model spec this request asks for; raises InvalidInput for inconsistent fields."""
        if self.target not in TARGETS:
            raise InvalidInput(f"unknown target {self.target!r}; choose one of {TARGETS}")
        odd = [tf for tf in self.timeframes if tf not in JOIN_TIMEFRAMES]
        if odd:
            raise InvalidInput(
                f"cannot join features at {', '.join(odd)}: use {', '.join(JOIN_TIMEFRAMES)}"
            )
        if self.horizon < 1:
            raise InvalidInput(f"horizon must be at least 1 bar, not {self.horizon}")
        if self.train_end is not None and self.walk_forward is not None:
            raise InvalidInput("choose either date splits or walk-forward, not both")
        if self.validation_end is not None and self.train_end is None:
            raise InvalidInput("validation_end needs train_end")
        if self.panel and self.walk_forward is not None:
            raise InvalidInput("a panel model splits by one time cut; walk-forward is not offered")
        try:
            json.dumps(dict(self.params or {}), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"model parameters must be plain JSON values: {exc}") from exc
        return resolve_model(self.model, self.target)


def _window(ts: pd.Series, segment: Segment, horizon: int) -> dict[str, Any]:
    """First and last bar a segment's rows and labels read (labels reach ``horizon`` ahead)."""
    if segment.rows == 0:
        return {"start": None, "end": None, "rows": 0}
    last = min(segment.stop - 1 + horizon, len(ts) - 1)
    return {
        "start": ts.iloc[segment.start].isoformat(),
        "end": ts.iloc[last].isoformat(),
        "rows": segment.rows,
    }


def _labels(data: LabelledData, task: str) -> np.ndarray:
    return data.y.astype(np.int64) if task == "classification" else data.y


def _fit(pipeline: Pipeline, data: LabelledData, y: np.ndarray, segment: Segment) -> Pipeline:
    rows = segment.as_slice()
    y_train = y[rows]
    if y_train.dtype == np.int64 and len(np.unique(y_train)) < 2:
        raise InvalidInput(
            f"the training window ({segment.rows} rows) holds only one class; "
            "widen the period or change the horizon"
        )
    return pipeline.fit(data.x.iloc[rows], y_train)


def _mean_metrics(folds: list[dict[str, Any]]) -> dict[str, float | None]:
    keys = [k for k in folds[0] if k != "rows"]
    out: dict[str, float | None] = {}
    for key in keys:
        values = [f[key] for f in folds if f.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
    return out


class TrainingService:
    """Trains models on feature rows and keeps them in the registry."""

    def __init__(self, settings: Settings, state: StateStore, features: FeatureSource) -> None:
        self.settings = settings
        self.state = state
        self.features = features
        self.registry = ModelRegistry(settings.models_dir, state)

    def train(self, request: TrainRequest, progress: Progress | None = None) -> ModelRecord:
        """Fit the requested pipeline on the training window only, score it, register it.

        Raises InvalidInput for a bad request or unusable data, NotFound when a ticker has
        no feature rows, Conflict when tickers come from different feature sets, and
        StorageError when the artifact cannot be written.
        """
        spec = request.validate()
        report = progress or (lambda _done, _total, _message: None)
        if request.panel:
            from stockdb.training.panel_fit import train_panel

            return train_panel(self.registry, spec, request, self.features, report)
        folds = request.walk_forward.n_splits if request.walk_forward else 1
        total = 4 + folds
        report(0, total, "loading features")
        dataset = build_dataset(
            self.features,
            request.tickers,
            request.start,
            request.end,
            timeframes=request.joined_timeframes,
        )
        report(1, total, f"joined {dataset.rows} rows of {','.join(dataset.tickers)}")
        names = select_features(dataset.frame, request.features)
        data = label(dataset.frame, names, request.target, request.horizon)
        y = _labels(data, spec.task)
        ts = dataset.frame["ts"]
        gap = request.horizon
        report(2, total, f"labelled {len(y)} rows with {len(names)} features")
        metrics: dict[str, Any] = {
            "dataset": {
                "primary_rows": dataset.primary_rows,
                "joined_rows": dataset.rows,
                "labelled_rows": len(y),
                "dropped_by_context": dataset.dropped,
                "dropped_total": dataset.dropped_total,
            }
        }
        if request.walk_forward is not None:
            wf = request.walk_forward
            fold_list = walk_forward(len(y), wf.n_splits, wf.test_size, gap, wf.mode, wf.train_size)
            fold_metrics: list[dict[str, Any]] = []
            fold_windows: list[dict[str, Any]] = []
            for k, fold in enumerate(fold_list):
                pipeline = _fit(build_pipeline(spec, request.params), data, y, fold.train)
                rows = fold.test.as_slice()
                fold_metrics.append(score(pipeline, spec.task, data.x.iloc[rows], y[rows]))
                fold_windows.append(
                    {
                        "train": _window(ts, fold.train, gap),
                        "test": _window(ts, fold.test, gap),
                    }
                )
                report(3 + k, total, f"walk-forward fold {k + 1}/{len(fold_list)}")
            last = fold_list[-1]
            split = Split(train=last.train, validation=Segment(0, 0), test=last.test, gap=gap)
            metrics["folds"] = fold_metrics
            metrics["walk_forward_mean"] = _mean_metrics(fold_metrics)
            windows: dict[str, Any] = {"split": "walk_forward", "mode": wf.mode}
            windows["folds"] = fold_windows
        else:
            if request.train_end is not None:
                split = split_by_dates(data.ts, request.train_end, request.validation_end, gap)
                windows = {"split": "dates"}
            else:
                split = split_by_fractions(
                    len(y), request.train_fraction, request.validation_fraction, gap
                )
                windows = {"split": "fractions"}
            pipeline = _fit(build_pipeline(spec, request.params), data, y, split.train)
            report(3, total, f"fitted {spec.kind} on {split.train.rows} rows")
        for name, segment in (
            ("train", split.train),
            ("validation", split.validation),
            ("test", split.test),
        ):
            if segment.rows:
                rows = segment.as_slice()
                metrics[name] = score(pipeline, spec.task, data.x.iloc[rows], y[rows])
            windows[name] = _window(ts, segment, gap)
        windows["gap_bars"] = gap
        report(total - 1, total, "saving the model")
        record = self.registry.save(
            pipeline,
            ModelDraft(
                kind=spec.kind,
                task=spec.task,
                tickers=dataset.tickers,
                target=request.target,
                horizon=request.horizon,
                features=tuple(names),
                feature_set_hash=dataset.set_hash,
                params={**spec.defaults, **(request.params or {})},
                windows=windows,
                metrics=metrics,
                class_balance=class_balance(y[split.train.as_slice()]),
            ),
        )
        log.info(
            "trained model %s (%s on %s, %d training rows)",
            record.id,
            spec.kind,
            ",".join(dataset.tickers),
            split.train.rows,
        )
        report(total, total, f"saved model {record.id}")
        return record

    def list(self) -> list[ModelRecord]:
        """Every registered model, newest first."""
        return self.registry.list()

    def get(self, model_id: str) -> ModelRecord:
        """The record of ``model_id``; raises NotFound or InvalidInput."""
        return self.registry.get(model_id)

    def delete(self, model_id: str) -> None:
        """Remove a model's artifact and row; raises NotFound or InvalidInput."""
        self.registry.delete(model_id)
