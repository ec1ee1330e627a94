"""Ingest queueing, jobs, agents and logs through the API (no consumer: jobs stay queued)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stockdb.app import App
from stockdb.state import tables
from stockdb.usecases.ingest import default_range


def test_the_same_ingest_request_returns_the_same_job(app: App, client: Any) -> None:
    first = client.post("/ingest/SPY?start=2024-03-04&end=2024-03-08")
    assert first.status_code == 202
    job = first.json()
    assert first.headers["location"] == f"/jobs/{job['id']}"
    assert job["status"] == "queued" and job["kind"] == "ingest"
    assert job["params"] == {
        "symbols": ["SPY"],
        "start": "2024-03-04",
        "end": "2024-03-08",
        "provider": "synthetic",
    }
    again = client.post("/ingest/spy?start=2024-03-04&end=2024-03-08")
    assert again.status_code == 202 and again.json()["id"] == job["id"]
    other = client.post("/ingest/SPY?start=2024-03-04&end=2024-03-07").json()
    assert other["id"] != job["id"]
    listed = client.get("/jobs").json()
    assert {j["id"] for j in listed} == {job["id"], other["id"]}
    assert client.get(f"/jobs/{job['id']}").json()["key"] == job["key"]
    assert client.get("/jobs?status=succeeded").json() == []


def test_ingest_without_dates_takes_the_latest_five_sessions(app: App, client: Any) -> None:
    job = client.post("/ingest/SPY").json()
    start, end = default_range(app.calendar, app.clock.now(), None, None)
    assert (job["params"]["start"], job["params"]["end"]) == (start.isoformat(), end.isoformat())
    assert len(app.calendar.sessions(start, end)) == 5


def test_cancel_a_queued_job_then_conflict_and_not_found(app: App, client: Any) -> None:
    job = client.post("/ingest/SPY?start=2024-03-04&end=2024-03-05").json()
    cancelled = client.delete(f"/jobs/{job['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.delete(f"/jobs/{job['id']}")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    assert client.get("/jobs/nope").status_code == 404
    assert client.delete("/jobs/nope").status_code == 404
    # a cancelled job no longer blocks its key: the same request makes a new job
    assert client.post("/ingest/SPY?start=2024-03-04&end=2024-03-05").json()["id"] != job["id"]


def test_stop_parks_new_ingests_and_start_dispatches_them(app: App, client: Any) -> None:
    assert client.post("/agents/BACKFILL/stop").json() == {
        "name": "backfill",
        "enabled": False,
        "dispatched": 0,
    }
    agents = {a["name"]: a for a in client.get("/agents").json()["agents"]}
    assert agents["backfill"]["state"] == "stopped" and agents["live"]["state"] == "absent"
    job = client.post("/ingest/SPY?start=2024-03-04&end=2024-03-05").json()
    assert job["message"] == "waiting: agent backfill is stopped"
    started = client.post("/agents/backfill/start").json()
    assert started == {"name": "backfill", "enabled": True, "dispatched": 1}
    assert client.get("/agents").json()["queue"]["pending"] == 1


def test_agents_report_heartbeats_and_stalls(app: App, client: Any) -> None:
    now = app.clock.now()
    with app.state.engine.begin() as conn:
        conn.execute(
            tables.heartbeats.insert().values(
                agent="live",
                worker="w1",
                host="h",
                pid=1,
                state="working",
                interval_s=5.0,
                updated_at=datetime(2020, 1, 1, tzinfo=UTC),
            )
        )
        conn.execute(
            tables.heartbeats.insert().values(
                agent="backfill",
                worker="w2",
                host="h",
                pid=2,
                state="idle",
                interval_s=5.0,
                updated_at=now,
            )
        )
    body = client.get("/agents").json()
    agents = {a["name"]: a for a in body["agents"]}
    assert agents["live"]["state"] == "stalled" and agents["live"]["stalled"] is True
    assert agents["backfill"]["state"] == "idle" and agents["backfill"]["stalled"] is False
    assert agents["live"]["workers"][0]["age_s"] > 3 * 5.0
    assert [a["agent"] for a in body["alerts"]] == ["live"]
    assert body["alerts"][0]["kind"] == "stalled"


def test_logs_filters(app: App, client: Any) -> None:
    rows = [
        ("2024-03-04T10:00:00+00:00", "INFO", "backfill", "SPY", "fetched"),
        ("2024-03-04T11:00:00+00:00", "WARNING", "backfill", "QQQ", "gap re-requested"),
        ("2024-03-05T10:00:00+00:00", "ERROR", "live", "SPY", "upstream down"),
    ]
    with app.state.engine.begin() as conn:
        for ts, level, agent, symbol, message in rows:
            conn.execute(
                tables.logs.insert().values(
                    ts=datetime.fromisoformat(ts),
                    level=level,
                    agent=agent,
                    symbol=symbol,
                    message=message,
                    logger="test",
                )
            )

    def messages(query: str) -> list[str]:
        response = client.get(f"/logs{query}")
        assert response.status_code == 200, response.text
        return [r["message"] for r in response.json()]

    assert messages("") == ["fetched", "gap re-requested", "upstream down"]
    assert messages("?agent=backfill") == ["fetched", "gap re-requested"]
    assert messages("?symbol=spy") == ["fetched", "upstream down"]
    assert messages("?level=warning") == ["gap re-requested", "upstream down"]
    assert messages("?since=2024-03-05") == ["upstream down"]
    assert messages("?since=2024-03-04T10:30:00Z") == ["gap re-requested", "upstream down"]
    assert messages("?limit=1") == ["upstream down"]
    first = client.get("/logs?limit=1").json()[0]
    assert first["timestamp"].startswith("2024-03-05T10:00:00")
    assert first["level"] == "ERROR" and first["agent"] == "live"
