"""The reader's in-order parallel decode returns exactly what a DuckDB scan sorted by time
returns, for whole and cut ranges; a lake it cannot trust (unsorted file, unreadable file)
falls back to DuckDB."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stockdb.app import App
from stockdb.bars import BAR_SCHEMA, conform
from stockdb.config import Settings
from stockdb.lake import reader as reader_module
from stockdb.lake.reader import BarQuery

START, END = date(2024, 3, 4), date(2024, 3, 15)


@pytest.fixture
def app(tmp_path: Path) -> App:
    stockdb = App(Settings(data_dir=tmp_path / "data"))
    stockdb.backfill.run(["SPY"], START, END, stockdb.provider("synthetic"))
    return stockdb


def files(app: App) -> list[str]:
    return [str(p) for p in sorted((app.settings.parquet_dir / "SPY").glob("dt=*/*.parquet"))]


def duckdb_reference(paths: list[str], lo_us: int | None, hi_us: int | None) -> pa.Table:
    where = []
    if lo_us is not None:
        where.append(f"epoch_us(ts) >= {lo_us}")
    if hi_us is not None:
        where.append(f"epoch_us(ts) < {hi_us}")
    sql = f"SELECT {', '.join(BAR_SCHEMA.names)} FROM read_parquet(?)"
    if where:
        sql += " WHERE " + " AND ".join(where)
    with duckdb.connect() as con:
        return conform(con.sql(sql + " ORDER BY ts", params=[paths]).to_arrow_table())


def us(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp() * 1_000_000)


@pytest.mark.parametrize(
    ("lo", "hi"),
    [
        (None, None),
        ("2024-03-06T15:00:00+00:00", None),
        (None, "2024-03-12T13:31:00+00:00"),
        ("2024-03-06T15:00:00+00:00", "2024-03-06T15:00:00.000001+00:00"),
        ("2024-03-20T00:00:00+00:00", None),  # after every bar: empty
    ],
)
def test_fast_path_equals_a_sorted_duckdb_scan(app: App, lo: str | None, hi: str | None) -> None:
    paths = files(app)
    lo_us = None if lo is None else us(lo)
    hi_us = None if hi is None else us(hi)
    fast = reader_module._decode_in_order(paths, lo_us, hi_us)
    assert fast is not None
    expected = duckdb_reference(paths, lo_us, hi_us)
    assert fast.schema == BAR_SCHEMA
    assert fast.equals(expected)
    assert app.reader.scan(paths, lo_us, hi_us).equals(expected)


def test_unsorted_file_falls_back_to_a_sorted_scan(app: App) -> None:
    paths = files(app)
    victim = pq.read_table(paths[3])
    pq.write_table(victim.take(pa.array(range(victim.num_rows - 1, -1, -1))), paths[3])
    assert reader_module._decode_in_order(paths, None, None) is None
    table = app.reader.scan(paths)
    assert table.equals(duckdb_reference(paths, None, None))
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    assert ts == sorted(ts)


def test_unreadable_file_is_left_to_duckdb(app: App) -> None:
    paths = files(app)
    Path(paths[2]).write_bytes(b"PAR1 this is not a parquet file PAR1")
    assert reader_module._decode_in_order(paths, None, None) is None
    with pytest.raises(Exception):  # noqa: B017 - whatever DuckDB's scan reports for it
        app.reader.scan(paths)


def test_whole_history_query_equals_the_duckdb_scan(app: App) -> None:
    expected = duckdb_reference(files(app), None, None)
    assert app.reader.bars(BarQuery.parse("SPY")).equals(expected)
    fast = reader_module._decode_in_order(files(app), None, None, "SPY")
    assert fast is not None and fast.equals(expected)


def test_folder_without_its_file_is_skipped(app: App) -> None:
    paths = files(app)
    Path(paths[4]).unlink()  # a crashed first write leaves the dt= folder behind
    expected = duckdb_reference(paths[:4] + paths[5:], None, None)
    assert app.reader.bars(BarQuery.parse("SPY")).equals(expected)
