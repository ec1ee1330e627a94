"""The lake's invariants: layout, merge modes, lineage, atomic all-or-nothing writes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stockdb.bars import BAR_SCHEMA
from stockdb.calendar import TradingCalendar
from stockdb.errors import Conflict, DataIntegrityError, StorageError
from stockdb.lake.locks import FileSymbolLocks
from stockdb.lake.parquet_lake import Lineage, ParquetLake
from stockdb.providers.synthetic import generate_session

SYN = Lineage("synthetic", "synthetic")
DAY = date(2024, 3, 11)


def bars(minutes: list[int], price: float, symbol: str = "SPY") -> pa.Table:
    base = int(datetime(2024, 3, 11, 13, 30, tzinfo=UTC).timestamp()) * 1_000_000
    n = len(minutes)
    return pa.Table.from_pydict(
        {
            "symbol": [symbol] * n,
            "ts": pa.array([base + m * 60_000_000 for m in minutes]).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "open": [price] * n,
            "high": [price + 1] * n,
            "low": [price - 1] * n,
            "close": [price] * n,
            "volume": [100] * n,
            "trade_count": [3] * n,
            "vwap": [price] * n,
        },
        schema=BAR_SCHEMA,
    )


@pytest.fixture
def lake(tmp_path: Path) -> ParquetLake:
    return ParquetLake(tmp_path / "parquet", FileSymbolLocks(tmp_path / "locks"))


def stored(lake: ParquetLake) -> pa.Table:
    return pq.read_table(lake.partition_path("SPY", DAY))


def test_layout_schema_and_metadata(lake: ParquetLake, calendar: TradingCalendar) -> None:
    table = generate_session("SPY", calendar.session(DAY))
    with lake.writer("SPY"):
        lake.write_session("SPY", DAY, table.take(pa.array(range(table.num_rows - 1, -1, -1))), SYN)
    path = lake.root / "SPY" / "dt=2024-03-11" / "bars.parquet"
    assert path.exists()
    got = pq.read_table(path)
    assert got.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert got.column("ts").to_pylist() == sorted(got.column("ts").to_pylist())
    assert got.drop_columns([]).cast(BAR_SCHEMA).equals(table)
    meta = pq.read_schema(path).metadata
    assert meta[b"stockdb.provider"] == b"synthetic" and meta[b"stockdb.schema_version"] == b"1"
    assert lake.sessions("SPY") == [DAY] and lake.symbols() == ["SPY"]


def test_merge_keeps_existing_rows_and_skips_no_op_writes(lake: ParquetLake) -> None:
    with lake.writer("SPY"):
        lake.write_session("SPY", DAY, bars([0, 1, 2], 10.0), SYN)
        before = lake.partition_path("SPY", DAY).read_bytes()
        result = lake.write_session("SPY", DAY, bars([1, 2], 99.0), SYN)
        assert not result.changed
        assert lake.partition_path("SPY", DAY).read_bytes() == before
        result = lake.write_session("SPY", DAY, bars([2, 3, 3], 50.0), SYN)
    assert (result.rows_added, result.rows_replaced) == (1, 0)
    assert stored(lake).column("close").to_pylist() == [10.0, 10.0, 10.0, 50.0]


def test_update_lets_revised_bars_win(lake: ParquetLake) -> None:
    with lake.writer("SPY"):
        lake.write_session("SPY", DAY, bars([0, 1, 2], 10.0), SYN)
        result = lake.write_session("SPY", DAY, bars([2, 3], 11.0), SYN, mode="update")
    assert (result.rows_added, result.rows_replaced) == (1, 1)
    assert stored(lake).column("close").to_pylist() == [10.0, 10.0, 11.0, 11.0]


def test_replace_makes_the_session_exactly_the_new_bars(lake: ParquetLake) -> None:
    with lake.writer("SPY"):
        lake.write_session("SPY", DAY, bars([0, 1, 2], 10.0), SYN)
        lake.write_session("SPY", DAY, bars([1, 5], 12.0), SYN, mode="replace")
    assert stored(lake).column("close").to_pylist() == [12.0, 12.0]
    assert stored(lake).num_rows == 2


def test_refuses_to_mix_providers(lake: ParquetLake) -> None:
    with lake.writer("SPY"):
        lake.write_session("SPY", DAY, bars([0], 10.0), SYN)
        before = lake.partition_path("SPY", DAY).read_bytes()
        with pytest.raises(Conflict, match="synthetic/synthetic"):
            lake.write_session("SPY", DAY, bars([1], 10.0), Lineage("alpaca", "iex"))
    assert lake.partition_path("SPY", DAY).read_bytes() == before


def test_refuses_rows_of_another_symbol(lake: ParquetLake) -> None:
    with lake.writer("SPY"), pytest.raises(DataIntegrityError):
        lake.write_session("SPY", DAY, bars([0], 10.0, symbol="QQQ"), SYN)
    assert not lake.partition_path("SPY", DAY).exists()


def test_group_write_is_all_or_nothing(lake: ParquetLake, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import stockdb.lake.atomic as module

    real = module._write_synced
    calls = {"n": 0}
    lock = threading.Lock()

    def failing(tmp: Path, data: memoryview) -> None:
        with lock:  # the group's files are written from a thread pool
            calls["n"] += 1
            fail = calls["n"] == 2
        if fail:
            raise OSError(28, "No space left on device")
        return real(tmp, data)

    monkeypatch.setattr(module, "_write_synced", failing)
    other = date(2024, 3, 12)
    with lake.writer("SPY"), pytest.raises(StorageError, match="No space left"):
        lake.write_sessions(
            "SPY", {DAY: (bars([0], 1.0), "merge"), other: (bars([0], 1.0), "merge")}, SYN
        )
    assert not (lake.root / "SPY").exists()  # no file, no temp, no empty folder left


def test_writer_lock_excludes_other_processes(lake: ParquetLake, tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from stockdb.lake.locks import FileSymbolLocks;\n"
        "from stockdb.errors import Conflict\n"
        f"locks = FileSymbolLocks(Path({str(tmp_path / 'locks')!r}), poll_s=0.01)\n"
        "try:\n"
        "    with locks.hold('SPY', timeout_s=0.2): sys.exit(0)\n"
        "except Conflict: sys.exit(3)\n"
    )
    with lake.writer("SPY"):
        held = subprocess.run([sys.executable, "-c", code], check=False)
    free = subprocess.run([sys.executable, "-c", code], check=False)
    assert (held.returncode, free.returncode) == (3, 0)
