"""Models page: a training form that runs as a job with progress, and the models with metrics."""

from __future__ import annotations

from datetime import date
from typing import Any

import streamlit as st

from stockdb.ui.client import ApiClient, ApiError
from stockdb.ui.format import TZ_LABEL, human_time, table
from stockdb.ui.widgets import follow_job, guarded, show_error, start_job

__all__ = [
    "MODEL_NAMES",
    "TARGETS",
    "TRAIN_KEY",
    "endpoint_missing",
    "flatten_metrics",
    "headline_metrics",
    "metric_rows",
    "job_result_id",
    "model_rows",
    "parse_tickers",
    "render",
    "stale_lines",
    "stale_reason",
    "train_request",
]

TRAIN_KEY = "models-train-job"
MODEL_NAMES: tuple[str, ...] = (
    "logistic_regression",
    "ridge",
    "random_forest",
    "hist_gradient_boosting",
)
TARGETS: tuple[str, ...] = ("direction", "return")
_SCORED = ("validation", "test")


def parse_tickers(text: str) -> list[str]:
    """``"spy, qqq vix"`` -> ``["SPY", "QQQ", "VIX"]`` (order kept, duplicates dropped)."""
    out: list[str] = []
    for part in text.replace(",", " ").split():
        name = part.strip().upper()
        if name and name not in out:
            out.append(name)
    return out


def train_request(
    tickers: str,
    target: str,
    horizon: int,
    model: str,
    start: date | None = None,
    end: date | None = None,
    train_fraction: float = 0.7,
    validation_fraction: float = 0.15,
    train_end: date | None = None,
    validation_end: date | None = None,
) -> dict[str, Any]:
    """The JSON body of POST /train: splits by dates when ``train_end`` is set, else by
    fractions; optional fields left out when empty."""
    body: dict[str, Any] = {
        "tickers": parse_tickers(tickers),
        "target": target,
        "horizon": int(horizon),
        "model": model,
    }
    for key, value in (("start", start), ("end", end)):
        if value is not None:
            body[key] = value.isoformat()
    if train_end is not None:
        body["train_end"] = train_end.isoformat()
        if validation_end is not None:
            body["validation_end"] = validation_end.isoformat()
    else:
        body["train_fraction"] = float(train_fraction)
        body["validation_fraction"] = float(validation_fraction)
    return body


def job_result_id(job: dict[str, Any], *keys: str) -> str | None:
    """The id a finished job's result names under the first of ``keys`` it has (or ``id``)."""
    result = job.get("result") or {}
    for key in (*keys, "id"):
        value = result.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def flatten_metrics(metrics: dict[str, Any], sections: tuple[str, ...] = _SCORED) -> dict[str, Any]:
    """Scalar metrics of the chosen sections as ``section.name`` keys (rounded floats)."""
    out: dict[str, Any] = {}
    for section in sections:
        values = metrics.get(section)
        if not isinstance(values, dict):
            continue
        for name, value in values.items():
            if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
                out[f"{section}.{name}"] = value
            elif isinstance(value, float):
                out[f"{section}.{name}"] = round(value, 4)
    return out


def _span(window: dict[str, Any]) -> str:
    """``2024-03-04 09:30 ET → 2024-03-06 15:59 ET`` for a window with a start and end."""
    if not window.get("start"):
        return ""
    return f"{human_time(window['start'], seconds=False)} → {human_time(window.get('end'), False)}"


_HEADLINE = 3


def headline_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few scores the models table shows (test, else validation, else walk-forward mean),
    so they fit on screen; every metric is in the model's details."""
    for section in ("test", "validation", "walk_forward_mean"):
        values = metrics.get(section)
        if isinstance(values, dict) and values:
            picked = [
                (k, v)
                for k, v in values.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "rows"
            ][:_HEADLINE]
            return {f"{section} {k}": round(float(v), 4) for k, v in picked}
    return {}


def metric_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Every scalar metric as one row per name with a column per section (train, test, ...)."""
    sections = [k for k, v in metrics.items() if isinstance(v, dict)]
    names: list[str] = []
    for section in sections:
        names += [n for n in metrics[section] if n not in names]
    rows = []
    for name in names:
        row: dict[str, Any] = {"metric": name}
        for section in sections:
            value = metrics[section].get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[section] = round(float(value), 4)
            elif value is not None and not isinstance(value, (dict, list)):
                row[section] = str(value)
            else:
                row[section] = None
        rows.append(row)
    return rows


def stale_reason(model: dict[str, Any], set_hash: str | None) -> str:
    """Why ``model`` should be retrained ('' when it is current): the API's stale flag (bars
    changed under it after a corporate action) or another feature set than today's."""
    reasons = []
    if model.get("stale"):
        reasons.append("its bars changed after a corporate action")
    trained_on = model.get("feature_set_hash")
    if set_hash and trained_on and trained_on != set_hash:
        reasons.append(f"trained on feature set {trained_on[:10]}, now {set_hash[:10]}")
    return "; ".join(reasons)


