"""The one-statement job claim and insert on SQLite and a real PostgreSQL: a claim returns the
claimed row, honours the agent switches of gated kinds, and a new key costs one INSERT."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stockdb.jobs.controls import AgentControls
from stockdb.jobs.records import JobRepo
from stockdb.state.store import StateStore

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
GATES = {"ingest": "backfill", "features": "features"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    else:
        url = request.getfixturevalue("pg_database").replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
    state = StateStore(url)
    state.migrate()
    try:
        yield state
    finally:
        state.dispose()


def test_claim_returns_the_row_and_respects_stopped_agents(store: StateStore) -> None:
    repo, controls = JobRepo(store), AgentControls(store)
    ingest, created = repo.create("ingest", "ingest:SPY", {"symbols": ["SPY"]}, T0, True)
    assert created and ingest == repo.get(ingest.id)  # what create returns is what is stored
    noop, _ = repo.create("noop", "noop:1", {}, T0, dispatched=False, message="parked")
    assert repo.get(noop.id).heartbeat_at is None and repo.get(noop.id).message == "parked"

    controls.set("backfill", False)
    assert repo.claim(ingest.id, "w1", T0, gated_by=GATES) is None
    assert repo.get(ingest.id).status == "queued"
    claimed_noop = repo.claim(noop.id, "w1", T0, gated_by=GATES)  # no agent gates noop
    assert claimed_noop == repo.get(noop.id) and claimed_noop.status == "running"

    controls.set("features", False)  # another agent stopping changes nothing for ingest
    controls.set("backfill", True)
    claimed = repo.claim(ingest.id, "w2", T0, gated_by=GATES)
    assert claimed is not None and claimed == repo.get(ingest.id)
    assert (claimed.status, claimed.worker, claimed.attempts) == ("running", "w2", 1)
    assert repo.claim(ingest.id, "w3", T0, gated_by=GATES) is None  # exactly one winner
