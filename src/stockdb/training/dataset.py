"""Multi-ticker, multi-timeframe training dataset.

Each ticker's 1-minute feature rows are the spine. Features of a higher timeframe (5Min,
15Min, 1Hour, 1Day) join a 1-minute row only once their bar has closed: the source gives each
higher-timeframe row the instant it becomes available (``available_at``: an intraday bar's
end, or for 1Day the extended open of the next session), and a 1-minute row starting at ``t``
takes the latest row available at or before ``t`` (``sma_20_1Day`` is the 20-day SMA as of
the previous session's close). So no joined value at or before ``t`` depends on a bar after
``t``. Context tickers then join the primary on exact timestamps (inner join, ``_{TICKER}``
suffix).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import pandas as pd

from stockdb.errors import Conflict, DataIntegrityError, InvalidInput, NotFound
from stockdb.symbols import normalize_symbol

__all__ = [
    "AVAILABLE_COLUMN",
    "JOIN_TIMEFRAMES",
    "Dataset",
    "FeatureFrame",
    "FeatureSource",
    "build_dataset",
    "join_timeframes",
    "normalize_frame",
    "timeframes_of",
]

# Columns a feature frame may carry that are not numbers to learn from.
_NON_FEATURE_COLUMNS = ("symbol",)
AVAILABLE_COLUMN = "available_at"
"""In a higher-timeframe frame: the UTC instant from which a row may be used (its bar closed)."""
JOIN_TIMEFRAMES: tuple[str, ...] = ("5Min", "15Min", "1Hour", "1Day")
_SUFFIX = re.compile(r"_(" + "|".join(JOIN_TIMEFRAMES) + r")(?=_|$)")


@dataclass(frozen=True)
class FeatureFrame:
    """One symbol's wide feature rows (``ts`` first, sorted) and the feature-set hash."""

    frame: pd.DataFrame
    set_hash: str


class FeatureSource(Protocol):
    """Where training and simulation read features; the feature store is adapted to this."""

    def load(
        self, symbol: str, start: date | None, end: date | None, timeframe: str = "1Min"
    ) -> FeatureFrame:
        """Feature rows of ``symbol`` at ``timeframe`` for the session dates ``start`` to
        ``end`` inclusive. A higher timeframe's frame carries :data:`AVAILABLE_COLUMN` and
        may start a few sessions before ``start`` (so the first minutes see the last closed bar).

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


def _load(
    source: FeatureSource,
    symbol: str,
    start: date | None,
    end: date | None,
    timeframe: str = "1Min",
) -> FeatureFrame:
    try:
        loaded = (
            source.load(symbol, start, end)
            if timeframe == "1Min"
            else (source.load(symbol, start, end, timeframe))
        )
    except NotFound as exc:
        raise NotFound(f"no {timeframe} feature rows for {symbol} in the period: {exc}") from exc
    if loaded.frame.empty:
        raise NotFound(
            f"no {'' if timeframe == '1Min' else timeframe + ' '}feature rows for {symbol} "
            f"between {start or 'the start'} and {end or 'the end'}; build its features first"
        )
    return FeatureFrame(normalize_frame(loaded.frame, symbol), loaded.set_hash)


def timeframes_of(columns: Sequence[str]) -> tuple[str, ...]:
    """The higher timeframes that feature ``columns`` (``rsi_14_1Day``, ``sma_5_1Hour_SPY``)
    come from, in :data:`JOIN_TIMEFRAMES` order."""
    found = {m.group(1) for c in columns for m in _SUFFIX.finditer(c)}
    return tuple(tf for tf in JOIN_TIMEFRAMES if tf in found)


def join_timeframes(minute: pd.DataFrame, higher: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``minute`` (1-minute rows sorted by ``ts``) with every column of each higher-timeframe
    frame suffixed ``_{timeframe}``, taken from that frame's latest row whose
    :data:`AVAILABLE_COLUMN` is at or before the minute's ``ts`` (NaN before the first). Pure.

    Raises DataIntegrityError when a higher-timeframe frame has no availability column.
    """
    out = minute
    for timeframe, frame in higher.items():
        if AVAILABLE_COLUMN not in frame.columns:
            raise DataIntegrityError(f"{timeframe} feature rows carry no {AVAILABLE_COLUMN}")
        right = frame.dropna(subset=[AVAILABLE_COLUMN]).drop(columns=["ts"])
        right = right.sort_values(AVAILABLE_COLUMN, kind="stable")
        names = {c: f"{c}_{timeframe}" for c in right.columns if c != AVAILABLE_COLUMN}
        # float64 throughout, so a column's dtype does not depend on whether the period
        # starts before the first higher-timeframe row (NaN) or after it
        right = right.astype({c: "float64" for c in names}).rename(columns=names)
        right[AVAILABLE_COLUMN] = right[AVAILABLE_COLUMN].astype(out["ts"].dtype)
        out = pd.merge_asof(
            out,
            right,
            left_on="ts",
            right_on=AVAILABLE_COLUMN,
            direction="backward",
            allow_exact_matches=True,
        ).drop(columns=[AVAILABLE_COLUMN])
    return out.copy()  # one block per dtype, not one per joined column


