"""The issue's universe reads: 500 symbols x 3 months and 20 symbols x 10 years.

Two lakes, filled once through the real backfill (synthetic provider: rounds of symbols,
rollups maintained by every write) and cached under ``BENCH_ROOT``:

- ``500 x 3 months``: the first quarter of 2024 for S000..S499;
- ``20 x 10 years``: 2015-2024 for T00..T19.

Measured on each, in the same run:

1. the daily panel of every symbol over every stored session, ``db.bars(symbols, "1Day")``
   as Arrow (goal <= 0.5 s), against polars merely reading every minute file the panel
   covers (goal <= 0.1x that read);
2. on the 500-symbol lake, the latest bar of every symbol, ``db.bars(symbols, limit=1)``
   (goal <= 0.3 s), against polars reading each symbol's newest minute file.

Run: ``python -m bench universe`` (the first run builds the lakes: a few minutes).
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import polars as pl

from bench.common import BENCH_ROOT, median_time, print_table
from stockdb.app import App
from stockdb.client import StockDB, open_db
from stockdb.config import Settings

__all__ = ["main"]

LAKES = {
    "500 x 3 months": ([f"S{i:03d}" for i in range(500)], date(2024, 1, 2), date(2024, 3, 28)),
    "20 x 10 years": ([f"T{i:02d}" for i in range(20)], date(2015, 1, 2), date(2024, 12, 31)),
}


def _lake(name: str, symbols: list[str], first: date, last: date) -> tuple[Path, float]:
    """The data dir of one lake, filled by the backfill unless cached; seconds it took."""
    data_dir = BENCH_ROOT / f"universe-{name.replace(' ', '')}"
    done = data_dir / ".complete"
    if done.exists():
        return data_dir, 0.0
    began = time.perf_counter()
    app = App(Settings(data_dir=data_dir, alpaca_key_id=None, alpaca_secret_key=None))
    source = app.provider("synthetic")
    try:
        app.backfill.run(symbols, first, last, source)
    finally:
        source.close()
        app.close()
    done.touch()
    return data_dir, time.perf_counter() - began


def _minute_files(db: StockDB, symbols: list[str]) -> list[list[str]]:
    lake = db.app.lake
    return [[str(p) for _, p in lake.existing(s, lake.partition_names(s))] for s in symbols]


def _measure(name: str, symbols: list[str], data_dir: Path) -> list[tuple[str, ...]]:
    db = open_db(data_dir)
    try:
        files = _minute_files(db, symbols)
        every = [f for per in files for f in per]
        panel = db.bars(symbols, "1Day", output="arrow")
        assert panel.num_rows == sum(len(per) for per in files)  # one row per stored session
        ours = median_time(lambda: db.bars(symbols, "1Day", output="arrow"), repeat=5)
        ref = median_time(lambda: pl.read_parquet(every), repeat=3)
        rows = [
            (
                f"{name}: daily panel ({panel.num_rows:,} rows from {len(every):,} files)",
                f"{ours * 1e3:.0f} ms (goal <= 500 ms)",
                f"polars reading the minute files {ref * 1e3:.0f} ms",
                f"{ours / ref:.3f}x (goal <= 0.1x)",
            )
        ]
        if len(symbols) >= 500:
            latest = db.bars(symbols, limit=1, output="arrow")
            assert latest.num_rows == len(symbols)
            ours = median_time(lambda: db.bars(symbols, limit=1, output="arrow"), repeat=5)
            newest = [per[-1] for per in files]
            ref = median_time(lambda: pl.read_parquet(newest), repeat=3)
            rows.append(
                (
                    f"{name}: latest bar of {len(symbols)} symbols",
                    f"{ours * 1e3:.0f} ms (goal <= 300 ms)",
                    f"polars reading each newest file {ref * 1e3:.0f} ms",
                    f"{ours / ref:.2f}x",
                )
            )
        return rows
    finally:
        db.close()


def main() -> None:
    """Benchmark entry point (``python -m bench universe``)."""
    rows: list[tuple[str, ...]] = []
    built: list[str] = []
    for name, (symbols, first, last) in LAKES.items():
        data_dir, seconds = _lake(name, symbols, first, last)
        if seconds:
            built.append(f"{name} built in {seconds:.0f} s")
        rows += _measure(name, symbols, data_dir)
    title = "Universe reads" + (f" ({'; '.join(built)})" if built else " (lakes cached)")
    print_table(title, rows, ("case", "stockdb", "reference", "ratio"))


if __name__ == "__main__":
    main()
