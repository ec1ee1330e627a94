"""Model catalogue: scikit-learn pipelines (imputer, scaler, model) and their scoring."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from stockdb.errors import InvalidInput

__all__ = [
    "MODEL_NAMES",
    "ModelSpec",
    "Task",
    "build_pipeline",
    "class_balance",
    "classification_metrics",
    "regression_metrics",
    "resolve_model",
    "score",
    "task_of",
]

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class ModelSpec:
    """A model kind: its registry name, task and estimator factory with default params."""

    kind: str
    task: Task
    factory: Callable[..., BaseEstimator]
    defaults: Mapping[str, Any]


def _specs() -> dict[tuple[str, Task], ModelSpec]:
    # Single-threaded defaults: the machine is shared, and trees sized for ~100k minute rows.
    forest = {
        "n_estimators": 100,
        "max_depth": 10,
        "min_samples_leaf": 20,
        "max_features": "sqrt",
        "n_jobs": 1,
    }
    specs = [
        ModelSpec(
            "logistic_regression",
            "classification",
            LogisticRegression,
            {"max_iter": 1000, "C": 1.0},
        ),
        ModelSpec("ridge", "regression", Ridge, {"alpha": 1.0}),
        ModelSpec(
            "random_forest_classifier",
            "classification",
            RandomForestClassifier,
            {**forest, "random_state": 0},
        ),
        ModelSpec(
            "random_forest_regressor",
            "regression",
            RandomForestRegressor,
            {**forest, "random_state": 0},
        ),
        ModelSpec(
            "hist_gradient_boosting_classifier",
            "classification",
            HistGradientBoostingClassifier,
            {"max_iter": 200, "random_state": 0, "early_stopping": False},
        ),
        ModelSpec(
            "hist_gradient_boosting_regressor",
            "regression",
            HistGradientBoostingRegressor,
            {"max_iter": 200, "random_state": 0, "early_stopping": False},
        ),
    ]
    return {
        (spec.kind.removesuffix("_classifier").removesuffix("_regressor"), spec.task): spec
        for spec in specs
    }


MODEL_NAMES: tuple[str, ...] = (
    "logistic_regression",
    "ridge",
    "random_forest",
    "hist_gradient_boosting",
)


def resolve_model(name: str, target: str) -> ModelSpec:
    """The spec for model ``name`` trained on ``target`` (direction: classifier, return: regressor).

    ``name`` may carry an explicit ``_classifier``/``_regressor`` suffix that must agree with
    the target. Raises InvalidInput for unknown names or a model that cannot learn the target.
    """
    task: Task = "classification" if target == "direction" else "regression"
    given = name.strip().lower()
    base = given.removesuffix("_classifier").removesuffix("_regressor")
    if base not in MODEL_NAMES:
        raise InvalidInput(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    spec = _specs().get((base, task))
    if spec is None or (given != base and spec.kind != given):
        raise InvalidInput(f"model {name!r} cannot learn the {target!r} target ({task})")
    return spec


def task_of(kind: str) -> Task:
    """The task of a registered model kind (``ridge`` and ``*_regressor`` are regressions)."""
    return "regression" if kind == "ridge" or kind.endswith("_regressor") else "classification"


def build_pipeline(spec: ModelSpec, params: Mapping[str, Any] | None = None) -> Pipeline:
    """``Pipeline([imputer, scaler, model])`` with ``params`` over the spec's defaults.

    Raises InvalidInput when a parameter is not one the estimator accepts.
    """
    merged = {**spec.defaults, **(params or {})}
    accepted = spec.factory().get_params()
    unknown = sorted(set(merged) - set(accepted))
    if unknown:
        raise InvalidInput(f"{spec.kind} does not take parameter(s): {', '.join(unknown)}")
    try:
        model = spec.factory(**merged)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"bad parameters for {spec.kind}: {exc}") from exc
    return Pipeline(
        [
            ("imputer", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scaler", StandardScaler()),
            ("model", model),
        ]
    )


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None
) -> dict[str, float | int | None]:
    """Accuracy, precision, recall, F1 (class 1 positive) and ROC AUC (None with one class)."""
    y_true = np.asarray(y_true).astype(np.int64)
    y_pred = np.asarray(y_pred).astype(np.int64)
    auc: float | None = None
    if y_score is not None and len(np.unique(y_true)) == 2:
        auc = _finite(roc_auc_score(y_true, y_score))
    return {
        "rows": len(y_true),
        "accuracy": _finite(accuracy_score(y_true, y_pred)),
        "precision": _finite(precision_score(y_true, y_pred, zero_division=0)),
        "recall": _finite(recall_score(y_true, y_pred, zero_division=0)),
        "f1": _finite(f1_score(y_true, y_pred, zero_division=0)),
        "roc_auc": auc,
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | int | None]:
    """MAE, RMSE, R² (None for fewer than two rows) and directional accuracy of the sign."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    return {
        "rows": len(y_true),
        "mae": _finite(mean_absolute_error(y_true, y_pred)),
        "rmse": _finite(math.sqrt(mean_squared_error(y_true, y_pred))),
        "r2": _finite(r2_score(y_true, y_pred)) if len(y_true) >= 2 else None,
        "directional_accuracy": _finite(np.mean((y_pred > 0) == (y_true > 0))),
    }


def class_balance(y: np.ndarray) -> dict[str, float | int]:
    """Share of up labels (direction 1, or a positive return) and of the rest, with the count."""
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    up = int((y > 0).sum())
    return {"rows": n, "up": up / n if n else 0.0, "down": (n - up) / n if n else 0.0}


def score(pipeline: Pipeline, task: Task, x: Any, y: np.ndarray) -> dict[str, float | int | None]:
    """The task's metrics of a fitted ``pipeline`` on ``x`` against the labels ``y``."""
    if len(y) == 0:
        return {"rows": 0}
    predicted = pipeline.predict(x)
    if task == "regression":
        return regression_metrics(y, predicted)
    scores: np.ndarray | None = None
    classes = list(getattr(pipeline, "classes_", []))
    if hasattr(pipeline, "predict_proba") and 1 in classes and len(classes) == 2:
        scores = pipeline.predict_proba(x)[:, classes.index(1)]
    return classification_metrics(y, predicted, scores)
