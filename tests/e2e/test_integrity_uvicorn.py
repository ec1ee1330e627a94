"""Integrity through a real uvicorn server: a damaged partition is named by GET /bars, counted
by /health, found by POST /verify and repaired (quarantine + refetch job); ?replace=true
rewrites one session and no other."""

from __future__ import annotations

import hashlib
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq

from stockdb.calendar import TradingCalendar
from stockdb.providers.synthetic import generate_session

from .test_api_uvicorn import server  # noqa: F401 - the real-uvicorn fixture

DAMAGED = "2024-03-05"


def wait_job(client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)  # polling a job's status over HTTP, not synchronising threads
        job = client.get(f"/jobs/{job['id']}").json()
    assert job["status"] == "succeeded", job
    return job


def hashes(data: Path) -> dict[str, str]:
    return {
        p.parent.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((data / "parquet" / "SPY").glob("dt=*/bars.parquet"))
    }


def test_damage_is_named_counted_verified_and_repaired_over_http(
    server: tuple[str, Path],  # noqa: F811
    calendar: TradingCalendar,
) -> None:
    base, data = server
    with httpx.Client(base_url=base, timeout=30) as client:
        posted = client.post("/ingest/SPY", params={"start": "2024-03-04", "end": "2024-03-08"})
        wait_job(client, posted.json())
        assert client.get("/health").json()["damaged_partitions"] == 0

        path = data / "parquet" / "SPY" / f"dt={DAMAGED}" / "bars.parquet"
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
        answer = client.get("/bars/SPY", params={"start": "2024-03-04", "end": "2024-03-08"})
        assert answer.status_code == 500
        detail = answer.json()["detail"]
        assert f"SPY dt={DAMAGED}" in detail and "stockdb verify --repair" in detail
        assert "Traceback" not in detail
        health = client.get("/health").json()
        assert (
            health["damaged_partitions"] == 1
            and "verify --repair" in (health["checks"]["lake"]["detail"])
        )

        job = wait_job(client, client.post("/verify").json())
        assert job["kind"] == "verify" and job["result"]["damaged"] == 1
        (finding,) = job["result"]["findings"]
        assert finding["session_date"] == DAMAGED and finding["path"] == str(path)
        assert path.exists()  # a check changes nothing

        job = wait_job(client, client.post("/verify", params={"repair": "true"}).json())
        (finding,) = job["result"]["findings"]
        assert Path(finding["quarantined_to"]).read_bytes() == raw[: len(raw) // 2]
        assert Path(finding["quarantined_to"]).is_relative_to(data / "quarantine")
        (ingest_id,) = job["result"]["ingest_jobs"]
        refetch = wait_job(client, client.get(f"/jobs/{ingest_id}").json())
        assert refetch["result"]["sessions_fetched"] == 1
        day = date.fromisoformat(DAMAGED)
        (session,) = calendar.sessions(day, day)
        stored = pq.read_table(path).replace_schema_metadata(None)
        assert stored.equals(generate_session("SPY", session))
        assert client.get("/health").json()["damaged_partitions"] == 0
        assert client.get("/bars/SPY", params={"limit": 5}).status_code == 200

        before = hashes(data)
        posted = client.post(
            "/ingest/SPY", params={"start": DAMAGED, "end": DAMAGED, "replace": "true"}
        )
        assert posted.status_code == 202 and posted.json()["params"]["replace"] is True
        job = wait_job(client, posted.json())
        assert job["result"]["replaced"] == {"SPY": [DAMAGED]}
        after = hashes(data)
        assert {k: v for k, v in after.items() if k != f"dt={DAMAGED}"} == {
            k: v for k, v in before.items() if k != f"dt={DAMAGED}"
        }
        assert len(after) == 5
