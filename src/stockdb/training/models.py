"""Model catalogue: scikit-learn pipelines (imputer, scaler, model), their scoring, and the
bounds on the parameters a request may set (:data:`PARAM_LIMITS`), so one request can never
ask for a hundred million trees."""

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
    "PARAM_LIMITS",
    "Limit",
    "ModelSpec",
    "Task",
    "build_pipeline",
    "check_params",
    "class_balance",
    "non_finite_param",
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


@dataclass(frozen=True)
class Limit:
    """Allowed values of one numeric parameter: ``low..high`` (whole numbers when
    ``integer``); ``fraction`` also allows a float in ``(0, 1]`` (sklearn's "share of the
    rows" form); ``none`` allows null (sklearn's "no limit" where the data bounds it). Values
    that are not numbers (``"sqrt"``, booleans) are left to scikit-learn's own checks."""

    low: float
    high: float
    integer: bool = True
    fraction: bool = False
    none: bool = False

    def allows(self, value: Any) -> bool:
        """Whether ``value`` is within the limit; text and other kinds are left to sklearn."""
        if value is None:
            return self.none
        if isinstance(value, bool) or not isinstance(value, int | float):
            return True
        if self.fraction and isinstance(value, float) and 0 < value <= 1:
            return True
        if self.integer and not (isinstance(value, int) or float(value).is_integer()):
            return False
        return self.low <= value <= self.high

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        text = f"{kind} from {self.low:g} to {self.high:g}"
        if self.fraction:
            text += " or a fraction in (0, 1]"
        return text + (" or null" if self.none else "")


# Sized for the shared machine and ~1M minute rows: each cap is far above what helps a model
# of minute bars, and low enough that one request cannot hold a worker for hours.
_SEED = {"random_state": Limit(0, 2**32 - 1, none=True), "verbose": Limit(0, 2)}
_ROWS = 10_000_000
PARAM_LIMITS: Mapping[str, Mapping[str, Limit]] = {
    "logistic_regression": {
        **_SEED,
        "C": Limit(1e-9, 1e9, integer=False),
        "max_iter": Limit(1, 100_000),
        "tol": Limit(1e-12, 1.0, integer=False),
        "n_jobs": Limit(1, 4, none=True),
        "l1_ratio": Limit(0, 1, integer=False, none=True),
        "intercept_scaling": Limit(1e-9, 1e9, integer=False),
    },
    "ridge": {
        **_SEED,
        "alpha": Limit(0, 1e12, integer=False),
        "max_iter": Limit(1, 100_000, none=True),
        "tol": Limit(1e-12, 1.0, integer=False),
    },
    "random_forest": {
        **_SEED,
        "n_estimators": Limit(1, 1000),
        "max_depth": Limit(1, 64, none=True),
        "min_samples_split": Limit(2, _ROWS, fraction=True),
        "min_samples_leaf": Limit(1, _ROWS, fraction=True),
        "max_leaf_nodes": Limit(2, 1_000_000, none=True),
        "max_samples": Limit(1, _ROWS, fraction=True, none=True),
        "max_features": Limit(1, 10_000, fraction=True, none=True),
        "min_weight_fraction_leaf": Limit(0, 0.5, integer=False),
        "min_impurity_decrease": Limit(0, 1e9, integer=False),
        "ccp_alpha": Limit(0, 1e9, integer=False),
        "n_jobs": Limit(1, 4, none=True),
    },
    "hist_gradient_boosting": {
        **_SEED,
        "max_iter": Limit(1, 2000),
        "learning_rate": Limit(1e-6, 10.0, integer=False),
        "max_depth": Limit(1, 64, none=True),
        "max_leaf_nodes": Limit(2, 4096, none=True),
        "min_samples_leaf": Limit(1, _ROWS),
        "max_bins": Limit(2, 255),
        "max_features": Limit(0, 1, integer=False),
        "l2_regularization": Limit(0, 1e9, integer=False),
        "n_iter_no_change": Limit(1, 1000),
        "validation_fraction": Limit(1, _ROWS, fraction=True, none=True),
        "tol": Limit(0, 1.0, integer=False),
    },
}
_MAX_TEXT = 200


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Mapping):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_non_finite(v) for v in value)
    return False


def non_finite_param(params: Mapping[str, Any] | None) -> str | None:
    """The name of the first parameter holding NaN or an infinity (at any depth), or None."""
    return next((name for name, value in (params or {}).items() if _non_finite(value)), None)


def check_params(spec: ModelSpec, params: Mapping[str, Any] | None) -> None:
    """Refuse ``params`` a request may not set for ``spec``: unknown names, NaN or infinite
    numbers, numbers outside :data:`PARAM_LIMITS` (the message names the limit), and any
    value scikit-learn's own validation refuses. Raises InvalidInput; pure."""
    given = dict(params or {})
    accepted = spec.factory().get_params()
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        names = ", ".join(u[:40] for u in unknown[:10])
        raise InvalidInput(f"{spec.kind} does not take parameter(s): {names}")
    base = spec.kind.removesuffix("_classifier").removesuffix("_regressor")
    limits = PARAM_LIMITS.get(base, {})
    bad = non_finite_param(given)
    if bad is not None:
        raise InvalidInput(f"{bad[:40]} must hold finite numbers only (no NaN or infinity)")
    for name, value in given.items():
        limit = limits.get(name)
        if limit is not None and not limit.allows(value):
            shown = repr(value)[:40]
            raise InvalidInput(f"{name} of {base} must be {limit.describe()}; got {shown}")
    model = spec.factory(**{**spec.defaults, **given})
    validate = getattr(model, "_validate_params", None)
    if validate is not None:
        try:
            validate()
        except (TypeError, ValueError) as exc:
            text = " ".join(str(exc).split())
            raise InvalidInput(f"bad parameters for {spec.kind}: {text[:_MAX_TEXT]}") from None


def build_pipeline(spec: ModelSpec, params: Mapping[str, Any] | None = None) -> Pipeline:
    """``Pipeline([imputer, scaler, model])`` with ``params`` over the spec's defaults.

    Raises InvalidInput when a parameter is not one the estimator accepts or lies outside
    :data:`PARAM_LIMITS` (see :func:`check_params`).
    """
    check_params(spec, params)
    merged = {**spec.defaults, **(params or {})}
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
