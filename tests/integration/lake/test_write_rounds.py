"""Many symbols written in one durable round: same files as one symbol at a time, one ledger
transaction, all-or-nothing across symbols, every writer lock held."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.config import Settings
from stockdb.errors import Conflict, DamagedPartition, StorageError
from stockdb.lake.integrity import checksum_file
from stockdb.lake.parquet_lake import Lineage, SessionWrites
from stockdb.lake.reader import BarQuery
from stockdb.lake.rollups import ROLLUPS, derive_bars
from stockdb.providers.synthetic import generate_session

from ...conftest import snapshot  # type: ignore[import-not-found]

SYN = Lineage("synthetic", "synthetic")
SYMBOLS = ["MSFT", "AAPL", "SPY"]
# A year boundary, so one round writes two rollup years of every symbol.
START, END = date(2023, 12, 27), date(2024, 1, 4)


def month(calendar: TradingCalendar, symbols: list[str]) -> dict[str, SessionWrites]:
    sessions = calendar.sessions(START, END)
    return {s: {x.date: (generate_session(s, x), "merge") for x in sessions} for s in symbols}


def make_app(root: Path, calendar: TradingCalendar) -> App:
    return App(Settings(data_dir=root), calendar=calendar)


def test_one_round_writes_what_one_symbol_at_a_time_writes(
    tmp_path: Path, calendar: TradingCalendar
) -> None:
    items = month(calendar, SYMBOLS)
    many, single = make_app(tmp_path / "many", calendar), make_app(tmp_path / "one", calendar)
    try:
        with many.lake.writers(SYMBOLS):
            results = many.lake.write_sessions_many(items, SYN)
        for symbol, sessions in items.items():
            with single.lake.writer(symbol):
                single.lake.write_sessions(symbol, sessions, SYN)
        assert sorted(results) == sorted(SYMBOLS)
        for symbol, sessions in items.items():
            for day, (expected, _) in sessions.items():
                assert results[symbol][day].rows_added == expected.num_rows
                path = many.lake.partition_path(symbol, day)
                # same bytes as the per-symbol path, and the bars the provider served
                assert path.read_bytes() == single.lake.partition_path(symbol, day).read_bytes()
                assert pq.read_table(path).replace_schema_metadata(None).equals(expected)
        # every ledger checksum (taken from the bytes in memory) is the file's checksum
        entries = many.ledger.entries("bars") + many.ledger.entries("rollups")
        assert len(entries) == len(SYMBOLS) * (len(items["SPY"]) + 2 * len(ROLLUPS))
        for entry in entries:
            root = many.lake.root if entry.kind == "bars" else many.lake.rollups.root
            assert (entry.size, entry.checksum) == checksum_file(root / entry.rel_path)
        # the rollups equal derive-on-read of the stored minutes
        for symbol in SYMBOLS:
            minutes = many.lake.read_sessions(symbol, many.lake.sessions(symbol))
            for rollup in ROLLUPS:
                session = "regular" if rollup.regular_only else "all"
                got = many.reader.bars(
                    BarQuery.parse(symbol, rollup.timeframe.name, session=session)
                )
                expected = derive_bars(minutes, rollup.timeframe, rollup.regular_only, calendar)
                assert got.equals(expected), (symbol, rollup.name)
        report = many.verifier.check(many.clock.now())
        assert report.ok, report.to_dict()
        # a second round changes nothing: no byte, no ledger row
        before = snapshot(many.settings.data_dir / "parquet")
        with many.lake.writers(SYMBOLS):
            again = many.lake.write_sessions_many(items, SYN)
        assert not any(r.changed for per in again.values() for r in per.values())
        assert snapshot(many.settings.data_dir / "parquet") == before
    finally:
        many.close()
        single.close()


def test_a_failed_round_changes_no_symbol(
    tmp_path: Path, calendar: TradingCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stockdb.lake.atomic as module

    app = make_app(tmp_path / "data", calendar)
    try:
        first = month(calendar, ["SPY"])
        with app.lake.writers(["SPY"]):
            app.lake.write_sessions_many(first, SYN)
        lake_before = snapshot(app.settings.data_dir / "parquet")
        rollups_before = snapshot(app.lake.rollups.root)
        ledger_before = app.ledger.entries("bars") + app.ledger.entries("rollups")

        real = module._write_synced
        calls = {"n": 0}
        lock = threading.Lock()

        def failing(tmp: Path, data: memoryview) -> None:
            with lock:  # the round's files are written from a thread pool
                calls["n"] += 1
                fail = calls["n"] == 17
            if fail:
                raise OSError(28, "No space left on device")
            return real(tmp, data)

        monkeypatch.setattr(module, "_write_synced", failing)
        later = {
            s: {
                x.date: (generate_session(s, x), "merge")
                for x in calendar.sessions(date(2024, 1, 5), date(2024, 1, 12))
            }
            for s in SYMBOLS
        }
        with app.lake.writers(SYMBOLS), pytest.raises(StorageError, match="No space left"):
            app.lake.write_sessions_many(later, SYN)
        assert calls["n"] > 17  # the round was one batch of files, failing in the middle
        assert snapshot(app.settings.data_dir / "parquet") == lake_before  # no file, temp or folder
        assert snapshot(app.lake.rollups.root) == rollups_before
        assert not (app.lake.root / "AAPL").exists() and not (app.lake.root / "MSFT").exists()
        assert app.ledger.entries("bars") + app.ledger.entries("rollups") == ledger_before
    finally:
        app.close()


def test_a_lineage_conflict_in_one_symbol_writes_nothing(
    tmp_path: Path, calendar: TradingCalendar
) -> None:
    app = make_app(tmp_path / "data", calendar)
    try:
        with app.lake.writers(["SPY"]):
            app.lake.write_sessions_many(month(calendar, ["SPY"]), Lineage("alpaca", "iex"))
        before = snapshot(app.settings.data_dir / "parquet")
        with app.lake.writers(SYMBOLS), pytest.raises(Conflict, match="alpaca/iex"):
            app.lake.write_sessions_many(month(calendar, SYMBOLS), SYN)
        assert snapshot(app.settings.data_dir / "parquet") == before
        # unless that symbol is exempt (a --replace switching providers)
        with app.lake.writers(SYMBOLS):
            app.lake.write_sessions_many(month(calendar, SYMBOLS), SYN, unchecked=["spy"])
        assert app.lake.lineage("AAPL") == SYN
    finally:
        app.close()


def test_writers_holds_the_lock_of_every_symbol(tmp_path: Path, calendar: TradingCalendar) -> None:
    app = make_app(tmp_path / "data", calendar)
    try:
        with app.lake.writers(["msft", "AAPL", "AAPL"]):
            for symbol in ("AAPL", "MSFT"):
                with pytest.raises(Conflict), app.lake.writer(symbol, timeout_s=0.05):
                    pass  # pragma: no cover - the lock is held, so this never runs
            with app.lake.writer("SPY", timeout_s=0.05):
                pass  # another symbol stays free
        with app.lake.writer("AAPL", timeout_s=0.05):
            pass  # released on exit
    finally:
        app.close()


def test_a_failure_while_merging_removes_the_files_already_streaming(
    tmp_path: Path, calendar: TradingCalendar
) -> None:
    # The round encodes and writes each symbol's files as soon as they are merged: AAPL and
    # MSFT are in flight when SPY's stored session turns out to be damaged.
    app = make_app(tmp_path / "data", calendar)
    try:
        with app.lake.writers(["SPY"]):
            app.lake.write_sessions_many(month(calendar, ["SPY"]), SYN)
        damaged = app.lake.partition_path("SPY", END)
        damaged.write_bytes(damaged.read_bytes()[:64])
        lake_before = snapshot(app.settings.data_dir / "parquet")
        rollups_before = snapshot(app.lake.rollups.root)
        ledger_before = app.ledger.entries("bars") + app.ledger.entries("rollups")
        with app.lake.writers(SYMBOLS), pytest.raises(DamagedPartition, match="SPY"):
            app.lake.write_sessions_many(month(calendar, SYMBOLS), SYN)
        assert snapshot(app.settings.data_dir / "parquet") == lake_before  # no temp, no folder
        assert not (app.lake.root / "AAPL").exists() and not (app.lake.root / "MSFT").exists()
        assert snapshot(app.lake.rollups.root) == rollups_before
        after = app.ledger.entries("bars") + app.ledger.entries("rollups")
        changed = [a for a, b in zip(after, ledger_before, strict=True) if a != b]
        # the one change: the reader marked the damaged session (verify and gaps show it)
        assert [(e.rel_path, e.status) for e in changed] == [
            (app.lake.rel_path(damaged), "damaged")
        ]
    finally:
        app.close()
