"""The command line loads only what a command needs: ``stockdb --help`` and a bars read stay
clear of scikit-learn, pandas and the other slow libraries (checked in a fresh process)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stockdb.cli.main import main

SLOW = ("sklearn", "pandas", "scipy", "exchange_calendars", "numba", "fastapi", "streamlit")
STORAGE = ("sqlalchemy", "httpx")  # the state store and the Alpaca client: not for a read
DATA = ("pyarrow", "duckdb")  # what a bars read needs, and --help does not
_PROBE = """
import json, sys
from stockdb.cli.main import main
code = main(sys.argv[1:])
slow = {slow!r}
print(json.dumps({{"code": code, "loaded": [m for m in slow if m in sys.modules]}}))
"""


def _loaded(data_dir: Path, *argv: str) -> dict[str, object]:
    env = {**os.environ, "STOCKDB_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(slow=SLOW + STORAGE + DATA), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_help_imports_neither_sklearn_nor_pandas(data_dir: Path) -> None:
    result = _loaded(data_dir, "--help")
    assert result == {"code": 0, "loaded": []}  # nor pyarrow, duckdb, SQLAlchemy or httpx
    assert not data_dir.exists()  # --help touches nothing on disk either


def test_reading_bars_loads_no_calendar_pandas_or_sklearn(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "SPY", "--start", "2024-03-04", "--end", "2024-03-08"]) == 0
    capsys.readouterr()
    bars = _loaded(data_dir, "bars", "SPY", "--limit", "5")
    assert bars == {"code": 0, "loaded": list(DATA)}  # no calendar, pandas or state store
    # a daily read comes from the maintained rollups: no calendar either
    daily = _loaded(data_dir, "bars", "SPY", "--timeframe", "1Day", "--limit", "2")
    assert daily["code"] == 0 and "exchange_calendars" not in daily["loaded"]  # type: ignore[operator]
    # without them (derive-on-read) it needs the session calendar, and loads it then
    shutil.rmtree(data_dir / "rollups")
    derived = _loaded(data_dir, "bars", "SPY", "--timeframe", "1Day", "--limit", "2")
    assert derived["code"] == 0 and "exchange_calendars" in derived["loaded"]  # type: ignore[operator]
