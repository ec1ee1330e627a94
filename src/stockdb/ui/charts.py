"""Plotly figures the pages draw, built from plain frames (no Streamlit, no HTTP)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "COVERAGE_COLORS",
    "COVERAGE_STATUSES",
    "NEW_YORK",
    "candlestick_figure",
    "coverage_grid",
    "coverage_heatmap",
    "drawdown",
    "drawdown_figure",
    "equity_figure",
    "line_figure",
    "rangebreaks_for",
    "to_frame",
    "with_local_time",
]

NEW_YORK = "America/New_York"
COVERAGE_STATUSES: tuple[str, ...] = (
    "complete",
    "partial",
    "empty",
    "missing",
    "error",
    "in_progress",
)
COVERAGE_COLORS: dict[str, str] = {
    "complete": "#2e7d32",
    "partial": "#f9a825",
    "in_progress": "#64b5f6",
    "empty": "#90a4ae",
    "missing": "#c62828",
    "error": "#6a1b9a",
}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri")
TIME_AXIS = "time (New York, ET)"
STRATEGY_COLOR = "#1f77b4"  # blue
BENCHMARK_COLOR = "#ff7f0e"  # orange: never mistaken for the strategy
DRAWDOWN_COLOR = "#d62728"  # red


def to_frame(rows: Any) -> pd.DataFrame:
    """A DataFrame from JSON rows (a list of records or a dict of columns); ``ts`` parsed as
    UTC instants when present."""
    frame = pd.DataFrame(rows if rows is not None else [])
    if "ts" in frame.columns:
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    return frame


def with_local_time(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus a ``time`` column: ``ts`` as New York wall-clock time (for axes)."""
    out = frame.copy()
    out["time"] = out["ts"].dt.tz_convert(NEW_YORK).dt.tz_localize(None)
    return out


def rangebreaks_for(times: pd.Series, daily: bool = False) -> list[dict[str, Any]]:
    """Plotly rangebreaks hiding every stretch without bars, so no line or candle spans a
    night, weekend or holiday: weekends, the weekdays between the first and last point that
    have no point (holidays, missing sessions) and, for intraday points, the hours outside
    the earliest-to-latest bar of the day. ``times`` are naive New York wall-clock times."""
    breaks: list[dict[str, Any]] = [{"bounds": ["sat", "mon"]}]
    if times.empty:
        return breaks
    days = pd.DatetimeIndex(times.dt.normalize().unique())
    weekdays = pd.bdate_range(days.min(), days.max())
    missing = weekdays.difference(days)
    if len(missing):
        breaks.append({"values": [d.strftime("%Y-%m-%d") for d in missing]})
    if daily:
        return breaks
    minutes = times.dt.hour * 60 + times.dt.minute
    by_day = pd.DataFrame({"day": times.dt.normalize(), "t": times}).sort_values("t")
    steps = by_day.groupby("day")["t"].diff().dropna()
    width = int(pd.Timedelta(steps.median()).total_seconds() // 60) if len(steps) else 1
    first, last = int(minutes.min()), int(minutes.max()) + max(1, width)
    if last < 24 * 60 and first > 0:
        breaks.append({"bounds": [last / 60.0, first / 60.0], "pattern": "hour"})
    return breaks


def _rangebreaks(timeframe: str, session: str, times: pd.Series) -> list[dict[str, Any]]:
    """Hide weekends, holidays and, for intraday bars, the hours without bars."""
    del session  # the bars themselves say which hours they cover
    return rangebreaks_for(times, daily=timeframe == "1Day")


def candlestick_figure(
    bars: pd.DataFrame,
    overlays: pd.DataFrame | None = None,
    title: str = "",
    timeframe: str = "1Min",
    session: str = "all",
) -> go.Figure:
    """Candlesticks over volume bars on a shared New York time axis, with one line per column
    of ``overlays`` (aligned row by row with ``bars``)."""
    frame = with_local_time(bars)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=[0.75, 0.25]
    )
    fig.add_trace(
        go.Candlestick(
            x=frame["time"],
            open=frame["open"],
            high=frame["high"],
            low=frame["low"],
            close=frame["close"],
            name="price",
        ),
        row=1,
        col=1,
    )
    if overlays is not None:
        for column in overlays.columns:
            fig.add_trace(
                go.Scatter(
                    x=frame["time"], y=overlays[column], mode="lines", name=column, line_width=1
                ),
                row=1,
                col=1,
            )
    up = frame["close"] >= frame["open"]
    fig.add_trace(
        go.Bar(
            x=frame["time"],
            y=frame["volume"],
            name="volume",
            marker_color=np.where(up, "#26a69a", "#ef5350").tolist(),
        ),
        row=2,
        col=1,
    )
    fig.update_xaxes(rangebreaks=_rangebreaks(timeframe, session, frame["time"]))
    fig.update_xaxes(title_text=TIME_AXIS, row=2, col=1)
    fig.update_layout(
        title=title,
        xaxis_rangeslider_visible=False,
        height=620,
        margin={"l": 40, "r": 20, "t": 50, "b": 30},
        legend={"orientation": "h"},
    )
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="volume", row=2, col=1)
    return fig


