"""JSON logs on stderr and in the state store, through the batched non-blocking sink."""

from __future__ import annotations

import io
import logging
import threading
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from pydantic import SecretStr
from sqlalchemy import func, insert, select

from stockdb.config import Settings
from stockdb.errors import InvalidInput
from stockdb.obs.logging import log_context, setup_logging
from stockdb.obs.logquery import query_logs
from stockdb.obs.sink import prune_logs
from stockdb.state import tables
from stockdb.state.store import StateStore

SECRET = "very-secret-value-123"
REQUIRED = {"timestamp", "level", "agent", "symbol", "stage", "message", "job_id"}


@pytest.fixture
def store(settings: Settings) -> StateStore:
    s = StateStore(settings.state_database_url)
    s.migrate()
    return s


def test_every_record_is_json_and_lands_in_the_state_store(
    settings: Settings, store: StateStore
) -> None:
    settings = settings.model_copy(update={"alpaca_secret_key": SecretStr(SECRET)})
    stream = io.StringIO()
    handle = setup_logging(settings, agent="live", state=store, stream=stream, level="DEBUG")
    log = logging.getLogger("stockdb.test")
    try:

        def work(n: int) -> None:
            with log_context(job_id=f"job{n}", stage="ingest"):
                for i in range(50):
                    log.info("bars stored", extra={"symbol": "SPY", "rows": i})

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        log.warning(f"retrying with {SECRET}", extra={"symbol": "QQQ", "stage": "fetch"})
        log.debug("quiet detail")
        assert handle.closers[0].flush(10)
    finally:
        handle.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 202
    for line in lines:
        data = orjson.loads(line)
        assert REQUIRED <= set(data) and data["agent"] == "live"
        assert SECRET not in line
    rows = query_logs(store, limit=1000)
    assert len(rows) == 202
    assert {r["job_id"] for r in rows if r["symbol"] == "SPY"} == {f"job{n}" for n in range(4)}
    assert sorted(r["extra"]["rows"] for r in rows if r["job_id"] == "job0") == list(range(50))
    assert all(SECRET not in orjson.dumps(r).decode() for r in rows)
    (warning,) = query_logs(store, level="warning")
    assert (warning["symbol"], warning["stage"], warning["message"]) == (
        "QQQ",
        "fetch",
        "retrying with ***",
    )
    assert len(query_logs(store, agent="live", symbol="spy", limit=500)) == 200
    assert query_logs(store, since=datetime.now(UTC) + timedelta(minutes=1)) == []
    newest = rows[-1]["id"]
    assert query_logs(store, after_id=newest) == []
    with pytest.raises(InvalidInput):
        query_logs(store, level="LOUD")
    with pytest.raises(InvalidInput):
        query_logs(store, limit=0)


def test_retention_keeps_the_newest_rows_and_drops_old_ones(store: StateStore) -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    rows = [
        {"ts": now - timedelta(days=30 if i < 5 else 0), "level": "INFO", "message": f"m{i}"}
        for i in range(50)
    ]
    with store.engine.begin() as conn:
        conn.execute(insert(tables.logs), rows)
    deleted = prune_logs(store, keep_rows=20, keep_days=14, now=now)
    assert deleted == 30
    with store.engine.connect() as conn:
        kept = [
            r[0] for r in conn.execute(select(tables.logs.c.message).order_by(tables.logs.c.id))
        ]
        assert conn.execute(select(func.count()).select_from(tables.logs)).scalar() == 20
    assert kept == [f"m{i}" for i in range(30, 50)]
