"""Training and simulation requests from plain JSON-like params (API bodies, job params)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stockdb.dates import parse_date
from stockdb.errors import InvalidInput
from stockdb.simulation.service import SimulationRequest
from stockdb.symbols import normalize_symbol, normalize_symbols
from stockdb.training.service import TrainRequest, WalkForward

__all__ = ["simulation_request", "train_request"]

_TRAIN_KEYS = {
    "tickers",
    "model",
    "target",
    "horizon",
    "features",
    "params",
    "start",
    "end",
    "train_fraction",
    "validation_fraction",
    "train_end",
    "validation_end",
    "walk_forward",
}
_SIM_KEYS = {
    "model_id",
    "symbol",
    "start",
    "end",
    "cash",
    "fill",
    "fee_bps",
    "slippage_bps",
    "in_sample",
}


def _unknown(params: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(params) - allowed)
    if extra:
        raise InvalidInput(f"unknown field(s): {', '.join(extra)}")


def _number(params: Mapping[str, Any], name: str, default: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number")
    return float(value)


def train_request(params: Mapping[str, Any]) -> TrainRequest:
    """A validated :class:`TrainRequest`; raises InvalidInput naming the bad field."""
    _unknown(params, _TRAIN_KEYS)
    raw = params.get("tickers")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("tickers must be a non-empty list, e.g. ['SPY', 'QQQ']")
    horizon = params.get("horizon", 1)
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= 10_000:
        raise InvalidInput("horizon must be a whole number of bars between 1 and 10000")
    features = params.get("features")
    if features is not None and (
        not isinstance(features, list) or not all(isinstance(f, str) for f in features)
    ):
        raise InvalidInput("features must be a list of names or glob patterns")
    walk = params.get("walk_forward")
    walk_forward = None
    if walk is not None:
        if not isinstance(walk, Mapping):
            raise InvalidInput("walk_forward must be an object like {'n_splits': 5}")
        try:
            walk_forward = WalkForward(**dict(walk))
        except TypeError as exc:
            raise InvalidInput(f"walk_forward: {exc}") from None
    extra = params.get("params")
    if extra is not None and not isinstance(extra, Mapping):
        raise InvalidInput("params must be an object of model parameters")
    request = TrainRequest(
        tickers=normalize_symbols(raw),
        model=str(params.get("model", "logistic_regression")),
        target=str(params.get("target", "direction")),
        horizon=horizon,
        features=features,
        params=dict(extra) if extra else None,
        start=parse_date(params.get("start"), "start"),
        end=parse_date(params.get("end"), "end"),
        train_fraction=_number(params, "train_fraction", 0.7),
        validation_fraction=_number(params, "validation_fraction", 0.15),
        train_end=parse_date(params.get("train_end"), "train_end"),
        validation_end=parse_date(params.get("validation_end"), "validation_end"),
        walk_forward=walk_forward,
    )
    if request.start and request.end and request.start > request.end:
        raise InvalidInput(f"start {request.start} is after end {request.end}")
    request.validate()
    return request


def simulation_request(params: Mapping[str, Any]) -> SimulationRequest:
    """A validated :class:`SimulationRequest`; raises InvalidInput naming the bad field."""
    _unknown(params, _SIM_KEYS)
    model_id = params.get("model_id")
    if not isinstance(model_id, str):
        raise InvalidInput("model_id is required")
    symbol = params.get("symbol")
    in_sample = params.get("in_sample", False)
    if not isinstance(in_sample, bool):
        raise InvalidInput("in_sample must be true or false")
    request = SimulationRequest(
        model_id=model_id,
        symbol=None if symbol in (None, "") else normalize_symbol(str(symbol)),
        start=parse_date(params.get("start"), "start"),
        end=parse_date(params.get("end"), "end"),
        cash=_number(params, "cash", 10_000.0),
        fill=str(params.get("fill", "close")),  # type: ignore[arg-type]
        fee_bps=_number(params, "fee_bps", 0.0),
        slippage_bps=_number(params, "slippage_bps", 0.0),
        in_sample=in_sample,
    )
    if not (0 <= request.fee_bps <= 10_000 and 0 <= request.slippage_bps <= 10_000):
        raise InvalidInput("fee_bps and slippage_bps must be between 0 and 10000")
    request.validate()
    return request
