"""Multi-symbol reads: ``db.bars([...], tf)`` over N synthetic symbols x M sessions, against
polars reading the same minute files in the same run, and against a loop of single reads.

Prints, per timeframe, the median time of the long-frame read, the loop of per-symbol reads
it replaces, and polars' bare ``read_parquet`` of every file, with the ratios. The daily
and hourly reads come from the maintained rollups (issue goal for the daily panel: <= 0.1x
polars); the list read should cost about what the loop of per-symbol reads costs (~1x).

Run: ``.venv/bin/python -m bench.bench_multi_read [--symbols 40 --sessions 40]``
(or ``python -m bench multi_read`` with the defaults).
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import date
from pathlib import Path

import polars as pl

from bench.common import median_time, print_table
from stockdb.app import App
from stockdb.config import Settings
from stockdb.lake.reader import BarQuery
from stockdb.usecases.bars import read_bars

__all__ = ["main", "run"]


def _fill(app: App, names: list[str], sessions: int) -> list[str]:
    """Ingest the first ``sessions`` sessions of 2024 for every symbol; the files written."""
    chosen = app.calendar.sessions(date(2024, 1, 2), date(2024, 12, 31))[:sessions]
    source = app.provider("synthetic")
    try:
        app.backfill.run(names, chosen[0].date, chosen[-1].date, source)
    finally:
        source.close()
    return [str(p) for s in names for _, p in app.lake.existing(s, app.lake.partition_names(s))]


def run(symbols: int = 40, sessions: int = 40) -> list[tuple[str, ...]]:
    """Measure and print; returns the table rows."""
    names = [f"S{i:03d}" for i in range(symbols)]
    with tempfile.TemporaryDirectory() as tmp:
        app = App(Settings(data_dir=Path(tmp) / "data", alpaca_key_id=None, alpaca_secret_key=None))
        try:
            files = _fill(app, names, sessions)
            polars_s = median_time(lambda: pl.read_parquet(files), repeat=3)
            rows = []
            for tf in ("1Min", "1Hour", "1Day"):
                many = median_time(lambda tf=tf: read_bars(app, names, tf), repeat=3)
                loop = median_time(
                    lambda tf=tf: [app.reader.bars(BarQuery.parse(s, tf)) for s in names],
                    repeat=3,
                )
                rows.append(
                    (
                        tf,
                        f"{many:.3f}",
                        f"{loop:.3f}",
                        f"{polars_s:.3f}",
                        f"{many / loop:.2f}x",
                        f"{many / polars_s:.2f}x",
                    )
                )
        finally:
            app.close()
    print_table(
        f"db.bars of {symbols} symbols x {sessions} sessions",
        rows,
        ("timeframe", "list read s", "loop s", "polars read s", "vs loop", "vs polars"),
    )
    return rows


def main() -> None:
    """Benchmark entry point (``python -m bench multi_read``): defaults, no arguments read."""
    run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--sessions", type=int, default=40)
    args = parser.parse_args()
    run(args.symbols, args.sessions)
