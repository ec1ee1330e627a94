"""Rollups benchmark: the daily bars of 100 symbols read from the maintained rollups, vs
derive-on-read from the minute files, vs polars merely reading those minute files."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import polars as pl

from bench.common import BENCH_ROOT, median_time, print_table
from stockdb.calendar import TradingCalendar
from stockdb.lake.locks import FileSymbolLocks
from stockdb.lake.parquet_lake import Lineage, ParquetLake
from stockdb.lake.reader import BarQuery, BarReader
from stockdb.providers.synthetic import generate_session

__all__ = ["main", "universe_lake"]

SYMBOLS = [f"S{i:03d}" for i in range(1, 101)]


def universe_lake(calendar: TradingCalendar) -> Path:
    """100 synthetic symbols x 3 months of 1-min bars, written through the lake (so with
    their rollups); built once and cached."""
    data_dir = BENCH_ROOT / "universe100x3m"
    done = data_dir / ".complete"
    if done.exists():
        return data_dir
    lake = ParquetLake(data_dir / "parquet", FileSymbolLocks(data_dir / "locks"))
    lineage = Lineage("synthetic", "synthetic")
    sessions = calendar.sessions(date(2024, 1, 2), date(2024, 3, 28))
    for symbol in SYMBOLS:
        with lake.writer(symbol):
            for i in range(0, len(sessions), 21):
                batch = sessions[i : i + 21]
                items = {s.date: (generate_session(symbol, s), "merge") for s in batch}
                lake.write_sessions(symbol, items, lineage)  # type: ignore[arg-type]
    done.touch()
    return data_dir


def main() -> None:
    calendar = TradingCalendar()
    t0 = time.perf_counter()
    root = universe_lake(calendar)
    build_s = time.perf_counter() - t0
    lake = ParquetLake(root / "parquet", FileSymbolLocks(root / "locks"), calendar=calendar)
    rolled = BarReader(lake, calendar)
    derived = BarReader(lake, calendar, use_rollups=False)
    queries = [BarQuery.parse(s, "1Day") for s in SYMBOLS]
    files = sorted(str(p) for p in (root / "parquet").glob("*/dt=*/bars.parquet"))

    def read_all(reader: BarReader) -> int:
        return sum(reader.bars(q).num_rows for q in queries)

    assert read_all(rolled) == read_all(derived)
    for q in queries[:5]:
        assert rolled.bars(q).equals(derived.bars(q))
    a = median_time(lambda: read_all(rolled), repeat=5)
    b = median_time(lambda: read_all(derived), repeat=3)
    c = median_time(lambda: pl.read_parquet(files), repeat=3)
    rows = [
        ("rollups", f"{a * 1e3:.0f} ms", "1.00x", f"{a / c:.3f}x"),
        ("derive on read", f"{b * 1e3:.0f} ms", f"{b / a:.1f}x", f"{b / c:.2f}x"),
        ("polars read of the minute files", f"{c * 1e3:.0f} ms", f"{c / a:.1f}x", "1.00x"),
    ]
    print_table(
        f"daily bars of {len(SYMBOLS)} symbols, {len(files):,} minute files "
        f"(lake built in {build_s:.1f}s, cached)",
        rows,
        ("path", "time", "vs rollups", "vs polars read"),
    )
    rolled.close()
    derived.close()


if __name__ == "__main__":
    main()
