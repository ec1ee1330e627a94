"""Feature-set benchmark: compute vs the TA-Lib floor (and pandas-ta), end-to-end and incremental.

Run from the repository root: ``.venv/bin/python bench/bench_features.py``. Generates ten
years of regular-hours 1-min bars (~1M rows) with NumPy, writes them as a temp lake, and
prints a table of timings with ratios.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import talib

from stockdb.app import App
from stockdb.bars import BAR_SCHEMA
from stockdb.calendar import TradingCalendar
from stockdb.config import Settings
from stockdb.features.definitions import default_feature_set
from stockdb.features.frame import BarFrame
from stockdb.lake.parquet_lake import Lineage, ParquetLake

__all__ = ["main"]

_US_PER_MIN = 60_000_000
_ROUNDS = 15


def make_history(calendar: TradingCalendar, start: date, end: date, seed: int = 7) -> pa.Table:
    """Regular-hours minute bars of one symbol for every session in ``start..end``."""
    lo, hi = calendar.index_range(start, end)
    opens = calendar.open_us[lo:hi]
    counts = ((calendar.close_us[lo:hi] - opens) // _US_PER_MIN).astype(np.int64)
    n = int(counts.sum())
    starts = np.repeat(opens, counts)
    offsets = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    ts = starts + offsets * _US_PER_MIN
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 6e-4, n))), 2)
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0, 0.02, n))
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.gamma(2.0, 400.0, n).astype(np.int64) + 1
    return pa.Table.from_arrays(
        [
            pa.array(np.full(n, "BENCH", dtype=object), pa.string()),
            pa.array(ts, pa.int64()).cast(BAR_SCHEMA.field("ts").type),
            pa.array(open_),
            pa.array(high),
            pa.array(low),
            pa.array(close),
            pa.array(volume),
            pa.array(np.maximum(1, volume // 50)),
            pa.array((high + low + close) / 3),
        ],
        schema=BAR_SCHEMA,
    )


def write_lake(lake: ParquetLake, table: pa.Table, calendar: TradingCalendar) -> int:
    """One file per session, as the lake lays them out (setup, not measured)."""
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    pos = calendar.session_positions(ts)
    cuts = np.flatnonzero(np.diff(pos)) + 1
    bounds = np.concatenate(([0], cuts, [len(ts)]))
    meta = Lineage("synthetic", "bench").metadata()
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        day = calendar.session_dates_at(pos[a : a + 1])[0]
        path = lake.partition_path("BENCH", day)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(a, b - a).replace_schema_metadata(meta), path)
    return len(bounds) - 1


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def interleaved(
    floor: Callable[[], object], other: Callable[[], object], repeat: int = _ROUNDS
) -> tuple[float, float, float]:
    """Best floor time, best ``other`` time and the median of the per-round ratios, the two
    run alternately so that both see the same machine load (one warm-up round first)."""
    floor()
    other()
    floors: list[float] = []
    others: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        floor()
        floors.append(time.perf_counter() - start)
        start = time.perf_counter()
        other()
        others.append(time.perf_counter() - start)
    ratios = sorted(o / f for f, o in zip(floors, others, strict=True))
    return min(floors), min(others), ratios[len(ratios) // 2]


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed large blocks for reuse instead of unmapping them.

    TA-Lib's outputs are NumPy arrays from malloc, the feature columns come from Arrow's
    pool, which keeps freed memory. Without this, whether TA-Lib's 8 MB arrays fault in
    fresh pages (2,400 page faults per floor run, ~20% of its time) depends on what else
    the process allocated and freed just before (measured: the floor ran 21-23 ms right
    after one compute that converted more columns, 25-27 ms after one that converted
    fewer). With it, the floor is measured at its fastest, the same way in every run.
    Returns False where the C library is not glibc (nothing changed)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 64 << 20)) and bool(mallopt(m_trim_threshold, 1 << 30))


def talib_floor(frame: BarFrame) -> None:
    """The TA-Lib indicators of the default set, called directly."""
    c, h, lo = frame.close, frame.high, frame.low
    for n in (5, 10, 20, 50, 200):
        talib.SMA(c, n)
    talib.EMA(c, 12)
    talib.EMA(c, 26)
    talib.RSI(c, 14)
    talib.MACD(c, 12, 26, 9)
    talib.BBANDS(c, 20, 2.0, 2.0, 0)
    talib.ATR(h, lo, c, 14)


def pandas_ta_same(history: pa.Table) -> Callable[[], object] | None:
    """The same indicators through pandas-ta, when it is installed."""
    try:
        import pandas_ta as pta  # type: ignore[import-not-found]
    except ImportError:
        return None
    df = history.to_pandas()

    def run() -> None:
        for n in (5, 10, 20, 50, 200):
            pta.sma(df["close"], n)
        pta.ema(df["close"], 12)
        pta.ema(df["close"], 26)
        pta.rsi(df["close"], 14)
        pta.macd(df["close"], 12, 26, 9)
        pta.bbands(df["close"], 20, 2.0)
        pta.atr(df["high"], df["low"], df["close"], 14)

    return run


def main() -> None:
    """Print the benchmark table."""
    kept = keep_freed_memory()
    calendar = TradingCalendar()
    history = make_history(calendar, date(2015, 1, 2), date(2024, 12, 30))
    frame = BarFrame.from_table(history, calendar)
    fs = default_feature_set()
    rows: list[tuple[str, float]] = []
    # "compute only" is everything a build does to turn the bars into the feature columns:
    # the bars' Arrow table to arrays, then every definition.
    floor, compute, median_ratio = interleaved(
        lambda: talib_floor(frame), lambda: fs.compute(BarFrame.from_table(history, calendar))
    )
    rows.append(("TA-Lib indicators alone (floor)", floor))
    rows.append(("default set, compute only", compute))
    pta = pandas_ta_same(history)
    if pta is not None:
        rows.append(("pandas-ta, same indicators", best_of(pta, 2)))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "data")
        app = App(settings, calendar=calendar)
        lake = app.lake
        last = calendar.previous_session(date(2024, 12, 31)).date
        older = history.filter(
            pa.compute.less(history.column("ts"), pa.scalar(calendar.session(last).extended_open))
        )
        sessions = write_lake(lake, older, calendar)
        service = app.features
        start = time.perf_counter()
        service.build(["BENCH"], full=True)
        rows.append((f"end-to-end full build ({sessions} partitions)", time.perf_counter() - start))
        write_lake(lake, history.slice(older.num_rows), calendar)
        start = time.perf_counter()
        [inc] = service.build(["BENCH"])
        rows.append(
            (
                f"incremental build (+1 session, {inc.partitions_written} written)",
                time.perf_counter() - start,
            )
        )
        start = time.perf_counter()
        service.build(["BENCH"])
        rows.append(("no-op build (up to date)", time.perf_counter() - start))
        app.close()

    print(f"rows: {history.num_rows:,}  columns: {len(fs.columns)} features")
    print(f"{'measurement':<48}{'seconds':>10}{'x floor':>10}")
    for name, seconds in rows:
        print(f"{name:<48}{seconds:>10.4f}{seconds / floor:>10.2f}")
    print(f"compute only / floor, median of {_ROUNDS} alternating rounds: {median_ratio:.2f}")
    if not kept:
        print("malloc keeps no freed memory here: the floor may include page faults")
    if pta is None:
        print("pandas-ta: not installed (no release for this Python), skipped")


if __name__ == "__main__":
    main()
