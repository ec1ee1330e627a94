"""Fit, score and register one model on a panel of symbols (see :mod:`stockdb.training.panel`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from stockdb.errors import InvalidInput
from stockdb.training.dataset import FeatureSource
from stockdb.training.models import (
    ModelSpec,
    build_pipeline,
    class_balance,
    classification_metrics,
    regression_metrics,
    score,
)
from stockdb.training.panel import PanelData, build_panel, split_panel
from stockdb.training.registry import ModelDraft, ModelRecord, ModelRegistry

if TYPE_CHECKING:
    from stockdb.training.service import TrainRequest

__all__ = ["train_panel"]

log = logging.getLogger(__name__)


def _window(panel: PanelData, mask: np.ndarray) -> dict[str, Any]:
    """First row and last label bar of the masked rows, and their count."""
    rows = int(mask.sum())
    if rows == 0:
        return {"start": None, "end": None, "rows": 0}
    return {
        "start": pd.Timestamp(panel.ts[mask].min()).isoformat(),
        "end": pd.Timestamp(panel.label_end[mask].max()).isoformat(),
        "rows": rows,
    }


def _test_metrics(
    pipeline: Pipeline, spec: ModelSpec, x: pd.DataFrame, y: np.ndarray, symbols: np.ndarray
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The test rows' metrics overall and per symbol from ONE prediction pass (as
    :func:`~stockdb.training.models.score` computes them)."""
    predicted = np.asarray(pipeline.predict(x))
    scores: np.ndarray | None = None
    classes = list(getattr(pipeline, "classes_", []))
    if spec.task == "classification" and 1 in classes and len(classes) == 2:
        scores = pipeline.predict_proba(x)[:, classes.index(1)]

    def metrics(rows: np.ndarray | slice) -> dict[str, Any]:
        if spec.task == "regression":
            return dict(regression_metrics(y[rows], predicted[rows]))
        chosen = None if scores is None else scores[rows]
        return dict(classification_metrics(y[rows], predicted[rows], chosen))

    by_symbol = {
        symbol: metrics(rows)
        for symbol in dict.fromkeys(symbols.tolist())
        if (rows := symbols == symbol).any()
    }
    return metrics(slice(None)), by_symbol


def train_panel(
    registry: ModelRegistry,
    spec: ModelSpec,
    request: TrainRequest,
    source: FeatureSource,
    report: Callable[[int, int, str], None],
) -> ModelRecord:
    """One pipeline fitted on the stacked training rows of every symbol, scored on the
    validation and test rows (overall and per symbol), registered with ``windows['panel']``.

    Raises as :meth:`TrainingService.train`.
    """
    total = 5
    report(0, total, "loading features")
    panel = build_panel(
        source,
        request.tickers,
        request.features,
        request.target,
        request.horizon,
        request.start,
        request.end,
        request.joined_timeframes,
    )
    report(1, total, f"stacked {len(panel.y)} rows of {len(panel.symbols)} symbols")
    split = split_panel(
        panel,
        request.train_fraction,
        request.validation_fraction,
        request.train_end,
        request.validation_end,
    )
    y = panel.y.astype(np.int64) if spec.task == "classification" else panel.y
    y_train = y[split.train]
    if spec.task == "classification" and len(np.unique(y_train)) < 2:
        raise InvalidInput("the training window holds only one class; widen the period")
    report(2, total, f"fitting {spec.kind} on {int(split.train.sum())} rows")
    pipeline = build_pipeline(spec, request.params).fit(panel.x[split.train], y_train)
    report(3, total, "scoring")
    metrics: dict[str, Any] = {
        "dataset": {"panel_rows": len(y), "symbols": len(panel.symbols)},
    }
    windows: dict[str, Any] = {
        "split": "dates" if request.train_end is not None else "fractions",
        "panel": True,
        "validation_from": split.validation_from.isoformat(),
        "test_from": split.test_from.isoformat(),
        "gap_bars": request.horizon,
    }
    for name, mask in (("train", split.train), ("validation", split.validation)):
        if mask.any():
            metrics[name] = score(pipeline, spec.task, panel.x[mask], y[mask])
        windows[name] = _window(panel, mask)
    windows["test"] = _window(panel, split.test)
    metrics["test"], metrics["test_by_symbol"] = _test_metrics(
        pipeline, spec, panel.x[split.test], y[split.test], panel.symbol[split.test]
    )
    report(4, total, "saving the model")
    record = registry.save(
        pipeline,
        ModelDraft(
            kind=spec.kind,
            task=spec.task,
            tickers=panel.symbols,
            target=request.target,
            horizon=request.horizon,
            features=panel.features,
            feature_set_hash=panel.set_hash,
            params={**spec.defaults, **(request.params or {})},
            windows=windows,
            metrics=metrics,
            class_balance=class_balance(y_train),
        ),
    )
    log.info("trained panel model %s on %d symbols", record.id, len(panel.symbols))
    report(total, total, f"saved model {record.id}")
    return record
