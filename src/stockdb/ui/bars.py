"""Bars page: candlesticks with volume at any timeframe, session toggle, feature overlays,
and the table with a download button."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from stockdb.ui.charts import NEW_YORK, candlestick_figure, to_frame
from stockdb.ui.client import ApiClient, ApiError
from stockdb.ui.format import TZ_LABEL, human_times, table
from stockdb.ui.widgets import guarded, show_error

__all__ = [
    "ADJUSTMENTS",
    "ADJUSTMENT_LABELS",
    "BOLLINGER",
    "TIMEFRAMES",
    "align_overlays",
    "bars_params",
    "overlay_choices",
    "overlay_columns",
    "render",
]

TIMEFRAMES: dict[str, int] = {"1Min": 1, "5Min": 5, "15Min": 15, "30Min": 30, "1Hour": 60}
BOLLINGER = "Bollinger"
ADJUSTMENTS: tuple[str, ...] = ("raw", "split", "dividend", "all")
ADJUSTMENT_LABELS: dict[str, str] = {
    "raw": "raw",
    "split": "split-adjusted",
    "dividend": "dividend-adjusted",
    "all": "split+dividend-adjusted",
}
_BANDS = ("bb_upper", "bb_middle", "bb_lower")
_PRICE_PREFIXES = ("sma_", "ema_")
_REGULAR_CLOSE_MINUTE = 16 * 60


def bars_params(
    timeframe: str,
    start: date | None,
    end: date | None,
    regular_only: bool,
    limit: int | None,
    adjustment: str = "raw",
) -> dict[str, Any]:
    """Query parameters of GET /bars for the page's filters (a limit only without dates;
    ``adjustment`` only when not raw)."""
    params: dict[str, Any] = {
        "timeframe": timeframe,
        "session": "regular" if regular_only else "extended",
        "start": start,
        "end": end,
    }
    if adjustment != "raw":
        params["adjustment"] = adjustment
    if start is None and end is None:
        params["limit"] = limit
    return params


def overlay_choices(definitions: Sequence[dict[str, Any]]) -> list[str]:
    """Overlays that share the price axis: each SMA/EMA column, Bollinger bands as one choice."""
    columns = [c for d in definitions for c in d.get("columns", [])]
    choices = [c for c in columns if c.startswith(_PRICE_PREFIXES)]
    if all(band in columns for band in _BANDS):
        choices.append(BOLLINGER)
    return choices


def overlay_columns(chosen: Sequence[str]) -> list[str]:
    """The feature columns the chosen overlays need (Bollinger expands to its three bands)."""
    out: list[str] = []
    for name in chosen:
        for column in _BANDS if name == BOLLINGER else (name,):
            if column not in out:
                out.append(column)
    return out


def align_overlays(
    bars: pd.DataFrame,
    features: pd.DataFrame,
    columns: Sequence[str],
    timeframe: str,
    regular_only: bool,
) -> pd.DataFrame:
    """Feature values under each bar, as of the bar's last minute.

    1-minute bars match feature rows on ``ts``; an intraday bucket takes the last feature row
    inside ``[ts, ts + width)``; a daily bar takes the last row of its New York date (before
    16:00 when ``regular_only``). Bars without such a row get NaN. Rows align with ``bars``.
    """
    wanted = [c for c in columns if c in features.columns]
    if bars.empty or features.empty or not wanted:
        return pd.DataFrame(index=bars.index, columns=list(wanted), dtype="float64")
    feats = features.loc[:, ["ts", *wanted]].sort_values("ts")
    if timeframe == "1Day":
        local = feats["ts"].dt.tz_convert(NEW_YORK)
        if regular_only:
            minute = local.dt.hour * 60 + local.dt.minute
            feats = feats[minute < _REGULAR_CLOSE_MINUTE]
            local = local[minute < _REGULAR_CLOSE_MINUTE]
        last = feats.assign(day=local.dt.date).groupby("day").last()
        days = bars["ts"].dt.tz_convert(NEW_YORK).dt.date
        out = last.reindex(days.to_numpy())[wanted]
        out.index = bars.index
        return out.astype("float64")
    width = pd.Timedelta(minutes=TIMEFRAMES.get(timeframe, 1))
    left = pd.DataFrame({"ts": bars["ts"], "probe": bars["ts"] + width - pd.Timedelta(1, "us")})
    left["order"] = range(len(left))
    merged = pd.merge_asof(
        left.sort_values("probe"),
        feats.rename(columns={"ts": "feature_ts"}),
        left_on="probe",
        right_on="feature_ts",
        direction="backward",
    )
    inside = merged["feature_ts"] >= merged["ts"]
    merged.loc[~inside, wanted] = float("nan")
    out = merged.sort_values("order")[wanted]
    out.index = bars.index
    return out.astype("float64")


def _read_overlays(
    api: ApiClient, symbol: str, bars: pd.DataFrame, chosen: list[str], tf: str, regular: bool
) -> pd.DataFrame | None:
    columns = overlay_columns(chosen)
    if not columns or bars.empty:
        return None
    days = bars["ts"].dt.tz_convert(NEW_YORK).dt.date
    try:
        rows = api.features(
            symbol, start=days.min(), end=days.max(), columns=",".join(columns), limit=None
        )
    except ApiError as exc:
        show_error(exc, f"Reading the features of {symbol} (build them on the Features page)")
        return None
    return align_overlays(bars, to_frame(rows), columns, tf, regular)


def render(api: ApiClient) -> None:
    """The Bars page."""
    st.title("Bars")
    symbols = guarded("Reading the symbols", api.symbols)
    if symbols is None:
        return
    if not symbols:
        st.info("No symbols yet: queue an ingest on the Data page.")
        return
    names = [s["symbol"] for s in symbols]
    top = st.columns([2, 2, 2, 2, 2])
    symbol = top[0].selectbox("Symbol", names, key="bars-symbol")
    timeframe = top[1].selectbox("Timeframe", [*TIMEFRAMES, "1Day"], key="bars-timeframe")
    start = top[2].date_input("From", value=None, key="bars-start")
    end = top[3].date_input("To", value=None, key="bars-end")
    limit = int(top[4].number_input("Latest N (no dates)", 10, 100_000, 1000, key="bars-limit"))
    left, right = st.columns([2, 3])
    regular = left.toggle("Regular hours only", value=False, key="bars-regular")
    adjustment = str(
        right.segmented_control(
            "Prices",
            ADJUSTMENTS,
            default="raw",
            format_func=lambda a: ADJUSTMENT_LABELS[a],
            key="bars-adjustment",
        )
        or "raw"
    )
    overview = guarded("Reading the feature definitions", api.features_overview) or {}
    chosen = st.multiselect(
        "Overlays", overlay_choices(overview.get("definitions", [])), key="bars-overlays"
    )
    params = bars_params(
        timeframe,
        start if isinstance(start, date) else None,
        end if isinstance(end, date) else None,
        regular,
        limit,
        adjustment,
    )
    rows = guarded(f"Reading the bars of {symbol}", lambda: api.bars(symbol, **params))
    if rows is None:
        return
    bars = to_frame(rows)
    if bars.empty:
        st.info(f"No {timeframe} bars of {symbol} in this range.")
        return
    overlays = _read_overlays(api, symbol, bars, chosen, timeframe, regular)
    session = "regular" if regular else "all"
    title = f"{symbol} {timeframe} ({len(bars)} bars, {ADJUSTMENT_LABELS[adjustment]} prices)"
    st.plotly_chart(candlestick_figure(bars, overlays, title, timeframe, session), key="bars-chart")
    shown = bars.copy()
    shown.insert(0, f"time ({TZ_LABEL})", human_times(shown.pop("ts")))
    st.dataframe(table(shown), hide_index=True, height=320)
    download = bars.copy()
    download["ts"] = download["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    st.download_button(
        "Download CSV",
        download.to_csv(index=False).encode("utf-8"),
        file_name=f"{symbol}_{timeframe}.csv",
        mime="text/csv",
        key="bars-download",
    )
