"""The symbol list at 500 symbols: GET /symbols and ``stockdb symbols`` in process.

Seeds a fresh state store with 500 synthetic symbols x 63 sessions of coverage rows (every
third symbol with damaged bars files), then times GET /symbols through the in-process ASGI
client and ``stockdb symbols --format csv`` through the CLI entry point, against the floor
of reading the same coverage rows with one plain SELECT. Goal: each <= 0.2 s.

Run: ``python -m bench symbols``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import warnings

from sqlalchemy import select

from bench.common import BENCH_ROOT, median_time, print_table
from stockdb.api import create_app
from stockdb.app import App
from stockdb.cli.main import main as cli_main
from stockdb.config import Settings
from stockdb.state import tables
from stockdb.testing.coverage_rows import seed_coverage

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SYMBOLS, SESSIONS = 500, 63


def main() -> None:
    data = BENCH_ROOT / "symbols500"
    shutil.rmtree(data, ignore_errors=True)
    app = App(Settings(data_dir=data))
    try:
        seed_coverage(app.state, SYMBOLS, SESSIONS)

        def floor() -> None:
            with app.state.engine.connect() as conn:
                conn.execute(select(tables.coverage)).fetchall()

        with TestClient(create_app(app=app, run_runtime=False)) as client:

            def api() -> None:
                assert len(client.get("/symbols").json()) == SYMBOLS

            t_api = median_time(api, repeat=7)
        os.environ["STOCKDB_DATA_DIR"] = str(data)

        def cli() -> None:
            with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())):
                assert cli_main(["symbols", "--format", "csv"]) == 0

        t_cli = median_time(cli, repeat=5)
        t_floor = median_time(floor, repeat=7)
    finally:
        app.close()
    rows = [
        ("SELECT every coverage row (floor)", f"{t_floor * 1000:.1f}", "1.0"),
        ("GET /symbols", f"{t_api * 1000:.1f}", f"{t_api / t_floor:.2f}"),
        ("stockdb symbols --format csv", f"{t_cli * 1000:.1f}", f"{t_cli / t_floor:.2f}"),
    ]
    print_table(
        f"{SYMBOLS} symbols x {SESSIONS} sessions (goal <= 200 ms each)",
        rows,
        ("what", "median ms", "x floor"),
    )


if __name__ == "__main__":
    main()
