"""Many-symbol views: symbol search, the symbols x months coverage heatmap and the compare
chart of several symbols' daily closes. Pure figure and filter builders first (no Streamlit,
no HTTP), then the Streamlit pickers the pages share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from stockdb.ui.charts import NEW_YORK

__all__ = [
    "HEATMAP_ROWS",
    "PICKER_OPTIONS",
    "compare_figure",
    "compare_frame",
    "filter_symbols",
    "month_grid",
    "month_heatmap",
    "symbol_picker",
    "symbols_picker",
]

PICKER_OPTIONS = 200
"""A picker lists at most this many matches of its search (type more to narrow)."""
HEATMAP_ROWS = 60
"""Symbols the symbols x months heatmap draws at once (the first matches of the search)."""
_STATUSES = ("complete", "partial", "in_progress", "empty", "error")


def filter_symbols(names: Sequence[str], query: str) -> list[str]:
    """``names`` containing ``query`` (case-insensitive), those starting with it first; every
    name for a blank query. Several comma- or space-separated terms match any of them."""
    terms = [t for t in query.upper().replace(",", " ").split() if t]
    if not terms:
        return list(names)
    hits = [n for n in names if any(t in n.upper() for t in terms)]
    return sorted(hits, key=lambda n: (not any(n.upper().startswith(t) for t in terms), n))


def month_grid(
    rows: Sequence[Mapping[str, Any]], symbols: Sequence[str]
) -> tuple[list[str], list[str], list[list[float | None]], list[list[str]]]:
    """(months, symbols, z, hover text): z is the share of complete sessions of a symbol in
    a month (None where nothing is stored); only ``symbols`` rows, in their order."""
    wanted = {s: i for i, s in enumerate(symbols)}
    cells = [r for r in rows if r["symbol"] in wanted]
    months = sorted({str(r["month"]) for r in cells})
    column = {m: j for j, m in enumerate(months)}
    z: list[list[float | None]] = [[None] * len(months) for _ in symbols]
    text: list[list[str]] = [[""] * len(months) for _ in symbols]
    for r in cells:
        i, j = wanted[r["symbol"]], column[str(r["month"])]
        sessions = int(r["sessions"])
        z[i][j] = int(r["complete"]) / sessions if sessions else None
        counts = ", ".join(f"{int(r.get(s, 0))} {s}" for s in _STATUSES if int(r.get(s, 0)))
        text[i][j] = f"{r['symbol']} {r['month']}: {sessions} sessions ({counts})"
    return months, list(symbols), z, text


def month_heatmap(rows: Sequence[Mapping[str, Any]], symbols: Sequence[str]) -> go.Figure:
    """Symbols (rows) x months (columns), coloured by the share of complete sessions."""
    x, y, z, text = month_grid(rows, symbols)
    fig = go.Figure(
        go.Heatmap(
            x=x,
            y=y,
            z=z,
            text=text,
            hoverinfo="text",
            zmin=0.0,
            zmax=1.0,
            colorscale=[[0.0, "#c62828"], [0.5, "#f9a825"], [1.0, "#2e7d32"]],
            xgap=1,
            ygap=1,
            colorbar={"title": "complete", "tickformat": ".0%"},
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", title_text="month")
    height = max(200, 60 + 18 * len(y))
    fig.update_layout(height=height, margin={"l": 60, "r": 20, "t": 20, "b": 40})
    return fig


def compare_frame(closes: Mapping[str, Sequence[Mapping[str, Any]]], rebase: bool) -> pd.DataFrame:
    """Daily closes of several symbols side by side (index: New York session date, one
    column per symbol). With ``rebase``, each column is scaled to 100 at the first session
    that every symbol has."""
    columns: dict[str, pd.Series] = {}
    for symbol, rows in closes.items():
        if not rows:
            continue
        frame = pd.DataFrame(list(rows))
        days = pd.to_datetime(frame["ts"], utc=True, format="ISO8601").dt.tz_convert(NEW_YORK)
        index = pd.DatetimeIndex(days.dt.tz_localize(None).dt.normalize(), name="session")
        columns[symbol] = pd.Series(frame["close"].astype(float).to_numpy(), index=index)
    out = pd.DataFrame(columns).sort_index()
    if rebase and not out.empty:
        common = out.dropna()
        if not common.empty:
            out = out / common.iloc[0] * 100.0
    return out


def compare_figure(frame: pd.DataFrame, rebase: bool) -> go.Figure:
    """One line per symbol column of :func:`compare_frame`."""
    fig = go.Figure()
    for symbol in frame.columns:
        fig.add_trace(go.Scatter(x=frame.index, y=frame[symbol], name=str(symbol), mode="lines"))
    fig.update_yaxes(title_text="close, first common session = 100" if rebase else "close")
    fig.update_xaxes(title_text="session (New York)")
    fig.update_layout(height=380, margin={"l": 50, "r": 20, "t": 20, "b": 40})
    return fig


def symbol_picker(label: str, names: Sequence[str], key: str) -> str | None:
    """A search box and a select box of its first :data:`PICKER_OPTIONS` matches (``key``
    is the select box's key, ``key-search`` the search box's). None when nothing matches."""
    query = st.text_input(f"Search {label.lower()}s", key=f"{key}-search", placeholder="e.g. AA")
    matches = filter_symbols(names, query)
    if not matches:
        st.caption(f"No symbol matches {query!r}.")
        return None
    shown = matches[:PICKER_OPTIONS]
    if len(shown) < len(matches):
        st.caption(f"{len(matches)} match; listing the first {len(shown)}, type more to narrow")
    chosen: str | None = st.selectbox(label, shown, key=key)
    return chosen


def symbols_picker(
    label: str, names: Sequence[str], key: str, default: int = 0, most: int = 8
) -> list[str]:
    """A search box and a multi-select of its matches (up to ``most`` picked; the first
    ``default`` names preselected)."""
    query = st.text_input(f"Search {label.lower()}", key=f"{key}-search", placeholder="e.g. AA")
    matches = filter_symbols(names, query)[:PICKER_OPTIONS]
    picked = [s for s in st.session_state.get(key, []) if s in names]
    options = [*picked, *(m for m in matches if m not in picked)]
    chosen: list[str] = st.multiselect(
        label,
        options,
        default=None if key in st.session_state else list(names[:default]),
        max_selections=most,
        key=key,
    )
    return chosen
