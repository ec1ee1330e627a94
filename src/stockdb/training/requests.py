"""Training and simulation requests from plain JSON-like params (API bodies, CLI, job params).

Every number must be finite and in range (fractions in (0, 1), costs 0-10000 bps, cash up to
1e12) and model parameters within :data:`~stockdb.training.models.PARAM_LIMITS`, so a bad
request is refused here, before any job is queued.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stockdb.dates import parse_date
from stockdb.errors import InvalidInput
from stockdb.simulation.service import SimulationRequest
from stockdb.symbols import normalize_symbol, normalize_symbols
from stockdb.timeframes import parse_timeframe
from stockdb.training.models import check_params, non_finite_param
from stockdb.training.service import TrainRequest, WalkForward

__all__ = ["portfolio_symbols", "simulation_request", "train_request"]

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
    "timeframes",
    "panel",
}
_SIM_KEYS = {
    "model_id",
    "symbol",
    "symbols",
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


MAX_CASH = 1e12
MAX_FOLDS = 50
MAX_TICKERS = 10
MAX_PANEL = 500


def _number(
    params: Mapping[str, Any],
    name: str,
    default: float,
    low: float,
    high: float,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """``params[name]`` as a finite float within ``low..high`` (ends excluded when open)."""
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number")
    number = float(value)
    above = number > low if open_low else number >= low
    below = number < high if open_high else number <= high
    if not (math.isfinite(number) and above and below):
        left, right = "(" if open_low else "[", ")" if open_high else "]"
        raise InvalidInput(f"{name} must be a finite number in {left}{low:g}, {high:g}{right}")
    return number


def _walk_forward(walk: Any) -> WalkForward:
    if not isinstance(walk, Mapping):
        raise InvalidInput("walk_forward must be an object like {'n_splits': 5}")
    _unknown(walk, {"n_splits", "mode", "test_size", "train_size"})
    for name in ("n_splits", "test_size", "train_size"):
        value = walk.get(name)
        if value is None and name != "n_splits":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(f"walk_forward.{name} must be a whole number of at least 1")
    n_splits = walk.get("n_splits", 5)
    if not 2 <= n_splits <= MAX_FOLDS:
        raise InvalidInput(f"walk_forward.n_splits must be between 2 and {MAX_FOLDS}")
    if walk.get("mode", "expanding") not in ("expanding", "rolling"):
        raise InvalidInput("walk_forward.mode must be 'expanding' or 'rolling'")
    return WalkForward(**dict(walk))


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
    walk_forward = None if walk is None else _walk_forward(walk)
    extra = params.get("params")
    if extra is not None and not isinstance(extra, Mapping):
        raise InvalidInput("params must be an object of model parameters")
    bad = non_finite_param(extra)
    if bad is not None:
        raise InvalidInput(f"params.{bad[:40]} must hold finite numbers only (no NaN or infinity)")
    frames = params.get("timeframes") or []
    if isinstance(frames, str):
        frames = [f for f in frames.split(",") if f.strip()]
    if not isinstance(frames, list) or not all(isinstance(f, str) for f in frames):
        raise InvalidInput("timeframes must be a list such as ['1Hour', '1Day']")
    panel = params.get("panel", False)
    if not isinstance(panel, bool):
        raise InvalidInput("panel must be true or false")
    limit = MAX_PANEL if panel else MAX_TICKERS
    if len(raw) > limit:
        raise InvalidInput(
            f"at most {limit} tickers{' in a panel' if panel else ''}, not {len(raw)}"
        )
    request = TrainRequest(
        panel=panel,
        tickers=normalize_symbols(raw),
        model=str(params.get("model", "logistic_regression")),
        target=str(params.get("target", "direction")),
        horizon=horizon,
        features=features,
        params=dict(extra) if extra else None,
        start=parse_date(params.get("start"), "start"),
        end=parse_date(params.get("end"), "end"),
        train_fraction=_number(params, "train_fraction", 0.7, 0, 1, open_low=True, open_high=True),
        validation_fraction=_number(params, "validation_fraction", 0.15, 0, 1, open_high=True),
        train_end=parse_date(params.get("train_end"), "train_end"),
        validation_end=parse_date(params.get("validation_end"), "validation_end"),
        walk_forward=walk_forward,
        timeframes=tuple(dict.fromkeys(parse_timeframe(f).name for f in frames)),
    )
    if request.start and request.end and request.start > request.end:
        raise InvalidInput(f"start {request.start} is after end {request.end}")
    check_params(request.validate(), request.params)
    return request


def portfolio_symbols(params: Mapping[str, Any]) -> list[str] | None:
    """The ``symbols`` of a multi-symbol simulation (None without); raises InvalidInput for
    a bad list, more than :data:`MAX_PANEL` symbols, or ``symbol`` given too."""
    raw = params.get("symbols")
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
        raise InvalidInput("symbols must be a non-empty list, e.g. ['SPY', 'QQQ']")
    if params.get("symbol") not in (None, ""):
        raise InvalidInput("give either symbol or symbols")
    names = normalize_symbols(raw)
    if len(names) > MAX_PANEL:
        raise InvalidInput(f"at most {MAX_PANEL} symbols, not {len(names)}")
    return names


def simulation_request(params: Mapping[str, Any]) -> SimulationRequest:
    """A validated :class:`SimulationRequest` (``symbols`` checked, left to the caller);
    raises InvalidInput naming the bad field."""
    _unknown(params, _SIM_KEYS)
    portfolio_symbols(params)
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
        cash=_number(params, "cash", 10_000.0, 0, MAX_CASH, open_low=True),
        fill=str(params.get("fill", "close")),  # type: ignore[arg-type]
        fee_bps=_number(params, "fee_bps", 0.0, 0, 10_000),
        slippage_bps=_number(params, "slippage_bps", 0.0, 0, 10_000),
        in_sample=in_sample,
    )
    request.validate()
    return request
