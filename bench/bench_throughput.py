"""Universe throughput: ingest writes of many symbols vs polars, and builds/verify on every core.

1. Ingest write path: ``SYMBOLS`` synthetic symbols x three months, written the way a
   backfill writes them: per month, per round of ``ROUND_SYMBOLS`` symbols, their writer
   locks, then one all-or-nothing ``write_sessions_many`` round (every partition and rollup
   file fsync'd, renamed, its folder fsync'd, its checksum in the ledger), against polars
   writing the same daily files to the same layout (no fsync, no rollups, no ledger).
   Goal: >= 1x polars. Both sides first write one other symbol outside the timing (imports,
   the calendar, the state store's tables).
2. Feature build (full) of the same symbols on 1 process vs every core (goal >= 1.7x on 2
   cores); both after this process built one symbol (imports and JIT warm), the parallel one
   paying its worker start-up (fork server imports, each worker's first symbol).
3. ``verify`` of the whole lake (bars, features, rollups), 1 thread vs a thread per core.
4. ``rollups rebuild`` of every symbol, 1 process vs every core.
Rows 2-4 time each side twice (serial, parallel, parallel, serial) and average; the second
parallel run reuses the fork server the first one started, as a long-lived process does
(the feature build also prints the two parallel runs apart: the first pays the server's
imports, which the serial runs paid before their timing).
The serial side is not a one-core reference: it encodes its files on a thread per core, so
the table prints how many cores it kept busy (its CPU time over its wall time), and how many
the machine kept busy during the parallel runs (``/proc/stat``: workers included). The feature
build is also timed on one core (the process pinned to it), the reference of a speed-up from
one core to every core.
Speed-ups depend on idle cores: run it when the load average (printed) is low.

Run: ``.venv/bin/python -m bench.bench_throughput [--symbols 40 --months 3]``
(or ``python -m bench throughput`` with the defaults).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import tempfile
import time
from collections.abc import Callable
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
from stockdb.lake.rollup_rebuild import rebuild_rollups
from stockdb.lake.verify import Verifier
from stockdb.parallel import worker_count
from stockdb.providers.synthetic import generate_session

__all__ = ["main", "run"]


def _symbols(n: int) -> list[str]:
    return [f"S{k:03d}" for k in range(1, n + 1)]


def _month_tables(symbols: list[str], sessions: list[Session]) -> dict[str, dict[date, pa.Table]]:
    return {sym: {s.date: generate_session(sym, s) for s in sessions} for sym in symbols}


def _ingest_write(app: App, tables: dict[str, dict[date, pa.Table]]) -> float:
    lineage = Lineage("synthetic", "synthetic")
    months = sorted({(d.year, d.month) for days in tables.values() for d in days})
    symbols = list(tables)
    began = time.perf_counter()
    for month in months:  # the backfill's month chunks, each in rounds of symbols
        for first in range(0, len(symbols), ROUND_SYMBOLS):
            chunk = {
                sym: {d: (t, "merge") for d, t in tables[sym].items() if (d.year, d.month) == month}
                for sym in symbols[first : first + ROUND_SYMBOLS]
            }
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


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (``/proc/stat``: every
    state but idle and iowait), to count the work of worker processes too."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _timed(fn: object, busy: list[float] | None = None, machine: bool = False) -> float:
    """Seconds ``fn`` took; appends to ``busy`` the cores kept busy meanwhile: this
    process's CPU time over those seconds (every thread counted), or with ``machine`` the
    whole machine's (worker processes included; other load counts too)."""
    assert callable(fn)
    cpu = _machine_busy_s() if machine else time.process_time()
    began = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - began
    if busy is not None:
        used = (_machine_busy_s() if machine else time.process_time()) - cpu
        busy.append(used / elapsed)
    return elapsed


def _speedup(
    case: str,
    one: float,
    many: float,
    cores: int,
    busy: tuple[float, float],
    goal: str = "",
    unit: str = "process",
) -> tuple[str, ...]:
    return (
        case,
        f"{cores} {unit}{'es' if unit == 'process' else 's'} {many:.2f} s, "
        f"machine {busy[1]:.2f} cores busy",
        f"1 {unit} {one:.2f} s, {busy[0]:.2f} cores busy",
        f"{one / many:.2f}x speed-up{goal}",
    )


