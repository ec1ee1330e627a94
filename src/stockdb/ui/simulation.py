"""Simulation page: replay a model against buy-and-hold; equity, drawdown, trades, metrics and
the overlap warning."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from stockdb.ui.charts import drawdown_figure, equity_figure, to_frame
from stockdb.ui.client import ApiClient, ApiError
from stockdb.ui.format import TZ_LABEL, human_time, human_times, table
from stockdb.ui.models import endpoint_missing, job_result_id
from stockdb.ui.widgets import follow_job, guarded, show_error, start_job

__all__ = [
    "FILL_MODES",
    "SIMULATE_KEY",
    "metrics_table",
    "render",
    "run_label",
    "run_params",
    "run_rows",
    "simulate_request",
    "simulation_frames",
    "stale_note",
]

SIMULATE_KEY = "simulation-job"
FILL_MODES: tuple[str, ...] = ("close", "next_open")
_SHOWN_KEY = "sim-show-id"
_SHOWN_JOB = "sim-shown-job"
_SYNCED = "sim-synced-run"
_PENDING = "sim-pending-run"


def simulate_request(
    model_id: str,
    symbol: str = "",
    start: date | None = None,
    end: date | None = None,
    cash: float = 10_000.0,
    fill: str = "close",
    fee_bps: float = 0.0,
    slippage_bps: float = 0.0,
    in_sample: bool = False,
) -> dict[str, Any]:
    """The JSON body of POST /simulate (symbol and dates left out when empty; ``in_sample``
    only when asked for, so the default run is out of sample)."""
    body: dict[str, Any] = {
        "model_id": model_id,
        "cash": float(cash),
        "fill": fill,
        "fee_bps": float(fee_bps),
        "slippage_bps": float(slippage_bps),
    }
    if symbol.strip():
        body["symbol"] = symbol.strip().upper()
    for key, value in (("start", start), ("end", end)):
        if value is not None:
            body[key] = value.isoformat()
    if in_sample:
        body["in_sample"] = True
    return body


def metrics_table(result: dict[str, Any]) -> pd.DataFrame:
    """Strategy and buy-and-hold metrics side by side, one row per metric name."""
    ours: dict[str, Any] = result.get("metrics") or {}
    bench: dict[str, Any] = result.get("benchmark_metrics") or {}
    names = list(ours) + [k for k in bench if k not in ours]
    scalar = (int, float, str, bool, type(None))
    rows = [
        {
            "metric": name,
            "strategy": ours.get(name),
            "buy_and_hold": bench.get(name),
        }
        for name in names
        if isinstance(ours.get(name), scalar) and isinstance(bench.get(name), scalar)
    ]
    frame = pd.DataFrame(rows, columns=["metric", "strategy", "buy_and_hold"])
    return frame.astype({"strategy": "object", "buy_and_hold": "object"})


def _window(params: dict[str, Any]) -> str:
    first = params.get("first_ts") or params.get("start")
    last = params.get("last_ts") or params.get("end")
    if not first:
        return ""
    return f"{human_time(first, seconds=False)} → {human_time(last, seconds=False)}"


def run_params(run: dict[str, Any]) -> dict[str, Any]:
    """What a run was asked to do: model, symbol, window, fill, costs and cash."""
    params = run.get("params") or {}
    return {
        "model": run.get("model_id"),
        "symbol": run.get("symbol"),
        "window": _window(params),
        "fill": params.get("fill"),
        "fee_bps": params.get("fee_bps"),
        "slippage_bps": params.get("slippage_bps"),
        "cash": params.get("cash"),
    }


def stale_note(run: dict[str, Any]) -> str:
    """Why a run's numbers may no longer hold ('' when they do)."""
    if run.get("stale"):
        return "its model was deleted or its bars changed after a corporate action"
    return ""


def run_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The past-runs table: the run, its parameters, headline metrics and flags."""
    rows = []
    for run in runs:
        metrics = run.get("metrics") or {}
        bench = run.get("benchmark_metrics") or {}
        rows.append(
            {
                "id": run["id"],
                **run_params(run),
                "total_return": metrics.get("total_return"),
                "buy_and_hold_return": bench.get("total_return"),
                "sharpe": metrics.get("sharpe"),
                "in_sample": "yes" if run.get("overlaps_training") else "",
                "stale": "STALE" if run.get("stale") else "",
                "created_at": human_time(run.get("created_at")),
            }
        )
    return rows


def run_label(run: dict[str, Any]) -> str:
    """``SPY by 2024…-abc (close fill, 0+0 bps) 2024-03-05 10:00 ET`` for the run picker."""
    p = run_params(run)
    return (
        f"{p['symbol']} · model {p['model']} · {p['fill']} fill, fee {p['fee_bps']} bps, "
        f"slippage {p['slippage_bps']} bps · {human_time(run.get('created_at'), False)}"
    )


def simulation_frames(result: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The equity curve and trades of a GET /simulations/{id} answer as frames."""
    return to_frame(result.get("equity")), to_frame(result.get("trades"))


