"""The in-process runtime really ingests; /health and /metrics report what happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pyarrow.parquet as pq
from prometheus_client.parser import text_string_to_metric_families

from stockdb.api.factory import wants_runtime
from stockdb.app import App
from stockdb.config import Settings


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def wait_for_job(client: Any, job_id: str, deadline_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_runtime_in_the_api_process_runs_queued_ingests(
    app: App, make_client: Callable[..., Any]
) -> None:
    from stockdb.api import create_app

    from .conftest import TestClient

    with TestClient(create_app(app=app, run_runtime=True)) as client:
        job = client.post("/ingest/SPY?start=2024-03-04&end=2024-03-06").json()
        done = wait_for_job(client, job["id"])
        assert done["status"] == "succeeded", done
        files = sorted((app.settings.parquet_dir / "SPY").glob("dt=*/bars.parquet"))
        assert [f.parent.name for f in files] == ["dt=2024-03-04", "dt=2024-03-05", "dt=2024-03-06"]
        rows = sum(pq.read_metadata(f).num_rows for f in files)
        assert done["result"]["rows_written"] == rows
        workers = {w["agent"] for a in client.get("/agents").json()["agents"] for w in a["workers"]}
        assert {"backfill", "worker"} <= workers
        metrics = samples(client.get("/metrics").text)
        assert metrics[("stockdb_jobs", (("status", "succeeded"),))] == 1.0
        assert metrics[("stockdb_rows_ingested_total", ())] == rows
        assert metrics[("stockdb_lake_rows", ())] == rows
        assert metrics[("stockdb_alpaca_requests_total", ())] == 0.0
    # the runtime stopped with the app: its heartbeats are gone
    with TestClient(create_app(app=app, run_runtime=False)) as client:
        assert all(not a["workers"] for a in client.get("/agents").json()["agents"])


def test_metrics_count_requests_by_route_template(seeded: App, client: Any) -> None:
    for _ in range(3):
        assert client.get("/bars/SPY?limit=5").status_code == 200
    assert client.get("/bars/QQQ").status_code == 404
    assert client.get("/no/such/route").status_code == 404
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    metrics = samples(response.text)
    route = (("method", "GET"), ("route", "/bars/{symbol}"))
    assert metrics[("stockdb_http_requests_total", (*route, ("status", "200")))] == 3.0
    assert metrics[("stockdb_http_requests_total", (*route, ("status", "404")))] == 1.0
    assert metrics[("stockdb_http_request_duration_seconds_count", route)] == 4.0
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert metrics[("stockdb_http_requests_total", unmatched)] == 1.0
    assert metrics[("stockdb_jobs", (("status", "queued"),))] == 0.0
    assert metrics[("stockdb_state_up", ())] == 1.0


def test_metrics_registries_are_per_app(seeded: App, make_client: Callable[..., Any]) -> None:
    one, two = make_client(), make_client()
    one.get("/bars/SPY?limit=1")
    counted = samples(two.get("/metrics").text)
    assert not any(
        k[0] == "stockdb_http_requests_total" and "/bars/{symbol}" in str(k) for k in counted
    )


def test_health_ok_then_degraded_when_the_lake_is_not_a_folder(seeded: App, client: Any) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["checks"]["state"] == {"ok": True, "detail": "sqlite"}
    assert body["checks"]["lake"]["ok"] is True
    moved = seeded.settings.parquet_dir.with_name("parquet.moved")
    seeded.settings.parquet_dir.rename(moved)
    seeded.settings.parquet_dir.write_text("not a folder")
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["lake"] == {
        "ok": False,
        "detail": "the lake path is not a folder",
    }


def test_runtime_is_off_for_redis_queues() -> None:
    assert wants_runtime(Settings(queue_url=None), None) is True
    assert wants_runtime(Settings(queue_url="redis://localhost:6379/0"), None) is False
    assert wants_runtime(Settings(queue_url="redis://localhost:6379/0"), True) is True
    assert wants_runtime(Settings(queue_url=None), False) is False
