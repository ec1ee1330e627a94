"""Coverage status is an explicit enum: old databases migrate, legacy rows read right,
summaries count in-progress sessions apart, and the gap report says "in_progress"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select

from stockdb.errors import DataIntegrityError
from stockdb.state import tables
from stockdb.state.coverage import CoverageRecord, CoverageRepo, CoverageStatus, stored_status
from stockdb.state.store import StateStore

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
DAYS = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    state = StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}")
    state.migrate()
    try:
        yield state
    finally:
        state.dispose()


def _raw_row(day: date, status: str, reason: str | None) -> dict[str, object]:
    return {
        "symbol": "SPY",
        "session_date": day,
        "rows": 10,
        "regular_rows": 5,
        "first_ts": T0,
        "last_ts": T0,
        "status": status,
        "source": "synthetic",
        "feed": "synthetic",
        "reason": reason,
        "attempts": 1,
        "fetched_at": T0,
    }


def _stored(store: StateStore) -> dict[date, str]:
    c = tables.coverage.c
    with store.engine.connect() as conn:
        return {r.session_date: r.status for r in conn.execute(select(c.session_date, c.status))}


def test_migration_turns_legacy_in_progress_rows_into_the_explicit_status(
    store: StateStore,
) -> None:
    # A database written before version 6: an open session was "partial" with a reason.
    with store.engine.begin() as conn:
        conn.execute(
            insert(tables.coverage),
            [
                _raw_row(DAYS[0], "partial", "session in progress"),
                _raw_row(DAYS[1], "partial", "bars stop at 15:00 before the close"),
                _raw_row(DAYS[2], "complete", None),
            ],
        )
        conn.execute(delete(tables.schema_version).where(tables.schema_version.c.version >= 6))
    assert store.migrate() >= 6
    assert _stored(store) == {DAYS[0]: "in_progress", DAYS[1]: "partial", DAYS[2]: "complete"}
    got = CoverageRepo(store).sessions("SPY")
    assert [got[d].status for d in DAYS] == [
        CoverageStatus.IN_PROGRESS,
        CoverageStatus.PARTIAL,
        CoverageStatus.COMPLETE,
    ]


def test_a_legacy_row_written_after_migration_still_reads_as_in_progress(
    store: StateStore,
) -> None:
    # e.g. an older worker still running against a migrated store
    with store.engine.begin() as conn:
        conn.execute(insert(tables.coverage), [_raw_row(DAYS[0], "partial", "session in progress")])
    assert CoverageRepo(store).sessions("SPY")[DAYS[0]].status is CoverageStatus.IN_PROGRESS
    assert stored_status("partial", "bars stop early") is CoverageStatus.PARTIAL
    with pytest.raises(DataIntegrityError, match="unknown coverage status 'half-done'"):
        stored_status("half-done", None)


def test_records_store_plain_strings_and_summaries_count_each_status(store: StateStore) -> None:
    repo = CoverageRepo(store)
    repo.ensure_symbol("SPY", "synthetic", "synthetic")
    statuses = [CoverageStatus.COMPLETE, CoverageStatus.PARTIAL, CoverageStatus.IN_PROGRESS]
    repo.record(
        [
            CoverageRecord(
                symbol="SPY",
                session_date=d,
                rows=10,
                regular_rows=5,
                first_ts=T0,
                last_ts=T0,
                status=s,
                source="synthetic",
                feed="synthetic",
                reason=None,
                attempts=1,
                fetched_at=T0,
            )
            for d, s in zip(DAYS, statuses, strict=True)
        ]
    )
    assert _stored(store) == dict(zip(DAYS, ["complete", "partial", "in_progress"], strict=True))
    (spy,) = repo.summaries()
    assert (spy.sessions, spy.complete, spy.partial, spy.in_progress, spy.empty, spy.error) == (
        3,
        1,
        1,
        1,
        0,
        0,
    )
