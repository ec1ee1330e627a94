"""Overview page: agents (state, heartbeat age, stalled alerts, switches), running jobs, queue
depth and recent logs, refreshed on their own."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import streamlit as st

from stockdb.ui.client import ApiClient, ApiError
from stockdb.ui.format import human_time, table
from stockdb.ui.widgets import job_progress, show_error

__all__ = [
    "AGENT_REFRESH",
    "LOG_LEVELS",
    "LOG_REFRESH",
    "SWITCHABLE",
    "agent_rows",
    "format_age",
    "log_rows",
    "queue_metrics",
    "render",
    "readable",
    "stall_messages",
    "status_line",
]

AGENT_REFRESH = timedelta(seconds=3)
LOG_REFRESH = timedelta(seconds=5)
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR")
SWITCHABLE: tuple[str, ...] = ("backfill", "live", "features")  # what /agents/{name}/stop takes
_QUEUE_KEYS = ("queued", "running", "pending", "succeeded", "failed", "cancelled")


def format_age(seconds: float | None) -> str:
    """A heartbeat age for people: ``4s``, ``3m 05s``, ``2h 10m``; ``never`` for None."""
    if seconds is None:
        return "never"
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def agent_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per agent: switch, state, freshest heartbeat age, stalled flag, current job,
    progress and next step (from its freshest worker)."""
    rows = []
    for agent in body.get("agents", []):
        workers = sorted(agent.get("workers", []), key=lambda w: float(w.get("age_s", 0.0)))
        fresh = workers[0] if workers else {}
        enabled = bool(agent.get("enabled", True))
        stalled = bool(agent.get("stalled", False))
        stopped = not enabled or agent.get("state") == "stopped"
        rows.append(
            {
                "agent": agent["name"],
                "enabled": enabled,
                "state": agent.get("state", "unknown"),
                "stalled": stalled,
                "heartbeat_age_s": fresh.get("age_s"),
                "heartbeat_age": format_age(fresh.get("age_s")),
                "workers": len(workers),
                "current_job": fresh.get("current_job"),
                "progress_done": fresh.get("progress_done"),
                "progress_total": fresh.get("progress_total"),
                "next_step": "" if stopped else readable(fresh.get("next_step")),
                "status": status_line(agent.get("state", "unknown"), stalled, enabled),
            }
        )
    return rows


def status_line(state: str, stalled: bool, enabled: bool) -> str:
    """The agent's state in one word or two, upper case when it needs attention."""
    if stalled:
        return "STALLED"
    if not enabled or state == "stopped":
        return "stopped"
    if state == "absent":
        return "NO WORKER"
    return state


_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")


def readable(text: str | None) -> str:
    """``text`` with every ISO instant in it shown as New York time."""
    return _INSTANT.sub(lambda m: human_time(m.group(0)), text or "")


def stall_messages(body: dict[str, Any]) -> list[str]:
    """A line per stalled agent and per open alert, without repeating the same text."""
    out: list[str] = []
    for row in agent_rows(body):
        if row["stalled"]:
            out.append(
                f"Agent {row['agent']} is STALLED: last heartbeat {row['heartbeat_age']} ago"
            )
    for alert in body.get("alerts", []):
        line = f"{alert.get('agent') or 'system'}: {alert.get('message', alert.get('kind'))}"
        if line not in out:
            out.append(line)
    return out


def queue_metrics(body: dict[str, Any]) -> dict[str, int]:
    """Job counts by status from the ``queue`` block (missing ones are 0)."""
    queue = body.get("queue", {})
    return {k: int(queue.get(k) or 0) for k in _QUEUE_KEYS}