def _verifier(app: App, workers: int) -> Verifier:
    return Verifier(
        app.lake,
        app.settings.features_dir,
        app.ledger,
        app.coverage,
        app.settings.data_dir,
        workers,
        parallel_min_files=1,
    )


def _one_core(build: Callable[[], object]) -> float:
    """Seconds of ``build`` run twice on one core (this thread pinned to it, so every thread
    the build starts is too, and a write round sizes its encoders to that one core): the
    build as a one-core machine would run it, the reference of a speed-up on every core."""
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    try:
        return (_timed(build) + _timed(build)) / 2
    finally:
        os.sched_setaffinity(0, cores)


def _abba(
    serial: Callable[[], object], parallel: Callable[[], object]
) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """Seconds of ``serial`` (the mean of two runs) and of each of two ``parallel`` runs, in
    the order serial, parallel, parallel, serial, so a load that drifts during the run favours
    neither; and the cores the serial runs kept busy (its threads: a serial build encodes on
    every core) and the machine's cores busy during the parallel runs."""
    busy: list[float] = []
    wide: list[float] = []
    one = _timed(serial, busy)
    many = (_timed(parallel, wide, machine=True), _timed(parallel, wide, machine=True))
    one += _timed(serial, busy)
    return one / 2, many, (sum(busy) / len(busy), sum(wide) / len(wide))


def _speedups(apps: list[App], symbols: list[str], cores: int) -> list[tuple[str, ...]]:
    """Rows 2-4: the same work on two equal lakes, on 1 process and on every core."""
    serial, parallel = apps
    one, (first, second), busy = _abba(
        lambda: serial.features.build(symbols, full=True, workers=1),
        lambda: parallel.features.build(symbols, full=True, workers=cores),
    )
    many = (first + second) / 2
    goal = " (goal >= 1.7x on 2 cores)"
    rows = [_speedup(f"feature build, {len(symbols)} symbols", one, many, cores, busy, goal)]
    pinned = _one_core(lambda: serial.features.build(symbols, full=True, workers=1))
    rows.append(
        (
            f"feature build, {len(symbols)} symbols: 1 core against {cores}",
            f"{cores} processes {many:.2f} s (above)",
            f"1 process pinned to 1 core {pinned:.2f} s",
            f"{pinned / many:.2f}x speed-up",
        )
    )
    # The mean above includes the fork server's start (its imports) in the first parallel
    # run, while the serial runs come after this process's own imports: the runs apart.
    for run, seconds in (("first, starting the fork server", first), ("second", second)):
        rows.append(
            (
                f"feature build, {len(symbols)} symbols: {run} parallel run",
                f"{cores} processes {seconds:.2f} s",
                f"1 process pinned to 1 core {pinned:.2f} s",
                f"{pinned / seconds:.2f}x speed-up",
            )
        )
    now = serial.clock.now()
    files = _verifier(serial, 1).check(now, symbols).checked
    one, runs, busy = _abba(
        lambda: _verifier(serial, 1).check(now, symbols),
        lambda: _verifier(parallel, cores).check(now, symbols),
    )
    rows.append(_speedup(f"verify, {files} files", one, sum(runs) / 2, cores, busy, unit="thread"))
    one, runs, busy = _abba(
        lambda: rebuild_rollups(serial.lake, serial.settings, symbols, workers=1),
        lambda: rebuild_rollups(parallel.lake, parallel.settings, symbols, workers=cores),
    )
    rows.append(
        _speedup(f"rollups rebuild, {len(symbols)} symbols", one, sum(runs) / 2, cores, busy)
    )
    return rows


def run(n_symbols: int = 40, months: int = 3) -> None:
    """Run the four measurements and print one table."""
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
            del tables  # the builds below run as a fresh command would, without these bars
            gc.collect()
            for app in apps:  # warm this process: imports, JIT, one symbol built in both
                app.features.build(symbols[:1], workers=1)
            rows += _speedups(apps, symbols, cores)
        finally:
            for app in apps:
                app.close()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print_table(
        f"Universe throughput ({bars:,} bars, {cores} cores, load average {load})",
        rows,
        ("case", "stockdb", "reference", "ratio"),
    )


def main() -> None:
    """Benchmark entry point (``python -m bench throughput``): defaults, no arguments read."""
    run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--months", type=int, default=3)
    args = parser.parse_args()
    run(args.symbols, args.months)
