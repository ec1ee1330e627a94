"""Property test: the maintained rollups equal derive-on-read after any sequence of writes.

Arbitrary merges, live updates, replacements and quarantines over sessions that span a year
boundary, a DST change and an early close; after each step, every rollup (1Day regular,
1Day all sessions, 1Hour) read through the BarReader equals the reader's derive-on-read
aggregate of the stored minute files, in full and over a date range, and is served from the
rollup files (no year falls back), except where the test damaged a rollup file itself.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockdb.calendar import TradingCalendar
from stockdb.lake.locks import FileSymbolLocks
from stockdb.lake.parquet_lake import Lineage, ParquetLake
from stockdb.lake.reader import BarQuery, BarReader
from stockdb.lake.rollups import ROLLUPS, derive_bars
from stockdb.providers.synthetic import generate_session

SYN = Lineage("synthetic", "synthetic")
CALENDAR = TradingCalendar()
SESSIONS = [
    *CALENDAR.sessions(date(2023, 11, 22), date(2023, 11, 27)),  # early close on the 24th
    *CALENDAR.sessions(date(2023, 12, 28), date(2024, 1, 3)),  # a year boundary
    *CALENDAR.sessions(date(2024, 3, 8), date(2024, 3, 11)),  # the spring DST change
]
QUERIES = {r.name: (r.timeframe.name, "regular" if r.regular_only else "all") for r in ROLLUPS}

step = st.tuples(
    st.integers(0, len(SESSIONS) - 1),
    st.sampled_from(["merge", "update", "replace", "quarantine", "damage"]),
    st.lists(st.integers(0, 959), min_size=1, max_size=60),
    st.floats(0.5, 2.0),
)


def _minutes(session_index: int, picks: list[int], scale: float) -> pa.Table:
    full = generate_session("SPY", SESSIONS[session_index])
    rows = sorted({p % full.num_rows for p in picks})
    table = full.take(pa.array(rows))
    for name in ("open", "high", "low", "close", "vwap"):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.multiply(table.column(name), scale))
    return table


def _reference(lake: ParquetLake, timeframe: str, session: str) -> pa.Table:
    """The derive-on-read aggregate of every stored minute file."""
    files = [pq.read_table(p) for _, p in lake.session_paths("SPY")]
    minutes = pa.concat_tables(files).replace_schema_metadata(None)
    query = BarQuery.parse("SPY", timeframe, session=session)
    return derive_bars(minutes, query.timeframe, query.regular_only, CALENDAR)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_rollups_equal_derive_on_read(steps: list[tuple[int, str, list[int], float]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lake = ParquetLake(Path(tmp) / "p", FileSymbolLocks(Path(tmp) / "l"))
        reader = BarReader(lake, CALENDAR)
        damaged: set[tuple[str, int]] = set()
        for index, action, picks, scale in steps:
            day = SESSIONS[index].date
            with lake.writer("SPY"):
                if action == "quarantine":
                    if lake.quarantine("SPY", day, "test", CALENDAR.session(day).close):
                        damaged = {(n, y) for n, y in damaged if y != day.year}
                elif action == "damage":
                    for rollup in ROLLUPS[: 1 + index % 3]:
                        path = lake.rollups.path(rollup, "SPY", day.year)
                        if path.exists():
                            path.write_bytes(path.read_bytes()[:40])
                            damaged.add((rollup.name, day.year))
                else:
                    bars = _minutes(index, picks, scale)
                    result = lake.write_session("SPY", day, bars, SYN, action)  # type: ignore[arg-type]
                    if result.changed:
                        damaged = {(n, y) for n, y in damaged if y != day.year}
            stored = lake.partition_names("SPY")
            if not stored:
                continue
            for rollup in ROLLUPS:
                timeframe, session = QUERIES[rollup.name]
                expected = _reference(lake, timeframe, session)
                got = reader.bars(BarQuery.parse("SPY", timeframe, session=session))
                assert got.equals(expected), rollup.name
                _, fallback = lake.rollups.read(rollup, "SPY", stored, None, None)
                years = {int(n[3:7]) for n in fallback}
                assert years == {y for n, y in damaged if n == rollup.name} & {
                    int(n[3:7]) for n in stored
                }
                first, last = SESSIONS[2].date, SESSIONS[-3].date
                ranged = reader.bars(BarQuery.parse("SPY", timeframe, first, last, 3, session))
                ts = expected.column("ts").cast(pa.int64()).to_numpy()
                lo = int(np.searchsorted(ts, _midnight(first)))
                hi = int(np.searchsorted(ts, _midnight(SESSIONS[-2].date)))
                window = expected.slice(lo, hi - lo)
                assert ranged.equals(window.slice(max(0, window.num_rows - 3)))


def _midnight(day: date) -> int:
    return int(CALENDAR.session(day).extended_open.timestamp()) * 1_000_000 - 4 * 3_600_000_000
