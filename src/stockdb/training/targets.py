"""Labels as explicit forward shifts of the close, and feature selection by name or glob."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from stockdb.errors import InvalidInput

__all__ = [
    "TARGETS",
    "LabelledData",
    "Target",
    "forward_target",
    "label",
    "select_features",
]

Target = Literal["direction", "return"]
TARGETS: tuple[str, ...] = ("direction", "return")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class LabelledData:
    """Features ``x`` and labels ``y`` aligned with ``ts``; the last ``horizon`` rows are gone."""

    x: pd.DataFrame
    y: np.ndarray
    ts: pd.Series
    close: np.ndarray
    features: tuple[str, ...]
    target: str
    horizon: int


def forward_target(close: np.ndarray, target: str, horizon: int) -> np.ndarray:
    """The label of each bar from the close ``horizon`` bars later; NaN for the last ``horizon``.

    ``direction`` is 1.0 when ``close[t+h] > close[t]`` else 0.0; ``return`` is
    ``close[t+h] / close[t] - 1``. Raises InvalidInput for an unknown target or horizon < 1.
    """
    if target not in TARGETS:
        raise InvalidInput(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    if horizon < 1:
        raise InvalidInput(f"horizon must be at least 1 bar, not {horizon}")
    close = np.asarray(close, dtype=np.float64)
    out = np.full(close.shape[0], np.nan)
    if close.shape[0] > horizon:
        now, later = close[:-horizon], close[horizon:]
        if target == "direction":
            out[:-horizon] = (later > now).astype(np.float64)
        else:
            out[:-horizon] = later / now - 1.0
    return out


def select_features(frame: pd.DataFrame, wanted: Sequence[str] | None) -> list[str]:
    """Feature columns picked by exact names or glob patterns, in frame order, without ``ts``.

    ``None`` picks every numeric column but ``ts``. Raises InvalidInput when a name is not a
    column, a pattern matches nothing, or nothing is selected.
    """
    candidates = [str(c) for c in frame.columns if c != "ts"]
    if wanted is None:
        candidates = [c for c in candidates if pd.api.types.is_numeric_dtype(frame[c])]
        chosen = set(candidates)
    else:
        chosen = set()
        for item in wanted:
            name = item.strip()
            if not name:
                continue
            if _GLOB_CHARS.isdisjoint(name):
                if name not in candidates:
                    raise InvalidInput(f"unknown feature {name!r}")
                chosen.add(name)
            else:
                matched = fnmatch.filter(candidates, name)
                if not matched:
                    raise InvalidInput(f"feature pattern {name!r} matches no column")
                chosen.update(matched)
    selected = [c for c in candidates if c in chosen]
    if not selected:
        raise InvalidInput("no feature selected")
    return selected


def label(frame: pd.DataFrame, features: Sequence[str], target: str, horizon: int) -> LabelledData:
    """Pair the selected features of each bar with its forward label, dropping the last rows.

    Labels come from ``frame['close']`` (the primary ticker's close) shifted ``horizon`` rows
    forward; feature values are never shifted. Raises InvalidInput when a feature is not a
    numeric column or fewer than ``horizon + 1`` rows exist.
    """
    for name in features:
        if name not in frame.columns:
            raise InvalidInput(f"unknown feature {name!r}")
        if not pd.api.types.is_numeric_dtype(frame[name]):
            raise InvalidInput(f"feature {name!r} is not numeric")
    if len(frame) <= horizon:
        raise InvalidInput(f"{len(frame)} rows cannot carry labels {horizon} bars ahead")
    close = frame["close"].to_numpy(dtype=np.float64)
    y_all = forward_target(close, target, horizon)
    keep = len(frame) - horizon
    return LabelledData(
        x=frame[list(features)].iloc[:keep].astype(np.float64).reset_index(drop=True),
        y=y_all[:keep],
        ts=frame["ts"].iloc[:keep].reset_index(drop=True),
        close=close[:keep],
        features=tuple(features),
        target=target,
        horizon=horizon,
    )