def coverage_grid(
    rows: Sequence[dict[str, Any]],
) -> tuple[list[str], list[str], list[list[float | None]], list[list[str]]]:
    """Sessions laid out as a week-by-weekday grid.

    Returns (x: Monday of each week, y: weekday names, z: index of the status in
    :data:`COVERAGE_STATUSES` or None where there is no session, hover text).
    """
    if not rows:
        return [], list(_WEEKDAYS), [[] for _ in _WEEKDAYS], [[] for _ in _WEEKDAYS]
    days = [date.fromisoformat(str(r["session_date"])[:10]) for r in rows]
    first = min(days) - timedelta(days=min(days).weekday())
    weeks = (max(days) - first).days // 7 + 1
    z: list[list[float | None]] = [[None] * weeks for _ in _WEEKDAYS]
    text: list[list[str]] = [[""] * weeks for _ in _WEEKDAYS]
    for day, row in zip(days, rows, strict=True):
        status = str(row["status"])
        column = (day - first).days // 7
        z[day.weekday()][column] = float(COVERAGE_STATUSES.index(status))
        text[day.weekday()][column] = f"{day.isoformat()}: {status}, {row.get('rows', 0)} rows"
    x = [(first + timedelta(weeks=w)).isoformat() for w in range(weeks)]
    return x, list(_WEEKDAYS), z, text


def coverage_heatmap(rows: Sequence[dict[str, Any]], title: str = "") -> go.Figure:
    """Per-session coverage as a calendar heatmap with one discrete colour per status."""
    x, y, z, text = coverage_grid(rows)
    n = len(COVERAGE_STATUSES)
    scale: list[list[Any]] = []
    for i, status in enumerate(COVERAGE_STATUSES):
        scale.append([i / n, COVERAGE_COLORS[status]])
        scale.append([(i + 1) / n, COVERAGE_COLORS[status]])
    fig = go.Figure(
        go.Heatmap(
            x=x,
            y=y,
            z=z,
            text=text,
            hoverinfo="text",
            zmin=-0.5,
            zmax=n - 0.5,
            colorscale=scale,
            xgap=2,
            ygap=2,
            colorbar={
                "tickvals": list(range(n)),
                "ticktext": list(COVERAGE_STATUSES),
                "title": "status",
            },
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(type="category", title_text="week of")
    fig.update_layout(title=title, height=280, margin={"l": 40, "r": 20, "t": 40, "b": 30})
    return fig


def _time_axis(fig: go.Figure, times: pd.Series, daily: bool = False) -> None:
    fig.update_xaxes(title_text=TIME_AXIS, rangebreaks=rangebreaks_for(times, daily))


def line_figure(frame: pd.DataFrame, columns: Sequence[str], title: str = "") -> go.Figure:
    """One line per column of ``frame`` against New York time."""
    local = with_local_time(frame)
    fig = go.Figure()
    for column in columns:
        fig.add_trace(go.Scatter(x=local["time"], y=local[column], mode="lines", name=column))
    fig.update_layout(title=title, height=380, margin={"l": 40, "r": 20, "t": 40, "b": 30})
    _time_axis(fig, local["time"])
    return fig


def drawdown(equity: pd.Series) -> pd.Series:
    """Drawdown from the running peak, as a fraction (0 at a new high, negative below it)."""
    values = equity.astype("float64")
    return values / values.cummax() - 1.0


def equity_figure(equity: pd.DataFrame, title: str = "") -> go.Figure:
    """The strategy's equity (solid blue) against buy-and-hold (dashed orange) on one chart."""
    local = with_local_time(equity)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=local["time"],
            y=local["equity"],
            mode="lines",
            name="strategy",
            line={"color": STRATEGY_COLOR, "width": 2},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=local["time"],
            y=local["benchmark_equity"],
            mode="lines",
            name="buy and hold",
            line={"color": BENCHMARK_COLOR, "width": 2, "dash": "dash"},
        )
    )
    fig.update_layout(title=title, height=400, margin={"l": 40, "r": 20, "t": 40, "b": 30})
    fig.update_yaxes(title_text="equity")
    _time_axis(fig, local["time"])
    return fig


def drawdown_figure(equity: pd.DataFrame) -> go.Figure:
    """Drawdowns in percent: the strategy filled red, buy-and-hold a dashed orange line."""
    local = with_local_time(equity)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=local["time"],
            y=drawdown(local["equity"]) * 100.0,
            mode="lines",
            fill="tozeroy",
            name="strategy",
            line={"color": DRAWDOWN_COLOR, "width": 1.5},
            fillcolor="rgba(214, 39, 40, 0.25)",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=local["time"],
            y=drawdown(local["benchmark_equity"]) * 100.0,
            mode="lines",
            name="buy and hold",
            line={"color": BENCHMARK_COLOR, "width": 1.5, "dash": "dash"},
        )
    )
    fig.update_layout(title="drawdown", height=280, margin={"l": 40, "r": 20, "t": 40, "b": 30})
    fig.update_yaxes(title_text="%")
    _time_axis(fig, local["time"])
    return fig
