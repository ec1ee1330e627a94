"""Model parameters and request numbers are bounded and finite before any job is queued."""

from __future__ import annotations

from typing import Any

import pytest

from stockdb.errors import InvalidInput
from stockdb.training.models import PARAM_LIMITS, build_pipeline, check_params, resolve_model
from stockdb.training.requests import simulation_request, train_request

BASE: dict[str, Any] = {"tickers": ["SPY"]}


@pytest.mark.parametrize(
    ("model", "params", "needle"),
    [
        ("random_forest", {"n_estimators": 100_000_000}, "n_estimators of random_forest must be"),
        ("random_forest", {"n_estimators": 0}, "from 1 to 1000"),
        ("random_forest", {"max_depth": 1000}, "max_depth of random_forest"),
        ("random_forest", {"n_jobs": -1}, "n_jobs"),
        ("random_forest", {"min_samples_leaf": 2.5}, "min_samples_leaf"),
        ("hist_gradient_boosting", {"max_iter": 10**9}, "max_iter of hist_gradient_boosting"),
        ("hist_gradient_boosting", {"learning_rate": 1e300}, "learning_rate"),
        ("logistic_regression", {"max_iter": 10**12}, "max_iter of logistic_regression"),
        ("logistic_regression", {"C": 0}, "C of logistic_regression"),
        ("logistic_regression", {"C": float("inf")}, "finite"),
        ("logistic_regression", {"C": float("nan")}, "finite"),
        ("logistic_regression", {"class_weight": {"0": float("nan")}}, "finite"),
        ("random_forest", {"criterion": "x" * 10_000}, "bad parameters for"),
        ("random_forest", {"bogus": 1}, "does not take parameter(s): bogus"),
    ],
)
def test_out_of_range_params_are_refused_with_the_limit(
    model: str, params: dict[str, Any], needle: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        train_request({**BASE, "model": model, "params": params})
    message = str(caught.value)
    assert needle in message, message
    assert len(message) < 300


def test_the_message_names_the_limit() -> None:
    body = {**BASE, "model": "random_forest", "params": {"n_estimators": 100_000_000}}
    with pytest.raises(InvalidInput) as caught:
        train_request(body)
    assert str(caught.value) == (
        "n_estimators of random_forest must be a whole number from 1 to 1000; got 100000000"
    )


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("random_forest", {"n_estimators": 1000, "max_depth": None, "max_features": "log2"}),
        ("random_forest", {"min_samples_leaf": 0.05, "max_samples": 0.5}),
        ("hist_gradient_boosting", {"max_iter": 2000, "learning_rate": 0.05}),
        ("logistic_regression", {"C": 1e-3, "max_iter": 200}),
        ("ridge", {"alpha": 0.0}),
    ],
)
def test_params_within_the_limits_build(model: str, params: dict[str, Any]) -> None:
    target = "return" if model == "ridge" else "direction"
    request = train_request({**BASE, "model": model, "target": target, "params": params})
    pipeline = build_pipeline(resolve_model(model, target), request.params)
    estimator = pipeline.named_steps["model"]
    assert {k: estimator.get_params()[k] for k in params} == params


def test_every_limit_names_a_parameter_its_estimators_take() -> None:
    for base, limits in PARAM_LIMITS.items():
        for target in ("direction", "return"):
            try:
                spec = resolve_model(base, target)
            except InvalidInput:
                continue
            accepted = set(spec.factory().get_params())
            assert set(limits) - {"random_state", "verbose", "n_jobs"} <= accepted, base
            check_params(spec, None)  # the defaults themselves are within the limits
            for name, limit in limits.items():
                if name in accepted:
                    assert limit.allows(spec.defaults.get(name)) or name not in spec.defaults


def test_build_pipeline_applies_the_limits_too() -> None:
    spec = resolve_model("random_forest", "direction")
    with pytest.raises(InvalidInput, match="n_estimators"):
        build_pipeline(spec, {"n_estimators": 5000})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("train_fraction", float("nan")),
        ("train_fraction", float("inf")),
        ("train_fraction", 1.0),
        ("train_fraction", 0.0),
        ("validation_fraction", -0.1),
        ("validation_fraction", float("nan")),
    ],
)
def test_train_fractions_are_finite_and_in_range(field: str, value: float) -> None:
    with pytest.raises(InvalidInput, match=field):
        train_request({**BASE, field: value})


@pytest.mark.parametrize(
    "walk",
    [{"n_splits": 10**9}, {"n_splits": 1}, {"n_splits": 2.5}, {"test_size": 0}, {"x": 1}],
)
def test_walk_forward_is_bounded(walk: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="walk_forward|unknown field"):
        train_request({**BASE, "walk_forward": walk})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cash", float("nan")),
        ("cash", float("inf")),
        ("cash", 1e308),
        ("cash", 0),
        ("fee_bps", float("nan")),
        ("slippage_bps", float("inf")),
        ("fee_bps", 10_001),
    ],
)
def test_simulation_numbers_are_finite_and_in_range(field: str, value: float) -> None:
    with pytest.raises(InvalidInput, match=field):
        simulation_request({"model_id": "m1", field: value})
