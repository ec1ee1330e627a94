"""Property tests: merge-dedupe and idempotent re-ingest of arbitrary batches."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockdb.lake.locks import FileSymbolLocks
from stockdb.lake.parquet_lake import Lineage, ParquetLake

from ..integration.lake.test_parquet_lake import bars  # type: ignore[import-not-found]

DAY = date(2024, 3, 11)
SYN = Lineage("synthetic", "synthetic")
minute_sets = st.lists(st.integers(min_value=0, max_value=959), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(minute_sets, min_size=1, max_size=4))
def test_merge_is_a_first_writer_wins_union(batches: list[list[int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lake = ParquetLake(Path(tmp) / "p", FileSymbolLocks(Path(tmp) / "l"))
        owner: dict[int, float] = {}
        with lake.writer("SPY"):
            for i, minutes in enumerate(batches):
                price = 10.0 + i
                lake.write_session("SPY", DAY, bars(minutes, price), SYN)
                for m in minutes:
                    owner.setdefault(m, price)
            path = lake.partition_path("SPY", DAY)
            if not owner:
                assert not path.exists()
                return
            table = pq.read_table(path)
            ts = table.column("ts").cast("int64").to_pylist()
            assert ts == sorted(set(ts))  # sorted, unique
            base = ts[0] - min(owner) * 60_000_000
            got = {
                (t - base) // 60_000_000: c
                for t, c in zip(ts, table.column("close").to_pylist(), strict=True)
            }
            assert got == owner
            before = path.read_bytes()
            for i, minutes in enumerate(batches):  # re-ingest everything: byte-identical
                lake.write_session("SPY", DAY, bars(minutes, 10.0 + i), SYN)
            assert path.read_bytes() == before
