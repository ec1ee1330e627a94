"""The integrity ledger behaves the same on SQLite and PostgreSQL: a rewrite keeps the previous
checksum (so a crash before the rename still verifies), a damaged entry keeps none, and the
coverage ledger reports flagged sessions as errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from stockdb.state.coverage import CoverageRecord, CoverageRepo
from stockdb.state.ledger import FileEntry, PartitionLedger
from stockdb.state.store import StateStore

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
DAY = date(2024, 3, 4)
REL = "SPY/dt=2024-03-04/bars.parquet"


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


def entry(size: int, checksum: str) -> FileEntry:
    return FileEntry("bars", REL, "SPY", DAY, 390, size, checksum, T0)


def test_rewrites_keep_the_previous_checksum_unless_the_file_was_damaged(
    store: StateStore,
) -> None:
    ledger = PartitionLedger(store)
    ledger.record([entry(100, "a" * 32)])
    (first,) = ledger.entries("bars")
    assert (first.prev_size, first.prev_checksum) == (None, None)
    assert first.matches(100, "a" * 32) and not first.matches(100, "b" * 32)

    ledger.record([entry(120, "b" * 32)])
    (second,) = ledger.entries("bars", ["SPY"])
    assert (second.size, second.checksum) == (120, "b" * 32)
    assert second.matches(100, "a" * 32) and second.matches(120, "b" * 32)

    ledger.mark("bars", REL, "damaged", "size 60 bytes, written as 120")
    assert ledger.damaged_count() == 1
    ledger.record([entry(130, "c" * 32)])  # the rewrite of a damaged file
    (third,) = ledger.entries("bars")
    assert third.status == "ok" and (third.prev_size, third.prev_checksum) == (None, None)
    assert not third.matches(120, "b" * 32)
    assert ledger.damaged_count() == 0

    ledger.forget("bars", [REL])
    assert ledger.entries("bars") == []


def test_coverage_reports_flagged_sessions_as_errors(store: StateStore) -> None:
    coverage = CoverageRepo(store)
    coverage.ensure_symbol("SPY", "synthetic", "synthetic")
    coverage.record(
        [
            CoverageRecord(
                "SPY", DAY, 390, 390, None, None, "complete", "synthetic", "synthetic", None, 1, T0
            )
        ]
    )
    ledger = PartitionLedger(store)
    ledger.record([entry(100, "a" * 32)])
    assert coverage.sessions("SPY")[DAY].status == "complete"
    ledger.mark("bars", REL, "missing", "file gone")
    flagged = coverage.sessions("SPY")[DAY]
    assert flagged.status == "error" and "verify --repair" in (flagged.reason or "")
    (summary,) = coverage.summaries()
    assert (summary.complete, summary.error) == (0, 1)
    coverage.forget_sessions("SPY", [DAY])
    assert coverage.sessions("SPY") == {}
