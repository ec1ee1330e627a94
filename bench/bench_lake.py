"""Core benchmark: reads through stockdb.open().bars() vs polars, 5Min vs a NumPy floor, writes."""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

import stockdb
from bench.common import median_time, print_table, ten_year_lake
from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.config import Settings
from stockdb.lake.locks import FileSymbolLocks
from stockdb.lake.parquet_lake import Lineage, ParquetLake
from stockdb.timeframes import SUPPORTED, aggregate

__all__ = ["main"]


def _files(root: Path, lo: str | None = None, hi: str | None = None) -> list[str]:
    paths = sorted((root / "parquet" / "SPY").glob("dt=*/bars.parquet"))
    return [
        str(p)
        for p in paths
        if (lo is None or p.parent.name[3:] >= lo) and (hi is None or p.parent.name[3:] <= hi)
    ]


def _numpy_floor_5min(ts: np.ndarray, cols: dict[str, np.ndarray]) -> None:
    keys = ts - ts % 300_000_000
    starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    np.maximum.reduceat(cols["high"], starts)
    np.minimum.reduceat(cols["low"], starts)
    np.add.reduceat(cols["volume"], starts)
    np.add.reduceat(cols["trade_count"], starts)
    np.add.reduceat(cols["vwap"] * cols["volume"], starts)
    cols["open"][starts]
    cols["close"][np.append(starts[1:], len(ts)) - 1]


def main() -> None:
    calendar = TradingCalendar()
    t0 = time.perf_counter()
    root = ten_year_lake(calendar)
    build_s = time.perf_counter() - t0
    db = stockdb.StockDB(App(Settings(data_dir=root), calendar=calendar))  # = stockdb.open(root)
    rows: list[tuple[str, ...]] = []

    def pl_read(files: list[str]) -> pl.DataFrame:
        return pl.read_parquet(files).sort("ts")

    cases = [
        (
            "latest 5",
            lambda: db.bars("SPY", limit=5, output="arrow"),
            lambda: pl_read(_files(root)[-1:]).tail(5),
            lambda: pl.scan_parquet(_files(root)).sort("ts").tail(5).collect(),
        ),
        (
            "one month",
            lambda: db.bars("SPY", start="2024-06-01", end="2024-06-30", output="arrow"),
            lambda: pl_read(_files(root, "2024-06-01", "2024-06-30")),
            None,
        ),
        (
            "one year",
            lambda: db.bars("SPY", start="2024-01-01", end="2024-12-31", output="arrow"),
            lambda: pl_read(_files(root, "2024-01-01", "2024-12-31")),
            None,
        ),
        ("10 years", lambda: db.bars("SPY", output="arrow"), lambda: pl_read(_files(root)), None),
    ]
    for name, ours, theirs, naive in cases:
        repeat = 3 if name == "10 years" else 15
        a = median_time(ours, repeat=repeat)
        b = median_time(theirs, repeat=repeat)
        rows.append(
            (
                f"read {name}",
                f"{a * 1e3:.2f} ms",
                f"polars same files {b * 1e3:.2f} ms",
                f"{a / b:.2f}x",
            )
        )
        if naive is not None:
            c = median_time(naive, repeat=3)
            rows.append(
                (
                    f"read {name}",
                    f"{a * 1e3:.2f} ms",
                    f"polars glob all {c * 1e3:.1f} ms",
                    f"{a / c:.3f}x",
                )
            )

    minutes = db.bars("SPY", output="arrow")
    ts = minutes.column("ts").cast(pa.int64()).to_numpy()
    cols = {
        c: minutes.column(c).to_numpy()
        for c in ("open", "high", "low", "close", "volume", "trade_count", "vwap")
    }
    ours_5 = median_time(lambda: aggregate(minutes, SUPPORTED["5Min"]), repeat=5)
    floor_5 = median_time(lambda: _numpy_floor_5min(ts, cols), repeat=5)
    rows.append(
        (
            f"5Min derivation ({minutes.num_rows:,} rows)",
            f"{ours_5 * 1e3:.1f} ms",
            f"numpy reduceat floor {floor_5 * 1e3:.1f} ms",
            f"{ours_5 / floor_5:.2f}x",
        )
    )

    sessions = calendar.sessions(date(2024, 1, 2), date(2024, 12, 31))
    tables = {
        s.date: pq.read_table(root / "parquet" / "SPY" / f"dt={s.date}" / "bars.parquet")
        for s in sessions
    }
    total = sum(t.num_rows for t in tables.values())
    with tempfile.TemporaryDirectory() as tmp:
        lake = ParquetLake(Path(tmp) / "p", FileSymbolLocks(Path(tmp) / "l"))
        t0 = time.perf_counter()
        with lake.writer("SPY"):
            items = list(tables.items())
            for i in range(0, len(items), 21):
                lake.write_sessions(
                    "SPY",
                    {d: (t, "merge") for d, t in items[i : i + 21]},
                    Lineage("synthetic", "synthetic"),
                )
        ours_w = time.perf_counter() - t0
        one = pa.concat_tables(tables.values())
        t0 = time.perf_counter()
        pq.write_table(one, Path(tmp) / "one.parquet", compression="zstd")
        ref_w = time.perf_counter() - t0
    rows.append(
        (
            f"ingest write path (1 year, {len(tables)} files)",
            f"{total / ours_w:,.0f} rows/s",
            f"one Parquet file {total / ref_w:,.0f} rows/s",
            f"{ours_w / ref_w:.1f}x slower",
        )
    )
    print_table(
        f"stockdb core — 10 years of 1-min bars, {len(_files(root))} files "
        f"(lake built in {build_s:.1f}s, cached)",
        rows,
        ("case", "stockdb", "reference", "ratio"),
    )
    db.close()


if __name__ == "__main__":
    main()
