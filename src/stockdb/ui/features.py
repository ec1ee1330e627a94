"""Features page: definitions with versions, stale partitions per symbol, a preview table,
a chart of any feature and a rebuild button."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st

from stockdb.ui.charts import line_figure, to_frame
from stockdb.ui.client import ApiClient, ApiError
from stockdb.ui.format import TZ_LABEL, human_time, human_times, table
from stockdb.ui.widgets import follow_job, guarded, show_error, start_job

__all__ = [
    "REBUILD_KEY",
    "corporate_action_stale",
    "definition_rows",
    "feature_columns",
    "render",
    "staleness_rows",
]

REBUILD_KEY = "features-rebuild-job"
_NOT_FEATURES = frozenset(
    {"ts", "symbol", "open", "high", "low", "close", "volume", "trade_count", "vwap"}
)


def definition_rows(overview: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per feature definition: name, version, params, warm-up, columns, code ref."""
    return [
        {
            "name": d["name"],
            "version": d["version"],
            "params": ", ".join(f"{k}={v}" for k, v in sorted(d.get("params", {}).items())),
            "warmup_bars": d.get("warmup"),
            "columns": ", ".join(d.get("columns", [])),
            "code_ref": d.get("code_ref"),
        }
        for d in overview.get("definitions", [])
    ]


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def staleness_rows(overview: dict[str, Any], symbols: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per symbol with bars: how much of its whole history has current features
    (``current_partitions`` of ``sessions_with_bars``), how many partitions look stale, and
    its latest build (``last_build_wrote`` is what that build wrote, often a few sessions).

    When the API reports stale partitions (``overview["stale"]``, per symbol with counts by
    reason such as ``corporate_action``), those counts are shown. Otherwise: all sessions with
    bars are stale when the latest build used another feature set (or there is none), else
    those the build did not cover. ``bars_changed`` flags bars fetched after the build (their
    partitions are rebuilt by the next incremental build).
    """
    stale_rows = overview.get("stale", [])
    reported = {r["symbol"]: r for r in stale_rows if r.get("timeframe", "1Min") == "1Min"}
    current = overview.get("set_hash")
    latest: dict[str, dict[str, Any]] = {}
    for build in overview.get("builds", []):
        seen = latest.get(build["symbol"])
        if seen is None or str(build["built_at"]) > str(seen["built_at"]):
            latest[build["symbol"]] = build
    rows = []
    for s in symbols:
        with_bars = sum(int(s.get(k) or 0) for k in ("complete", "partial", "in_progress"))
        build = latest.get(s["symbol"])
        if build is None or build.get("set_hash") != current:
            stale = with_bars
        else:
            stale = max(0, with_bars - int(build.get("partitions") or 0))
        reasons = ""
        if "stale" in overview:
            server = reported.get(s["symbol"], {})
            stale = int(server.get("stale_partitions", 0))
            counts = server.get("reasons", {})
            reasons = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(counts.items()))
        built_at = _instant(build.get("built_at")) if build else None
        fetched_at = _instant(s.get("last_fetched_at"))
        changed = built_at is not None and fetched_at is not None and fetched_at > built_at
        fresh = max(0, with_bars - stale) if build else 0
        rows.append(
            {
                "symbol": s["symbol"],
                "sessions_with_bars": with_bars,
                "current_partitions": fresh,
                "coverage_%": round(100.0 * fresh / with_bars, 1) if with_bars else 0.0,
                "stale_partitions": stale,
                "stale_reasons": reasons,
                "bars_changed_since_build": changed,
                "current_set": bool(build) and build.get("set_hash") == current,
                "built_at": human_time(build.get("built_at")) if build else "",
                "last_build_wrote": int(build.get("partitions") or 0) if build else 0,
                "features_until": human_time(build.get("last_ts")) if build else "",
            }
        )
    return rows


def corporate_action_stale(overview: dict[str, Any]) -> str:
    """``"AAPL (120 partitions), NVDA (3 partitions)"`` for symbols whose features are stale
    because of a new split; empty when none."""
    hits = [
        f"{r['symbol']} ({r['reasons']['corporate_action']} partitions)"
        for r in overview.get("stale", [])
        if r.get("reasons", {}).get("corporate_action")
    ]
    return ", ".join(hits)


def feature_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The feature columns of feature rows (the bar columns and ``ts`` left out)."""
    if not rows:
        return []
    return [c for c in rows[0] if c not in _NOT_FEATURES]


def _rebuild(api: ApiClient, names: list[str]) -> None:
    with st.form("rebuild-form"):
        chosen = st.multiselect("Symbols (none: every symbol)", names, key="rebuild-symbols")
        full = st.checkbox("Full rebuild (not incremental)", key="rebuild-full")
        submitted = st.form_submit_button("Rebuild features", type="primary")
    if submitted:
        try:
            start_job(REBUILD_KEY, api.rebuild_features(list(chosen), full))
        except ApiError as exc:
            show_error(exc, "Queueing the feature build")
    follow_job(api, REBUILD_KEY)


def render(api: ApiClient) -> None:
    """The Features page."""
    st.title("Features")
    overview = guarded("Reading the feature definitions", api.features_overview)
    if overview is None:
        return
    st.caption(f"Feature set {overview.get('set_hash', '')[:16]}")
    st.subheader("Definitions")
    st.dataframe(table(definition_rows(overview)), hide_index=True)
    symbols = guarded("Reading the symbols", api.symbols) or []
    names = [s["symbol"] for s in symbols]
    st.subheader("Builds and stale partitions")
    if names:
        split_stale = corporate_action_stale(overview)
        if split_stale:
            st.warning(f"stale after a corporate action: {split_stale}", icon=":material/warning:")
        first = ["symbol", "coverage_%", "current_partitions", "sessions_with_bars"]
        first += ["stale_partitions", "stale_reasons", "built_at"]
        st.dataframe(table(staleness_rows(overview, symbols), first=first), hide_index=True)
    else:
        st.info("No symbols yet: queue an ingest on the Data page.")
    _rebuild(api, names)
    if not names:
        return
    st.subheader("Preview")
    left, right = st.columns([2, 1])
    symbol = left.selectbox("Symbol", names, key="features-symbol")
    limit = int(right.number_input("Latest rows", 10, 20_000, 500, key="features-limit"))
    try:
        rows = api.features(symbol, limit=limit)
    except ApiError as exc:
        if exc.not_found:
            st.info(f"No features stored for {symbol} yet: rebuild them above.")
        else:
            show_error(exc, f"Reading the features of {symbol}")
        return
    columns = feature_columns(rows)
    frame = to_frame(rows)
    if frame.empty or not columns:
        st.info(f"No features stored for {symbol} yet: rebuild them above.")
        return
    shown = st.multiselect("Chart", columns, default=columns[:1], key="features-chart-cols")
    if shown:
        st.plotly_chart(line_figure(frame, shown, f"{symbol} features"), key="features-chart")
    preview = frame.copy()
    preview.insert(0, f"time ({TZ_LABEL})", human_times(preview.pop("ts")))
    st.dataframe(table(preview), hide_index=True, height=320)