def log_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Log records newest first, with the columns the table shows."""
    rows = [
        {
            "time": human_time(r.get("timestamp")),
            "level": r.get("level"),
            "agent": r.get("agent"),
            "symbol": r.get("symbol"),
            "message": r.get("message"),
            "job": str(r.get("job_id") or "")[:12],
            "logger": r.get("logger"),
        }
        for r in records
    ]
    rows.reverse()
    return rows


def _switch(api: ApiClient, name: str, enabled: bool) -> None:
    try:
        api.set_agent(name, enabled)
    except ApiError as exc:
        show_error(exc, f"{'Starting' if enabled else 'Stopping'} {name}")
        return
    st.toast(f"{name} {'started' if enabled else 'stopped'}")


def _apply_clicks(api: ApiClient) -> None:
    """Act on a Start/Stop click of the previous run before reading the agents, so the page
    shows the state after the switch (buttons are read by key, no callback holds the client)."""
    for key in [k for k in st.session_state if str(k).startswith(("start-", "stop-"))]:
        if st.session_state[key] is True:
            action, name = str(key).split("-", 1)
            _switch(api, name, action == "start")


def _agents(api: ApiClient) -> None:
    _apply_clicks(api)
    try:
        body = api.agents()
    except ApiError as exc:
        show_error(exc, "Reading the agents")
        return
    for line in stall_messages(body):
        st.error(line, icon=":material/error:")
    for row in agent_rows(body):
        name = row["agent"]
        left, mid, right = st.columns([2, 5, 1.2])
        beat = "no heartbeat yet" if row["heartbeat_age_s"] is None else "heartbeat"
        ago = "" if row["heartbeat_age_s"] is None else f" {row['heartbeat_age']} ago"
        left.metric(name, row["status"], f"{beat}{ago}", delta_color="off")
        with mid:
            if row["current_job"] and not row["stalled"]:
                done, total = row["progress_done"] or 0, row["progress_total"] or 0
                st.progress(min(1.0, done / total) if total else 0.0, text=row["current_job"])
            if row["next_step"]:
                st.caption(f"next: {row['next_step']}")
            elif not row["enabled"]:
                st.caption("stopped: press Start to resume")
        if name not in SWITCHABLE:
            right.caption("always on")
        elif row["enabled"]:
            right.button("Stop", key=f"stop-{name}")
        else:
            right.button("Start", key=f"start-{name}")
    st.subheader("Queue")
    counts = queue_metrics(body)
    for column, (label, value) in zip(st.columns(len(counts)), counts.items(), strict=True):
        column.metric(label, value)
    running = body.get("running", [])
    if running:
        st.subheader("Running jobs")
    for job in running:
        fraction, caption = job_progress({**job, "status": "running"})
        st.progress(fraction, text=f"{job.get('key')}: {caption}")


def _any(option: str) -> str:
    return option or "any"


def _logs(api: ApiClient) -> None:
    st.subheader("Recent logs")
    a, s, lv, n = st.columns([2, 2, 2, 1])
    agent = a.selectbox(
        "Agent", ["", *SWITCHABLE, "worker", "api"], format_func=_any, key="log-agent"
    )
    symbol = s.text_input("Symbol", key="log-symbol").strip().upper()
    level = lv.selectbox("Minimum level", ["", *LOG_LEVELS], format_func=_any, key="log-level")
    limit = int(n.number_input("Rows", 10, 1000, 100, step=10, key="log-limit"))
    try:
        records = api.logs(agent or None, symbol or None, level or None, limit)
    except ApiError as exc:
        show_error(exc, "Reading the logs")
        return
    if records:
        st.dataframe(
            table(log_rows(records)),
            hide_index=True,
            height=360,
            column_config={"message": st.column_config.TextColumn(width="large")},
        )
    else:
        st.info("No log records match these filters yet.")


def render(api: ApiClient) -> None:
    """The Overview page."""
    st.title("Overview")
    st.caption(f"API: {api.base_url}")
    st.fragment(_agents, run_every=AGENT_REFRESH, key="overview-agents")(api)
    st.fragment(_logs, run_every=LOG_REFRESH, key="overview-logs")(api)
