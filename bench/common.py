"""Shared benchmark helpers: timing, a cached 10-year lake, and table printing."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from stockdb.calendar import TradingCalendar
from stockdb.lake.locks import FileSymbolLocks
from stockdb.lake.parquet_lake import Lineage, ParquetLake
from stockdb.providers.synthetic import generate_session

__all__ = ["BENCH_ROOT", "median_time", "print_table", "ten_year_lake"]

BENCH_ROOT = Path("/tmp/stockdb-bench")


def median_time(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn`` in seconds over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ten_year_lake(calendar: TradingCalendar, symbol: str = "SPY") -> Path:
    """A data dir holding 10 years of synthetic 1-min bars for ``symbol`` (built once, cached)."""
    data_dir = BENCH_ROOT / "lake10y"
    done = data_dir / ".complete"
    if done.exists():
        return data_dir
    lake = ParquetLake(data_dir / "parquet", FileSymbolLocks(data_dir / "locks"))
    lineage = Lineage("synthetic", "synthetic")
    sessions = calendar.sessions(date(2015, 1, 2), date(2024, 12, 31))
    with lake.writer(symbol):
        for i in range(0, len(sessions), 21):
            batch = sessions[i : i + 21]
            lake.write_sessions(
                symbol,
                {s.date: (generate_session(symbol, s), "merge") for s in batch},
                lineage,
            )
    done.touch()
    return data_dir


def print_table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    table = Table(title=title)
    for name in header:
        table.add_column(name)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
