"""``BarReader.bars_many`` answers every query exactly as ``bars`` answers it alone: the
latest-sessions batch (one polars read of every symbol's newest files) for limits at any
timeframe, date-bounded or not, and the per-query path for the rest; a lake the batch cannot
trust (a crashed first write, a damaged file, a file holding another symbol) falls back or
fails exactly as the single read does."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from stockdb.app import App
from stockdb.config import Settings
from stockdb.errors import DamagedPartition, NotFound
from stockdb.lake import reader as reader_module
from stockdb.lake.reader import BarQuery

SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]
START, END = date(2024, 3, 4), date(2024, 3, 15)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("many") / "data"
    app = App(Settings(data_dir=data))
    try:
        app.backfill.run(SYMBOLS, START, END, app.provider("synthetic"))
    finally:
        app.close()
    return data


@pytest.fixture
def app(seeded: Path, tmp_path: Path) -> Iterator[App]:
    data = tmp_path / "data"
    shutil.copytree(seeded, data)
    stockdb = App(Settings(data_dir=data))
    yield stockdb
    stockdb.close()


def single_reads(app: App, queries: list[BarQuery]) -> list[pa.Table]:
    return [app.reader.bars(q) for q in queries]


@pytest.mark.parametrize(
    ("timeframe", "limit", "start", "end", "session"),
    [
        ("1Min", 1, None, None, None),
        ("1Min", 700, None, None, None),  # more than a session: a second file per symbol
        ("1Min", 5, None, "2024-03-08", None),
        ("1Min", 3, "2024-03-11", "2024-03-12", "regular"),
        ("5Min", 40, None, None, None),
        ("15Min", 1000, None, None, None),  # more than stored: every session, all rows
        ("1Hour", 4, None, None, None),  # served by the rollups: the per-query path
        ("1Day", 2, None, None, None),
        ("1Min", None, "2024-03-07", "2024-03-07", None),  # no limit: per query
    ],
)
def test_each_query_equals_its_single_read(
    app: App,
    timeframe: str,
    limit: int | None,
    start: str | None,
    end: str | None,
    session: str | None,
) -> None:
    queries = [BarQuery.parse(s, timeframe, start, end, limit, session) for s in SYMBOLS]
    many = app.reader.bars_many(queries)
    for query, got, want in zip(queries, many, single_reads(app, queries), strict=True):
        assert got.equals(want), (query.symbol, got.num_rows, want.num_rows)
        if limit is not None:
            assert got.num_rows <= limit


def test_the_latest_bars_come_from_one_batched_read(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = [BarQuery.parse(s, "1Min", limit=2) for s in SYMBOLS]
    want = single_reads(app, queries)
    calls: list[int] = []
    real = reader_module._decode_groups

    def counted(groups: list[list[str]], symbols: list[str]) -> list[pa.Table] | None:
        calls.append(len(groups))
        return real(groups, symbols)

    def refuse(query: BarQuery) -> pa.Table:
        raise AssertionError(f"{query.symbol} was read on its own")

    monkeypatch.setattr(reader_module, "_decode_groups", counted)
    monkeypatch.setattr(app.reader, "bars", refuse)
    many = app.reader.bars_many(queries)
    assert calls == [len(SYMBOLS)]
    assert all(g.equals(w) for g, w in zip(many, want, strict=True))


def test_a_crashed_first_write_falls_back_to_the_single_reads(app: App) -> None:
    # a session folder without its file (a first write killed before the rename)
    (app.settings.parquet_dir / "BBB" / "dt=2024-03-18").mkdir()
    queries = [BarQuery.parse(s, "1Min", limit=3) for s in SYMBOLS]
    many = app.reader.bars_many(queries)
    assert all(g.equals(w) for g, w in zip(many, single_reads(app, queries), strict=True))
    assert many[1].column("ts")[-1].as_py().date() == date(2024, 3, 15)


def test_a_damaged_newest_file_fails_as_the_single_read_does(app: App) -> None:
    newest = app.settings.parquet_dir / "CCC" / "dt=2024-03-15" / "bars.parquet"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated
    queries = [BarQuery.parse(s, "1Min", limit=1) for s in SYMBOLS]
    with pytest.raises(DamagedPartition, match="CCC"):
        app.reader.bars(queries[2])
    with pytest.raises(DamagedPartition, match="CCC"):
        app.reader.bars_many(queries)


def test_another_symbols_file_is_not_taken_for_this_one(app: App) -> None:
    root = app.settings.parquet_dir
    theirs = root / "AAA" / "dt=2024-03-15" / "bars.parquet"
    shutil.copyfile(theirs, root / "DDD" / "dt=2024-03-15" / "bars.parquet")
    queries = [BarQuery.parse(s, "1Min", limit=1) for s in SYMBOLS]
    many = app.reader.bars_many(queries)
    assert all(g.equals(w) for g, w in zip(many, single_reads(app, queries), strict=True))


def test_an_unknown_symbol_raises_what_its_single_read_raises(app: App) -> None:
    queries = [BarQuery.parse(s, "1Min", limit=1) for s in [*SYMBOLS, "ZZZ"]]
    with pytest.raises(NotFound, match="ZZZ"):
        app.reader.bars_many(queries)