def _form(api: ApiClient, models: list[dict[str, Any]]) -> None:
    ids = [m["id"] for m in models]
    labels = {
        m["id"]: f"{m['id']} ({m.get('kind')}, {','.join(m.get('tickers') or [])})" for m in models
    }
    with st.form("simulate-form"):
        a, b = st.columns([3, 1])
        model_id = a.selectbox(
            "Model", ids, format_func=lambda i: labels.get(i, str(i)), key="sim-model"
        )
        symbol = b.text_input("Symbol (default: the model's)", key="sim-symbol")
        c, d, e = st.columns(3)
        start = c.date_input("From", value=None, key="sim-start")
        end = d.date_input("To", value=None, key="sim-end")
        cash = e.number_input("Cash", 1.0, 1e12, 10_000.0, step=1000.0, key="sim-cash")
        f, g, h = st.columns(3)
        fill = f.selectbox("Fill", FILL_MODES, key="sim-fill")
        fee = g.number_input("Fee (bps)", 0.0, 1000.0, 0.0, key="sim-fee")
        slip = h.number_input("Slippage (bps)", 0.0, 1000.0, 0.0, key="sim-slippage")
        in_sample = st.checkbox(
            "In sample: allow overlap with the training window",
            value=False,
            key="sim-in-sample",
            help="Off: without dates the run starts after the model's training window.",
        )
        submitted = st.form_submit_button("Simulate", type="primary")
    if submitted and model_id:
        body = simulate_request(
            model_id,
            symbol,
            start if isinstance(start, date) else None,
            end if isinstance(end, date) else None,
            cash,
            fill,
            fee,
            slip,
            bool(in_sample),
        )
        try:
            start_job(SIMULATE_KEY, api.simulate(body))
        except ApiError as exc:
            show_error(exc, "Queueing the simulation")
    finished = follow_job(api, SIMULATE_KEY)
    if finished and finished.get("status") == "succeeded":
        # Show the new result once; afterwards the run picker is the user's again.
        if st.session_state.get(_SHOWN_JOB) != finished["id"]:
            st.session_state[_SHOWN_JOB] = finished["id"]
            st.session_state[_PENDING] = job_result_id(finished, "simulation_id") or ""
            st.rerun()


def _result(api: ApiClient, simulation_id: str) -> None:
    try:
        result = api.simulation(simulation_id)
    except ApiError as exc:
        show_error(exc, f"Reading simulation {simulation_id}")
        return
    st.subheader(f"Simulation {simulation_id}")
    note = stale_note(result)
    if note:
        st.warning(
            f"This run is stale: {note}. Simulate again for current numbers.",
            icon=":material/warning:",
        )
    st.caption(
        " · ".join(f"{k.replace('_', ' ')}: {v}" for k, v in run_params(result).items() if v != "")
    )
    if result.get("overlaps_training"):
        st.warning(
            "The simulated window overlaps the model's training window: these results are "
            "in-sample and overstate what the model would have done."
        )
    for line in result.get("warnings") or []:
        if "overlap" not in str(line):
            st.warning(str(line))
    equity, trades = simulation_frames(result)
    if not equity.empty:
        st.plotly_chart(equity_figure(equity, "equity vs buy and hold"), key="sim-equity")
        st.plotly_chart(drawdown_figure(equity), key="sim-drawdown")
    st.markdown("**Metrics**")
    st.dataframe(metrics_table(result), hide_index=True)
    st.markdown(f"**Trades** ({len(trades)})")
    if not trades.empty:
        trades["ts"] = human_times(trades["ts"])
        trades = trades.rename(columns={"ts": f"time ({TZ_LABEL})"})
    st.dataframe(table(trades), hide_index=True, height=300)


def render(api: ApiClient) -> None:
    """The Simulation page."""
    st.title("Simulation")
    for method, path in (("post", "/simulate"), ("get", "/simulations/{id}")):
        missing = endpoint_missing(api, method, path)
        if missing is not None:
            st.warning(missing)
            return
    try:
        models = api.models()
    except ApiError as exc:
        show_error(exc, "Reading the models")
        return
    runs = guarded("Reading the past simulations", api.simulations) or []
    shown = _pick_run(runs)
    shown_run = next((r for r in runs if r["id"] == shown), None)
    if shown_run is not None and shown_run.get("model_id") in {m["id"] for m in models}:
        # The model picker follows the run on screen, so the two never disagree.
        if st.session_state.get(_SYNCED) != shown:
            st.session_state["sim-model"] = shown_run["model_id"]
            st.session_state[_SYNCED] = shown
    if not models:
        st.info("No models yet: train one on the Models page.")
    else:
        _form(api, models)
    if shown:
        _result(api, shown)
    st.subheader("Past runs")
    if runs:
        st.dataframe(table(run_rows(runs)), hide_index=True, height=260)
    else:
        st.info("No simulations yet: pick a model above and press Simulate.")


def _pick_run(runs: list[dict[str, Any]]) -> str:
    """The run to show: the newest finished job's, else the user's pick (default newest)."""
    if not runs:
        return ""
    labels = {r["id"]: run_label(r) for r in runs}
    ids = list(labels)
    pending = st.session_state.pop(_PENDING, None)
    if pending in labels:
        st.session_state[_SHOWN_KEY] = pending
    elif st.session_state.get(_SHOWN_KEY) not in labels:
        st.session_state[_SHOWN_KEY] = ids[0]
    return str(
        st.selectbox("Show run", ids, format_func=lambda i: labels.get(i, str(i)), key=_SHOWN_KEY)
    )
