"""Universe page: every symbol's coverage as symbols x months, and several symbols' daily
closes compared on one chart. Built for hundreds of symbols: one request for the symbols,
one for the heatmap's cells, one per compared symbol (at most eight)."""

from __future__ import annotations

from functools import partial
from typing import Any

import streamlit as st

from stockdb.ui.client import ApiClient
from stockdb.ui.universe import (
    HEATMAP_ROWS,
    compare_figure,
    compare_frame,
    filter_symbols,
    month_heatmap,
    symbols_picker,
)
from stockdb.ui.widgets import guarded

__all__ = ["render"]


def _heatmap(api: ApiClient, names: list[str]) -> None:
    st.subheader("Coverage by month")
    query = st.text_input("Search symbols", key="universe-search", placeholder="e.g. AA, MS")
    matches = filter_symbols(names, query)
    if not matches:
        st.info(f"No symbol matches {query!r}.")
        return
    cells = guarded("Reading the coverage by month", api.month_coverage)
    if cells is None:
        return
    shown = matches[:HEATMAP_ROWS]
    st.caption(
        f"{len(shown)} of {len(matches)} matching symbols (of {len(names)}); colour: share "
        "of the month's stored sessions that are complete"
        + ("; search to see others" if len(shown) < len(matches) else "")
    )
    st.plotly_chart(month_heatmap(cells, shown), key="universe-heatmap")


def _compare(api: ApiClient, names: list[str]) -> None:
    st.subheader("Compare daily closes")
    chosen = symbols_picker("Symbols to compare", names, key="compare-symbols")
    rebase = st.toggle("Rebase to 100 at the first common session", True, key="compare-rebase")
    if not chosen:
        st.info("Pick one or more symbols to compare.")
        return
    closes: dict[str, list[dict[str, Any]]] = {}
    for symbol in chosen:
        rows = guarded(
            f"Reading the daily bars of {symbol}", partial(api.bars, symbol, timeframe="1Day")
        )
        if rows is None:
            return
        closes[symbol] = rows
    frame = compare_frame(closes, rebase)
    if frame.empty:
        st.info("No daily bars stored for these symbols.")
        return
    st.plotly_chart(compare_figure(frame, rebase), key="compare-chart")


def render(api: ApiClient) -> None:
    """The Universe page."""
    st.title("Universe")
    symbols = guarded("Reading the symbols", api.symbols)
    if symbols is None:
        return
    if not symbols:
        st.info("No symbols yet: queue an ingest on the Data page.")
        return
    names = [str(s["symbol"]) for s in symbols]
    _heatmap(api, names)
    _compare(api, names)
