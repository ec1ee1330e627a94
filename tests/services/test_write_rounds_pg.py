"""A backfill round of several symbols on a PostgreSQL state store: every symbol's advisory
lock is held for the round, the ledger and coverage land in PostgreSQL, verify passes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from stockdb.app import App
from stockdb.config import Settings
from stockdb.errors import Conflict
from stockdb.lake.shared_locks import AdvisorySymbolLocks
from stockdb.providers.synthetic import generate_session
from stockdb.state.coverage import CoverageStatus

pytestmark = pytest.mark.services

SYMBOLS = ["SPY", "AAPL", "MSFT"]


def test_backfill_round_on_postgresql(tmp_path: Path, pg_database: str) -> None:
    app = App(Settings(data_dir=tmp_path, state_url=pg_database))
    other = AdvisorySymbolLocks(app.state, poll_s=0.01)
    try:
        assert isinstance(app.lake.locks, AdvisorySymbolLocks)
        with app.lake.writers(SYMBOLS):
            for symbol in SYMBOLS:
                with pytest.raises(Conflict), other.hold(symbol, timeout_s=0.05):
                    pass  # pragma: no cover - held by the round
        start, end = date(2024, 2, 26), date(2024, 3, 6)  # two months: two rounds
        summary = app.backfill.run(SYMBOLS, start, end, app.provider("synthetic"))
        sessions = app.calendar.sessions(start, end)
        assert summary.sessions_complete == len(SYMBOLS) * len(sessions)
        for symbol in SYMBOLS:
            coverage = app.coverage.sessions(symbol)
            assert sorted(coverage) == [s.date for s in sessions]
            for session in sessions:
                assert coverage[session.date].status is CoverageStatus.COMPLETE
                stored = pq.read_table(app.lake.partition_path(symbol, session.date))
                expected = generate_session(symbol, session)
                assert stored.replace_schema_metadata(None).equals(expected)
        files = len(app.ledger.entries("bars"))
        assert files == len(SYMBOLS) * len(sessions)
        assert app.verifier.check(app.clock.now()).ok
        with other.hold("SPY", timeout_s=1.0):
            pass  # released after the rounds
    finally:
        other.dispose()
        app.close()
