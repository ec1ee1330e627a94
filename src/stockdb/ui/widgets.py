"""Streamlit pieces every page shares: readable API errors and a job followed to completion."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from stockdb.ui.client import TERMINAL_STATUSES, ApiClient, ApiError

__all__ = [
    "JOB_POLL",
    "follow_job",
    "guarded",
    "job_progress",
    "running_for",
    "show_error",
    "start_job",
]

JOB_POLL = timedelta(seconds=1)


def job_progress(job: dict[str, Any]) -> tuple[float, str]:
    """The fraction in [0, 1] and the one-line caption a progress bar shows for ``job``.

    A succeeded job is always full; a job whose total is not known yet is empty.
    """
    status = str(job.get("status", "unknown"))
    done = int(job.get("progress_done") or 0)
    total = int(job.get("progress_total") or 0)
    if status == "succeeded":
        fraction = 1.0
    elif total > 0:
        fraction = min(1.0, max(0.0, done / total))
    else:
        fraction = 0.0
    steps = f" {done}/{total}" if total > 0 else ""
    note = job.get("error") if status == "failed" else job.get("message")
    caption = f"{job.get('kind', 'job')} {status}{steps}"
    caption = f"{caption} — {note}" if note else caption
    elapsed = running_for(job)
    return fraction, f"{caption} · running for {elapsed}" if elapsed else caption


def running_for(job: dict[str, Any]) -> str | None:
    """How long a running job has worked, from its start to its latest heartbeat (the worker
    pulses every few seconds, so this moves while a long step such as a model fit runs)."""
    if job.get("status") != "running":
        return None
    started, beat = _instant(job.get("started_at")), _instant(job.get("heartbeat_at"))
    if started is None or beat is None or beat < started:
        return None
    seconds = int((beat - started).total_seconds())
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def show_error(error: ApiError, action: str | None = None) -> None:
    """Show an API failure as one readable message (never a traceback)."""
    prefix = f"{action} failed. " if action else ""
    if error.status == 0:
        st.error(f"{prefix}{error.detail}. Is `stockdb serve` running?")
    else:
        st.error(f"{prefix}The API answered {error.status}: {error.detail}")


def guarded(action: str, call: Callable[[], Any]) -> Any:
    """Run ``call``; on ApiError show it and return None."""
    try:
        return call()
    except ApiError as exc:
        show_error(exc, action)
        return None


def start_job(key: str, job: dict[str, Any]) -> None:
    """Remember ``job`` as the one the ``key`` widget follows (forgetting an older result)."""
    st.session_state[key] = job["id"]
    st.session_state.pop(f"{key}__final", None)


def _poll(api: ApiClient, key: str) -> None:
    job_id = st.session_state.get(key)
    if not job_id:
        return
    try:
        job = api.job(job_id)
    except ApiError as exc:
        show_error(exc, "Following the job")
        return
    fraction, caption = job_progress(job)
    st.progress(fraction, text=caption)
    if job.get("status") in TERMINAL_STATUSES:
        st.session_state[f"{key}__final"] = job
        st.rerun()


def follow_job(api: ApiClient, key: str) -> dict[str, Any] | None:
    """Follow the job remembered under ``key``: a progress bar refreshed every second while it
    runs; once it ended, its final state (a full bar and a success or error line).

    Returns the ended job, or None while it runs or when there is none.
    """
    final: dict[str, Any] | None = st.session_state.get(f"{key}__final")
    if final is not None and final.get("id") == st.session_state.get(key):
        fraction, caption = job_progress(final)
        st.progress(fraction, text=caption)
        if final["status"] == "succeeded":
            st.success(f"Job {final['id']} succeeded")
        elif final["status"] == "failed":
            st.error(f"Job {final['id']} failed: {final.get('error') or 'no detail'}")
        else:
            st.warning(f"Job {final['id']} was cancelled")
        return final
    if st.session_state.get(key):
        st.fragment(_poll, run_every=JOB_POLL, key=f"follow-{key}")(api, key)
    return None