def model_rows(models: list[dict[str, Any]], set_hash: str | None = None) -> list[dict[str, Any]]:
    """The models table: identity, staleness, what it learns, its windows and scored metrics
    (the columns people need first, so none is off the right edge)."""
    rows = []
    for m in models:
        windows = m.get("windows") or {}
        train = windows.get("train") or {}
        reason = stale_reason(m, set_hash)
        rows.append(
            {
                "id": m["id"],
                "stale": f"STALE: {reason}" if reason else "",
                "kind": m.get("kind"),
                "tickers": ",".join(m.get("tickers") or []),
                "target": m.get("target"),
                "horizon": m.get("horizon"),
                **headline_metrics(m.get("metrics") or {}),
                "train_window": _span(train),
                "test_window": _span(windows.get("test") or {}),
                "train_rows": train.get("rows"),
                "features": len(m.get("features") or []),
                "feature_set": str(m.get("feature_set_hash") or "")[:10],
                "created_at": human_time(m.get("created_at")),
            }
        )
    return rows


def stale_lines(models: list[dict[str, Any]], set_hash: str | None) -> list[str]:
    """One warning line per stale model."""
    out = []
    for m in models:
        reason = stale_reason(m, set_hash)
        if reason:
            out.append(f"Model {m['id']} is stale ({reason}): retrain it before trusting it.")
    return out


def endpoint_missing(api: ApiClient, method: str, path: str) -> str | None:
    """A message when the API does not offer ``method path`` (None when it does)."""
    try:
        present = api.has_endpoint(method, path)
    except ApiError as exc:
        return str(exc)
    if present:
        return None
    return f"This API has no {method.upper()} {path} endpoint yet, so this page cannot work."


def _train_form(api: ApiClient) -> None:
    with st.form("train-form"):
        a, b, c, d = st.columns([3, 2, 1, 3])
        tickers = a.text_input("Tickers (first is the primary)", "SPY", key="train-tickers")
        target = b.selectbox("Target", TARGETS, key="train-target")
        horizon = c.number_input("Horizon (bars)", 1, 1000, 1, key="train-horizon")
        model = d.selectbox("Model", MODEL_NAMES, key="train-model")
        e, f, g, h = st.columns(4)
        start = e.date_input("Data from", value=None, key="train-start")
        end = f.date_input("Data to", value=None, key="train-end")
        train_fraction = g.slider("Train fraction", 0.1, 0.9, 0.7, 0.05, key="train-frac")
        val_fraction = h.slider("Validation fraction", 0.0, 0.5, 0.15, 0.05, key="train-vfrac")
        i, j = st.columns(2)
        train_end = i.date_input("Train until (overrides fractions)", None, key="train-tend")
        val_end = j.date_input("Validate until", value=None, key="train-vend")
        submitted = st.form_submit_button("Train", type="primary")
    if submitted:
        body = train_request(
            tickers,
            target,
            int(horizon),
            model,
            start if isinstance(start, date) else None,
            end if isinstance(end, date) else None,
            train_fraction,
            val_fraction,
            train_end if isinstance(train_end, date) else None,
            val_end if isinstance(val_end, date) else None,
        )
        if not body["tickers"]:
            st.error("Name at least one ticker.")
        else:
            try:
                start_job(TRAIN_KEY, api.train(body))
            except ApiError as exc:
                show_error(exc, "Queueing the training")
    finished = follow_job(api, TRAIN_KEY)
    if finished and finished.get("status") == "succeeded":
        model_id = job_result_id(finished, "model_id")
        if model_id:
            st.success(f"Model {model_id} is ready: simulate it on the Simulation page.")


def render(api: ApiClient) -> None:
    """The Models page."""
    st.title("Models")
    missing = endpoint_missing(api, "post", "/train")
    if missing:
        st.warning(missing)
        return
    st.subheader("Train a model")
    _train_form(api)
    st.subheader("Models")
    try:
        models = api.models()
    except ApiError as exc:
        show_error(exc, "Reading the models")
        return
    if not models:
        st.info("No models yet: train one above.")
        return
    overview = guarded("Reading the feature set", api.features_overview) or {}
    set_hash = overview.get("set_hash")
    for line in stale_lines(models, set_hash):
        st.warning(line, icon=":material/warning:")
    st.dataframe(table(model_rows(models, set_hash)), hide_index=True)
    _details(models)


def _details(models: list[dict[str, Any]]) -> None:
    ids = [m["id"] for m in models]
    chosen = st.selectbox("Model details", ids, key="models-detail")
    model = next(m for m in models if m["id"] == chosen)
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Features** ({len(model.get('features') or [])})")
        st.caption(", ".join(model.get("features") or []) or "none")
        st.markdown("**Parameters**")
        st.json(model.get("params") or {}, expanded=False)
    with right:
        windows = model.get("windows") or {}
        st.markdown("**Windows** (" + TZ_LABEL + ")")
        st.dataframe(
            table(
                [
                    {"window": name, "span": _span(w), "rows": w.get("rows")}
                    for name, w in windows.items()
                    if isinstance(w, dict)
                ]
            ),
            hide_index=True,
        )
        st.markdown("**Metrics**")
        st.dataframe(table(metric_rows(model.get("metrics") or {})), hide_index=True)
