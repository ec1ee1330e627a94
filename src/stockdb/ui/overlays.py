"""Feature overlays computed at the chart's own timeframe (never a 1-minute SMA on a daily chart).

Features are built at 1Min, 5Min, 15Min, 1Hour and 1Day over the same bars the chart shows
(intraday buckets over the extended hours, 1Day over the regular session, split-adjusted). An
overlay value belongs to the bar with the same ``ts``; a chart at another timeframe (30Min)
or with no features built at its timeframe gets no overlay and a note saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from stockdb.ui.charts import NEW_YORK, to_frame
from stockdb.ui.client import ApiClient, ApiError

__all__ = ["OVERLAY_TIMEFRAMES", "match_overlays", "overlay_note", "read_overlays"]

OVERLAY_TIMEFRAMES: tuple[str, ...] = ("1Min", "5Min", "15Min", "1Hour", "1Day")


def match_overlays(
    bars: pd.DataFrame, features: pd.DataFrame, columns: Sequence[str]
) -> pd.DataFrame:
    """``columns`` of the feature row with each bar's exact ``ts`` (NaN where none), aligned
    row by row with ``bars``. Both frames are of one timeframe."""
    wanted = [c for c in columns if c in features.columns]
    if bars.empty or features.empty or not wanted:
        return pd.DataFrame(index=bars.index, columns=list(wanted), dtype="float64")
    by_ts = features.loc[:, ["ts", *wanted]].drop_duplicates("ts").set_index("ts")
    out = by_ts.reindex(pd.DatetimeIndex(bars["ts"]))[wanted]
    out.index = bars.index
    return out.astype("float64")


def overlay_note(timeframe: str, symbol: str) -> str | None:
    """Why a chart at ``timeframe`` has no overlay, when features are never built at it."""
    if timeframe in OVERLAY_TIMEFRAMES:
        return None
    return (
        f"No overlays on a {timeframe} chart: features are built at "
        f"{', '.join(OVERLAY_TIMEFRAMES)}; pick one of those to overlay {symbol}'s indicators."
    )


def read_overlays(
    api: ApiClient, symbol: str, bars: pd.DataFrame, columns: Sequence[str], timeframe: str
) -> tuple[pd.DataFrame | None, str | None]:
    """The overlay columns for ``bars`` from ``symbol``'s features at ``timeframe``, or None
    and a one-line note (not built at that timeframe, or not built yet). Raises ApiError for
    any other API failure."""
    if not columns or bars.empty:
        return None, None
    note = overlay_note(timeframe, symbol)
    if note is not None:
        return None, note
    days: pd.Series[date] = bars["ts"].dt.tz_convert(NEW_YORK).dt.date
    try:
        rows = api.features(
            symbol,
            start=days.min(),
            end=days.max(),
            columns=",".join(columns),
            limit=None,
            timeframe=timeframe,
        )
    except ApiError as exc:
        if exc.status != 404:
            raise
        return None, (
            f"No {timeframe} features of {symbol} yet: build them with "
            f"`stockdb features build {symbol} --timeframe {timeframe}` "
            f"(the Features page rebuild keeps them current afterwards)."
        )
    return match_overlays(bars, to_frame(rows), columns), None
