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
    "to_frame",
    "with_local_time",
]

NEW_YORK = "America/New_York"
COVERAGE_STATUSES: tuple[str, ...] = ("complete", "partial", "empty", "missing", "error")
COVERAGE_COLORS: dict[str, str] = {
    "complete": "#2e7d32",
    "partial": "#f9a825",
    "empty": "#90a4ae",
    "missing": "#c62828",
    "error": "#6a1b9a",
}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri")


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


def _rangebreaks(timeframe: str, session: str) -> list[dict[str, Any]]:
    """Hide weekends, and the hours outside the session for intraday bars."""
    breaks: list[dict[str, Any]] = [{"bounds": ["sat", "mon"]}]
    if timeframe != "1Day":
        hours = [16, 9.5] if session == "regular" else [20, 4]
        breaks.append({"bounds": hours, "pattern": "hour"})
    return breaks


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
    fig.update_xaxes(rangebreaks=_rangebreaks(timeframe, session))
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


def line_figure(frame: pd.DataFrame, columns: Sequence[str], title: str = "") -> go.Figure:
    """One line per column of ``frame`` against New York time."""
    local = with_local_time(frame)
    fig = go.Figure()
    for column in columns:
        fig.add_trace(go.Scatter(x=local["time"], y=local[column], mode="lines", name=column))
    fig.update_layout(title=title, height=380, margin={"l": 40, "r": 20, "t": 40, "b": 30})
    return fig


def drawdown(equity: pd.Series) -> pd.Series:
    """Drawdown from the running peak, as a fraction (0 at a new high, negative below it)."""
    values = equity.astype("float64")
    return values / values.cummax() - 1.0


def equity_figure(equity: pd.DataFrame, title: str = "") -> go.Figure:
    """The strategy's equity against buy-and-hold on one chart."""
    local = with_local_time(equity)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=local["time"], y=local["equity"], mode="lines", name="strategy"))
    fig.add_trace(
        go.Scatter(x=local["time"], y=local["benchmark_equity"], mode="lines", name="buy and hold")
    )
    fig.update_layout(title=title, height=400, margin={"l": 40, "r": 20, "t": 40, "b": 30})
    fig.update_yaxes(title_text="equity")
    return fig


def drawdown_figure(equity: pd.DataFrame) -> go.Figure:
    """Drawdowns of the strategy and of buy-and-hold, in percent."""
    local = with_local_time(equity)
    fig = go.Figure()
    for column, name in (("equity", "strategy"), ("benchmark_equity", "buy and hold")):
        fig.add_trace(
            go.Scatter(
                x=local["time"],
                y=drawdown(local[column]) * 100.0,
                mode="lines",
                fill="tozeroy",
                name=name,
            )
        )
    fig.update_layout(title="drawdown", height=280, margin={"l": 40, "r": 20, "t": 40, "b": 30})
    fig.update_yaxes(title_text="%")
    return fig
