"""Multi-ticker training dataset: the primary ticker's features joined to context tickers on ts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import pandas as pd

from stockdb.errors import Conflict, DataIntegrityError, InvalidInput, NotFound
from stockdb.symbols import normalize_symbol

__all__ = ["Dataset", "FeatureFrame", "FeatureSource", "build_dataset", "normalize_frame"]

# Columns a feature frame may carry that are not numbers to learn from.
_NON_FEATURE_COLUMNS = ("symbol",)


@dataclass(frozen=True)
class FeatureFrame:
    """One symbol's wide feature rows (``ts`` first, sorted) and the feature-set hash."""

    frame: pd.DataFrame
    set_hash: str


class FeatureSource(Protocol):
    """Where training and simulation read features; the feature store is adapted to this."""

    def load(self, symbol: str, start: date | None, end: date | None) -> FeatureFrame:
        """Feature rows of ``symbol`` between the session dates ``start`` and ``end`` inclusive.

        An unknown symbol or one with no rows yields an empty frame or raises NotFound.
        """
        ...


@dataclass(frozen=True)
class Dataset:
    """The joined frame (``ts`` plus features) with the report of what the join dropped."""

    frame: pd.DataFrame
    set_hash: str
    tickers: tuple[str, ...]
    primary_rows: int
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.frame)

    @property
    def dropped_total(self) -> int:
        """Primary rows lost because at least one context ticker had no bar at that minute."""
        return self.primary_rows - len(self.frame)


def normalize_frame(frame: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """A copy of ``frame`` with ``ts`` as UTC microseconds, sorted and unique, non-features dropped.

    Naive timestamps are read as UTC. Raises DataIntegrityError when ``ts`` is missing,
    unparseable or repeated.
    """
    if "ts" not in frame.columns:
        raise DataIntegrityError(f"feature rows of {symbol} have no 'ts' column")
    out = frame.drop(columns=[c for c in _NON_FEATURE_COLUMNS if c in frame.columns])
    try:
        ts = pd.to_datetime(out["ts"], utc=True).astype("datetime64[us, UTC]")
    except (ValueError, TypeError) as exc:
        raise DataIntegrityError(f"feature rows of {symbol} have unreadable timestamps") from exc
    out = out.assign(ts=ts)
    if not ts.is_monotonic_increasing:
        out = out.sort_values("ts", kind="stable")
    if out["ts"].duplicated().any():
        raise DataIntegrityError(f"feature rows of {symbol} repeat a timestamp")
    return out.reset_index(drop=True)


def _load(source: FeatureSource, symbol: str, start: date | None, end: date | None) -> FeatureFrame:
    try:
        loaded = source.load(symbol, start, end)
    except NotFound as exc:
        raise NotFound(f"no feature rows for {symbol} in the period: {exc}") from exc
    if loaded.frame.empty:
        raise NotFound(
            f"no feature rows for {symbol} between {start or 'the start'} and "
            f"{end or 'the end'}; build its features first"
        )
    return FeatureFrame(normalize_frame(loaded.frame, symbol), loaded.set_hash)


def build_dataset(
    source: FeatureSource,
    tickers: Sequence[str],
    start: date | None = None,
    end: date | None = None,
) -> Dataset:
    """Join the context tickers' features to the primary's on exact timestamps (inner join).

    The first ticker is the primary: its columns keep their names. Every other ticker's
    columns are suffixed ``_{TICKER}`` (``close_SPY``). ``dropped[T]`` counts the primary rows
    that context ticker ``T`` has no bar for. Raises InvalidInput for bad or repeated tickers
    or when the join leaves no rows, NotFound when a ticker has no rows in the period, and
    Conflict when the tickers' features come from different feature sets.
    """
    if not tickers:
        raise InvalidInput("give at least one ticker")
    symbols = [normalize_symbol(t) for t in tickers]
    if len(set(symbols)) != len(symbols):
        raise InvalidInput(f"tickers repeat: {','.join(symbols)}")
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"start {start} is after end {end}")
    primary = _load(source, symbols[0], start, end)
    if "close" not in primary.frame.columns:
        raise DataIntegrityError(f"feature rows of {symbols[0]} have no 'close' column")
    joined = primary.frame.set_index("ts")
    dropped: dict[str, int] = {}
    for symbol in symbols[1:]:
        context = _load(source, symbol, start, end)
        if context.set_hash != primary.set_hash:
            raise Conflict(
                f"features of {symbol} come from feature set {context.set_hash}, those of "
                f"{symbols[0]} from {primary.set_hash}; rebuild them with one feature set"
            )
        ctx = context.frame.set_index("ts")
        ctx.columns = [f"{col}_{symbol}" for col in ctx.columns]
        # Hash-based membership: tz-aware stamps become objects under np.isin (quadratic).
        dropped[symbol] = int((~primary.frame["ts"].isin(ctx.index)).sum())
        joined = joined.join(ctx, how="inner")
    if joined.empty:
        raise InvalidInput(
            f"{symbols[0]} shares no timestamp with all of {','.join(symbols[1:])} "
            f"in the period; nothing to train or simulate on"
        )
    frame = joined.reset_index()
    return Dataset(
        frame=frame,
        set_hash=primary.set_hash,
        tickers=tuple(symbols),
        primary_rows=len(primary.frame),
        dropped=dropped,
    )
