"""A backfill of many symbols persists each month of all of them in one write round: every
bar once, coverage for every session, a symbol listed mid-range stored from its first bar."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from stockdb.app import App
from stockdb.ingest import backfill
from stockdb.providers.synthetic import SyntheticProvider, generate_session
from stockdb.state.coverage import CoverageStatus

from ...conftest import snapshot  # type: ignore[import-not-found]

START, END = date(2024, 2, 26), date(2024, 3, 8)
LISTED = date(2024, 3, 1)  # NEWCO trades from this session on


class Listing(SyntheticProvider):
    """Synthetic bars, except NEWCO before its listing day."""

    def fetch_bars(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> Iterator[pa.Table]:
        listed = pa.scalar(
            int(self.calendar.session(LISTED).extended_open.timestamp() * 1e6),
            pa.timestamp("us", tz="UTC"),
        )
        for page in super().fetch_bars(symbols, start, end):
            early = pc.and_(pc.equal(page.column("symbol"), "NEWCO"), pc.less(page["ts"], listed))
            yield page.filter(pc.invert(early))


def test_months_of_many_symbols_in_rounds(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backfill, "ROUND_SYMBOLS", 2)  # several rounds per month
    symbols = ["SPY", "AAPL", "NEWCO", "MSFT", "QQQ"]
    provider = Listing(app.calendar)
    sessions = app.calendar.sessions(START, END)
    seen: list[tuple[int, int]] = []
    summary = app.backfill.run(
        symbols, START, END, provider, progress=lambda d, t, _: seen.append((d, t))
    )
    total = len(symbols) * len(sessions)
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert summary.no_data == ["NEWCO"]  # nothing in February: named, as one symbol at a time
    for symbol in symbols:
        coverage = app.coverage.sessions(symbol)
        expected_sessions = [s for s in sessions if symbol != "NEWCO" or s.date >= LISTED]
        assert sorted(coverage) == [s.date for s in expected_sessions], symbol
        for session in expected_sessions:
            assert coverage[session.date].status is CoverageStatus.COMPLETE
            stored = pq.read_table(app.lake.partition_path(symbol, session.date))
            assert stored.replace_schema_metadata(None).equals(generate_session(symbol, session))
            assert coverage[session.date].rows == stored.num_rows
        assert app.coverage.get_symbol(symbol) is not None
    assert summary.rows_written == sum(
        generate_session(s, x).num_rows
        for s in symbols
        for x in sessions
        if s != "NEWCO" or x.date >= LISTED
    )
    assert app.verifier.check(app.clock.now()).ok
    before = snapshot(app.settings.data_dir / "parquet")
    again = app.backfill.run(symbols, START, END, provider)
    unlisted = sum(1 for s in sessions if s.date < LISTED)  # NEWCO's: asked again
    assert again.sessions_skipped == total - unlisted and again.rows_written == 0
    assert snapshot(app.settings.data_dir / "parquet") == before
