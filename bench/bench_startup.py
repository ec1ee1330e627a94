"""How fast the command line answers: ``stockdb --help`` and ``stockdb bars SPY --limit 5``
against the floor ``python -c "import pyarrow.parquet, duckdb"`` measured in the same run.

Every command runs as a fresh process (what a user types), interleaved with the floor so a
busy machine slows all three alike; the goal is both within 2.5x of the floor.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import print_table

__all__ = ["GOAL", "main", "startup_ratios"]

GOAL = 2.5
FLOOR = [sys.executable, "-c", "import pyarrow.parquet, duckdb"]


def _stockdb() -> list[str]:
    """The installed console script next to this interpreter, else the module."""
    script = Path(sys.executable).with_name("stockdb")
    found = str(script) if script.exists() else shutil.which("stockdb")
    return [found] if found else [sys.executable, "-m", "stockdb.cli.main"]


def _run(argv: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def startup_ratios(repeat: int = 9) -> dict[str, float]:
    """Median seconds of the floor, ``--help`` and ``bars SPY --limit 5`` (over a fresh data
    dir holding five synthetic sessions of SPY), and each command's ratio to the floor."""
    with tempfile.TemporaryDirectory(prefix="stockdb-startup-") as tmp:
        env = {**os.environ, "STOCKDB_DATA_DIR": str(Path(tmp) / "data")}
        for name in list(env):
            if name.startswith(("ALPACA_", "APCA_")):
                del env[name]
        stockdb = _stockdb()
        subprocess.run(
            [*stockdb, "ingest", "SPY", "--start", "2024-03-04", "--end", "2024-03-08"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        commands = {
            "floor": FLOOR,
            "help": [*stockdb, "--help"],
            "bars": [*stockdb, "bars", "SPY", "--limit", "5"],
        }
        for argv in commands.values():  # warm the file cache
            _run(argv, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeat):
            for name, argv in commands.items():
                times[name].append(_run(argv, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        **medians,
        "help_ratio": medians["help"] / medians["floor"],
        "bars_ratio": medians["bars"] / medians["floor"],
    }


def main() -> None:
    result = startup_ratios()
    rows = [
        ("python -c 'import pyarrow.parquet, duckdb'", f"{result['floor']:.3f}", "1.00", "-"),
        (
            "stockdb --help",
            f"{result['help']:.3f}",
            f"{result['help_ratio']:.2f}",
            "ok" if result["help_ratio"] <= GOAL else "SLOW",
        ),
        (
            "stockdb bars SPY --limit 5",
            f"{result['bars']:.3f}",
            f"{result['bars_ratio']:.2f}",
            "ok" if result["bars_ratio"] <= GOAL else "SLOW",
        ),
    ]
    print_table(
        f"CLI startup (median of 9 fresh processes; goal <= {GOAL}x the floor)",
        rows,
        ("command", "seconds", "x floor", "goal"),
    )


if __name__ == "__main__":
    main()
