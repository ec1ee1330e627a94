"""Data page: queue an ingest and follow it, the symbols with their coverage, and a
per-session coverage heatmap."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import streamlit as st

from stockdb.clock import SystemClock
from stockdb.ui.charts import COVERAGE_STATUSES, coverage_heatmap
from stockdb.ui.client import ApiClient, ApiError
from stockdb.ui.format import human_time, table
from stockdb.ui.universe import filter_symbols, symbol_picker
from stockdb.ui.widgets import follow_job, guarded, show_error, start_job

__all__ = [
    "INGEST_KEY",
    "coverage_counts",
    "default_ingest_range",
    "heatmap_range",
    "render",
    "symbol_rows",
]

INGEST_KEY = "data-ingest-job"


def default_ingest_range(today: date) -> tuple[date, date]:
    """The form's default dates: the week up to ``today``."""
    return today - timedelta(days=7), today


def symbol_rows(symbols: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The symbols table: share of complete sessions, date span and last fetch first (the
    fields people look for), then the counts by status."""
    rows = []
    for s in symbols:
        sessions = int(s.get("sessions") or 0)
        complete = int(s.get("complete") or 0)
        rows.append(
            {
                "symbol": s["symbol"],
                "coverage_%": round(100.0 * complete / sessions, 1) if sessions else 0.0,
                "first_session": s.get("first_session"),
                "last_session": s.get("last_session"),
                "last_fetched": human_time(s.get("last_fetched_at")),
                "tracked": "live" if s.get("tracked") else "",
                "provider": s.get("provider"),
                "sessions": sessions,
                "complete": complete,
                "partial": int(s.get("partial") or 0),
                "in_progress": int(s.get("in_progress") or 0),
                "empty": int(s.get("empty") or 0),
                "error": int(s.get("error") or 0),
                "rows": int(s.get("rows") or 0),
            }
        )
    return rows


def heatmap_range(summary: dict[str, Any]) -> tuple[date | None, date | None]:
    """The heatmap's default span: the symbol's first to last fetched session (None when
    unknown, which lets the API pick)."""
    first, last = summary.get("first_session"), summary.get("last_session")
    return (
        date.fromisoformat(str(first)) if first else None,
        date.fromisoformat(str(last)) if last else None,
    )


def coverage_counts(gaps: list[dict[str, Any]]) -> dict[str, int]:
    """Sessions per coverage status (every status present, zero when absent)."""
    counts = dict.fromkeys(COVERAGE_STATUSES, 0)
    for row in gaps:
        counts[str(row["status"])] = counts.get(str(row["status"]), 0) + 1
    return counts


def _ingest_form(api: ApiClient) -> None:
    first, last = default_ingest_range(SystemClock().now().date())
    with st.form("ingest-form"):
        ticker, start_col, end_col = st.columns([2, 2, 2])
        symbol = ticker.text_input("Ticker", placeholder="SPY", key="ingest-symbol")
        start = start_col.date_input("First session", value=first, key="ingest-start")
        end = end_col.date_input("Last session", value=last, key="ingest-end")
        submitted = st.form_submit_button("Queue ingest", type="primary")
    if submitted:
        name = symbol.strip().upper()
        if not name:
            st.error("Type a ticker first, e.g. SPY.")
        else:
            try:
                job = api.ingest(
                    name,
                    start if isinstance(start, date) else None,
                    end if isinstance(end, date) else None,
                )
            except ApiError as exc:
                show_error(exc, f"Queueing the ingest of {name}")
            else:
                start_job(INGEST_KEY, job)
    finished = follow_job(api, INGEST_KEY)
    result = (finished or {}).get("result") or {}
    if finished and finished.get("status") == "succeeded" and result:
        st.caption(
            f"{result.get('provider')}: {result.get('sessions_fetched', 0)} sessions fetched, "
            f"{result.get('sessions_skipped', 0)} skipped, "
            f"{result.get('rows_written', 0)} rows written"
        )


def render(api: ApiClient) -> None:
    """The Data page."""
    st.title("Data")
    st.subheader("Ingest")
    _ingest_form(api)
    st.subheader("Symbols")
    symbols = guarded("Reading the symbols", api.symbols)
    if symbols is None:
        return
    if not symbols:
        st.info("No symbols yet: queue an ingest above.")
        return
    by_name = {s["symbol"]: s for s in symbols}
    query = st.text_input("Search symbols", key="symbols-search", placeholder="e.g. AA, MS")
    matches = set(filter_symbols(list(by_name), query))
    shown = [s for s in symbols if s["symbol"] in matches]
    if len(shown) < len(symbols):
        st.caption(f"{len(shown)} of {len(symbols)} symbols match {query!r}")
    st.dataframe(table(symbol_rows(shown)), hide_index=True)
    st.subheader("Coverage by session")
    pick, since, until = st.columns([2, 2, 2])
    with pick:
        chosen = symbol_picker("Symbol", list(by_name), key="coverage-symbol")
    if chosen is None:
        return
    first, last = heatmap_range(by_name[chosen])
    start = since.date_input("From", value=first, key=f"coverage-start-{chosen}")
    end = until.date_input("To", value=last, key=f"coverage-end-{chosen}")
    gaps = guarded(
        f"Reading the sessions of {chosen}",
        lambda: api.gaps(
            chosen,
            start if isinstance(start, date) else None,
            end if isinstance(end, date) else None,
        ),
    )
    if gaps is None:
        return
    counts = coverage_counts(gaps)
    for column, (status, count) in zip(st.columns(len(counts)), counts.items(), strict=True):
        column.metric(status, count)
    st.plotly_chart(coverage_heatmap(gaps, f"{chosen} sessions"), key="coverage-heatmap")