def _ticker_frame(
    source: FeatureSource,
    symbol: str,
    start: date | None,
    end: date | None,
    timeframes: Sequence[str],
) -> FeatureFrame:
    """One ticker's 1-minute rows with its higher-timeframe features joined (see module doc)."""
    minute = _load(source, symbol, start, end)
    higher: dict[str, pd.DataFrame] = {}
    for timeframe in timeframes:
        loaded = _load(source, symbol, start, end, timeframe)
        higher[timeframe] = loaded.frame
    if not higher:
        return minute
    return FeatureFrame(join_timeframes(minute.frame, higher), minute.set_hash)


def build_dataset(
    source: FeatureSource,
    tickers: Sequence[str],
    start: date | None = None,
    end: date | None = None,
    timeframes: Sequence[str] = (),
) -> Dataset:
    """Join the context tickers' features to the primary's on exact timestamps (inner join).

    The first ticker is the primary: its columns keep their names. Every other ticker's
    columns are suffixed ``_{TICKER}`` (``close_SPY``). ``timeframes`` (of
    :data:`JOIN_TIMEFRAMES`) add each ticker's features at those timeframes, suffixed
    ``_{timeframe}`` (``rsi_14_1Day``, ``rsi_14_1Day_SPY``) and joined without look-ahead
    (module docstring). ``dropped[T]`` counts the primary rows that context ticker ``T`` has
    no bar for. Raises InvalidInput for bad or repeated tickers or timeframes or when the
    join leaves no rows, NotFound when a ticker has no rows in the period, and Conflict when
    the tickers' features come from different feature sets.
    """
    if not tickers:
        raise InvalidInput("give at least one ticker")
    unknown = [tf for tf in timeframes if tf not in JOIN_TIMEFRAMES]
    if unknown or len(set(timeframes)) != len(timeframes):
        raise InvalidInput(
            f"timeframes must be distinct ones of {', '.join(JOIN_TIMEFRAMES)}, not "
            f"{', '.join(timeframes)}"
        )
    symbols = [normalize_symbol(t) for t in tickers]
    if len(set(symbols)) != len(symbols):
        raise InvalidInput(f"tickers repeat: {','.join(symbols)}")
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"start {start} is after end {end}")
    primary = _ticker_frame(source, symbols[0], start, end, timeframes)
    if "close" not in primary.frame.columns:
        raise DataIntegrityError(f"feature rows of {symbols[0]} have no 'close' column")
    joined = primary.frame.set_index("ts")
    dropped: dict[str, int] = {}
    for symbol in symbols[1:]:
        context = _ticker_frame(source, symbol, start, end, timeframes)
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
