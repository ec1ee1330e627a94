"""Panel datasets: several symbols' feature rows stacked for one model, cut at one instant.

Each symbol is labelled on its own rows (a label never reads another symbol's close), then
the rows are stacked with a ``symbol`` column and sorted by time. The split is by time for
every symbol alike: the cut instants come from the union of the panel's timestamps (or the
session dates asked for), a training row's features *and* label end before the validation
cut, a validation row's before the test cut, so no bar of the test window reaches training.

The symbol is offered to the model as a category through one indicator column per symbol
(``symbol_is_AAA``), chosen by asking for the feature ``symbol``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from stockdb.errors import Conflict, InvalidInput
from stockdb.symbols import normalize_symbol
from stockdb.training.dataset import FeatureSource, _ticker_frame
from stockdb.training.targets import forward_target, select_features

__all__ = [
    "SYMBOL_FEATURE",
    "PanelData",
    "PanelSplit",
    "build_panel",
    "is_indicator",
    "panel_features",
    "split_panel",
    "symbol_indicators",
]

SYMBOL_FEATURE = "symbol"
"""The feature name that asks for the symbol as a category (one indicator column per symbol)."""
_INDICATOR = "symbol_is_"
_SESSION_TZ = "America/New_York"


@dataclass(frozen=True)
class PanelData:
    """Stacked rows sorted by ``ts`` (then the symbols' order): ``x`` features, ``y``
    labels, and per row its ``symbol``, ``ts`` and ``label_end`` (the instant of the bar its
    label reads)."""

    x: pd.DataFrame
    y: np.ndarray
    symbol: np.ndarray
    ts: pd.Series
    label_end: pd.Series
    set_hash: str
    symbols: tuple[str, ...]
    features: tuple[str, ...]


@dataclass(frozen=True)
class PanelSplit:
    """Boolean row masks of the panel and the cut instants between them."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    validation_from: pd.Timestamp
    test_from: pd.Timestamp


def symbol_indicators(symbol: str, symbols: Sequence[str], rows: int) -> dict[str, np.ndarray]:
    """The indicator columns of ``symbols`` for ``rows`` rows of ``symbol`` (1.0 on its own)."""
    return {
        f"{_INDICATOR}{s}": np.full(rows, 1.0 if s == symbol else 0.0, dtype=np.float64)
        for s in symbols
    }


def is_indicator(feature: str, record: Any) -> bool:
    """True when ``feature`` is a symbol indicator column of the panel model ``record``."""
    return bool(record.windows.get("panel")) and feature.startswith(_INDICATOR)


def panel_features(wanted: Sequence[str] | None, frame: pd.DataFrame) -> list[str]:
    """Feature names of a panel: ``wanted`` resolved against ``frame`` as in single-symbol
    training, with ``symbol`` standing for the indicator columns (which ``None`` leaves out)."""
    indicators = [c for c in frame.columns if str(c).startswith(_INDICATOR)]
    plain = frame.drop(columns=indicators)
    if wanted is None:
        return select_features(plain, None)
    named = [w for w in wanted if w.strip() != SYMBOL_FEATURE]
    chosen = select_features(plain, named) if named else []
    if len(named) != len(wanted):
        chosen.extend(indicators)
    if not chosen:
        raise InvalidInput("no feature selected")
    return chosen


def build_panel(
    source: FeatureSource,
    symbols: Sequence[str],
    features: Sequence[str] | None,
    target: str,
    horizon: int,
    start: date | None = None,
    end: date | None = None,
    timeframes: Sequence[str] = (),
) -> PanelData:
    """Every symbol's labelled feature rows stacked (see module doc).

    Raises InvalidInput for fewer than two or repeated symbols or a symbol with too few
    rows, NotFound when a symbol has no feature rows, Conflict for mixed feature sets.
    """
    names = [normalize_symbol(s) for s in symbols]
    if len(names) < 2:
        raise InvalidInput("a panel needs at least two symbols")
    if len(set(names)) != len(names):
        raise InvalidInput(f"symbols repeat: {','.join(names)}")
    parts: list[pd.DataFrame] = []
    set_hash: str | None = None
    for name in names:
        loaded = _ticker_frame(source, name, start, end, timeframes)
        if set_hash is not None and loaded.set_hash != set_hash:
            raise Conflict(
                f"features of {name} come from feature set {loaded.set_hash}, those of "
                f"{names[0]} from {set_hash}; rebuild them with one feature set"
            )
        set_hash = loaded.set_hash
        frame = loaded.frame
        if "close" not in frame.columns or len(frame) <= horizon:
            raise InvalidInput(f"{name} has {len(frame)} rows, too few for labels {horizon} ahead")
        y = forward_target(frame["close"].to_numpy(np.float64), target, horizon)
        keep = len(frame) - horizon
        head = frame.iloc[:keep].reset_index(drop=True)
        extra = {
            "_y": y[:keep],
            "_label_end": frame["ts"].shift(-horizon).iloc[:keep].reset_index(drop=True),
            "_symbol": np.full(keep, name, dtype=object),
            **symbol_indicators(name, names, keep),
        }
        # one block for the added columns: inserting 100s one by one fragments the frame
        labelled = pd.concat([head, pd.DataFrame(extra)], axis=1)
        parts.append(labelled)
    assert set_hash is not None
    stacked = pd.concat(parts, ignore_index=True)
    # stable on time alone: rows of one instant keep the symbols' order (cheaper than
    # sorting on the string column too)
    stacked = stacked.sort_values("ts", kind="stable").reset_index(drop=True)
    chosen = panel_features(features, stacked.drop(columns=["_y", "_label_end", "_symbol"]))
    for column in chosen:
        if not pd.api.types.is_numeric_dtype(stacked[column]):
            raise InvalidInput(f"feature {column!r} is not numeric")
    return PanelData(
        x=stacked[chosen].astype(np.float64),
        y=stacked["_y"].to_numpy(np.float64),
        symbol=stacked["_symbol"].to_numpy(),
        ts=stacked["ts"],
        label_end=stacked["_label_end"],
        set_hash=set_hash,
        symbols=tuple(names),
        features=tuple(chosen),
    )


def _session_start(day: date) -> pd.Timestamp:
    """The first instant (UTC) of the New York date after ``day``."""
    return pd.Timestamp(day + timedelta(days=1)).tz_localize(_SESSION_TZ).tz_convert("UTC")


def _naive_utc(stamps: pd.Series) -> np.ndarray:
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()


def split_panel(
    panel: PanelData,
    train: float = 0.7,
    validation: float = 0.15,
    train_end: date | None = None,
    validation_end: date | None = None,
) -> PanelSplit:
    """Cut the panel at two instants shared by every symbol (module doc).

    By fractions of the panel's distinct timestamps, or after the sessions ``train_end``
    and ``validation_end``. Raises InvalidInput for bad fractions or dates or an empty
    training or test window.
    """
    ts = _naive_utc(panel.ts)
    ends = _naive_utc(panel.label_end)
    stamps = np.unique(ts)
    if train_end is not None:
        if validation_end is not None and validation_end < train_end:
            raise InvalidInput(f"validation end {validation_end} is before train end {train_end}")
        first = _session_start(train_end)
        second = _session_start(validation_end or train_end)
    else:
        if not 0.0 < train < 1.0 or not 0.0 <= validation < 1.0 or train + validation >= 1.0:
            raise InvalidInput(
                f"fractions train={train} validation={validation} must be in [0, 1) and sum below 1"
            )
        n = len(stamps)
        a, b = int(n * train), int(n * (train + validation))
        if a >= n or b >= n:
            raise InvalidInput(f"the test window is empty ({n} distinct timestamps)")
        first = pd.Timestamp(stamps[a]).tz_localize("UTC")
        second = pd.Timestamp(stamps[b]).tz_localize("UTC")
    cut1 = first.tz_convert("UTC").tz_localize(None).to_datetime64()
    cut2 = second.tz_convert("UTC").tz_localize(None).to_datetime64()
    train_mask = ends < cut1
    validation_mask = (ts >= cut1) & (ends < cut2)
    test_mask = ts >= cut2
    if not train_mask.any():
        raise InvalidInput(f"the training window is empty ({len(ts)} labelled panel rows)")
    if not test_mask.any():
        raise InvalidInput(f"the test window is empty ({len(ts)} labelled panel rows)")
    return PanelSplit(train_mask, validation_mask, test_mask, first, second)
