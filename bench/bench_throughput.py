"""Universe throughput: ingest writes of many symbols vs polars, and builds/verify on every core.

1. Ingest write path: ``SYMBOLS`` synthetic symbols x one month, written the way a backfill
   writes a month of many symbols: per round of ``ROUND_SYMBOLS`` symbols, their writer
   locks, then one all-or-nothing ``write_sessions_many`` round (every partition and rollup
   file fsync'd, renamed, its folder fsync'd, its checksum in the ledger), against polars
   writing the same daily files to the same layout (no fsync, no rollups, no ledger).
   Goal: >= 1x polars. Both sides first write one other symbol outside the timing (imports,
   the calendar, the state store's tables).
2. Feature build of the same symbols on 1 process vs every core (goal >= 1.7x on 2 cores).
3. ``verify`` checksums of the written files, 1 process vs every core.

Run: ``.venv/bin/python -m bench.bench_throughput [--symbols 40 --months 1]``
(or ``python -m bench throughput`` with the defaults).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa

from bench.common import print_table
from stockdb.app import App
from stockdb.calendar import Session, TradingCalendar
from stockdb.config import Settings
from stockdb.ingest.backfill import ROUND_SYMBOLS
from stockdb.lake.parquet_lake import Lineage
from stockdb.lake.verify import checksums
from stockdb.parallel import parallel_map, worker_count
from stockdb.providers.synthetic import generate_session

__all__ = ["main", "run"]


def _symbols(n: int) -> list[str]:
    return [f"S{k:03d}" for k in range(1, n + 1)]


def _month_tables(symbols: list[str], sessions: list[Session]) -> dict[str, dict[date, pa.Table]]:
    return {sym: {s.date: generate_session(sym, s) for s in sessions} for sym in symbols}


def _ingest_write(app: App, tables: dict[str, dict[date, pa.Table]]) -> float:
    lineage = Lineage("synthetic", "synthetic")
    items = {sym: {d: (t, "merge") for d, t in days.items()} for sym, days in tables.items()}
    symbols = list(items)
    began = time.perf_counter()
    for first in range(0, len(symbols), ROUND_SYMBOLS):  # the backfill's rounds
        chunk = {sym: items[sym] for sym in symbols[first : first + ROUND_SYMBOLS]}
        with app.lake.writers(chunk):
            app.lake.write_sessions_many(chunk, lineage)  # type: ignore[arg-type]
    return time.perf_counter() - began


def _polars_write(root: Path, tables: dict[str, dict[date, pa.Table]]) -> float:
    frames = {(sym, d): pl.from_arrow(t) for sym, days in tables.items() for d, t in days.items()}
    began = time.perf_counter()
    for (symbol, day), frame in frames.items():
        folder = root / symbol / f"dt={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        assert isinstance(frame, pl.DataFrame)
        frame.write_parquet(folder / "bars.parquet", compression="zstd")
    return time.perf_counter() - began


def _timed(fn: object) -> float:
    assert callable(fn)
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def run(n_symbols: int = 40, months: int = 1) -> None:
    """Run the three measurements and print one table."""
    calendar = TradingCalendar()
    sessions = calendar.sessions(date(2024, 3, 1), date(2024, 2 + months, 28))
    symbols = _symbols(n_symbols)
    tables = _month_tables(symbols, sessions)
    bars = sum(t.num_rows for days in tables.values() for t in days.values())
    files = sum(len(days) for days in tables.values())
    cores = worker_count()
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        apps = [App(Settings(data_dir=Path(tmp) / name)) for name in ("a", "b")]
        try:
            for app in apps:
                app.__dict__["calendar"] = calendar
            warm = _month_tables(["WARM"], sessions[:2])
            _ingest_write(apps[0], warm)
            _polars_write(Path(tmp) / "polars", warm)
            ours = _ingest_write(apps[0], tables)
            ref = _polars_write(Path(tmp) / "polars", tables)
            shutil.rmtree(Path(tmp) / "polars")
            rows.append(
                (
                    f"ingest write, {n_symbols} symbols x {len(sessions)} sessions ({files} files)",
                    f"{bars / ours:,.0f} bars/s",
                    f"polars same files, no fsync {bars / ref:,.0f} bars/s",
                    f"{ref / ours:.2f}x polars (goal >= 1x)",
                )
            )
            _ingest_write(apps[1], tables)
            one = _timed(lambda: apps[0].features.build(symbols, workers=1))
            many = _timed(lambda: apps[1].features.build(symbols, workers=cores))
            rows.append(
                (
                    f"feature build, {n_symbols} symbols",
                    f"{cores} processes {many:.2f} s",
                    f"1 process {one:.2f} s",
                    f"{one / many:.2f}x speed-up (goal >= 1.7x on 2 cores)",
                )
            )
            paths = sorted(Path(tmp, "a").rglob("*.parquet"))
            one = _timed(lambda: checksums(None, paths))
            many = _timed(
                lambda: parallel_map(
                    checksums, None, paths, cores, local=lambda part: checksums(None, part)
                )
            )
            rows.append(
                (
                    f"verify checksums, {len(paths)} files",
                    f"{cores} processes {many:.2f} s",
                    f"1 process {one:.2f} s",
                    f"{one / many:.2f}x speed-up",
                )
            )
        finally:
            for app in apps:
                app.close()
    print_table(
        f"Universe throughput ({bars:,} bars, {cores} cores)",
        rows,
        ("case", "stockdb", "reference", "ratio"),
    )


def main() -> None:
    """Benchmark entry point (``python -m bench throughput``): defaults, no arguments read."""
    run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--months", type=int, default=1)
    args = parser.parse_args()
    run(args.symbols, args.months)
