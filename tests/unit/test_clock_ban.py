"""ruff refuses the wall clock outside stockdb/clock.py (issue 16: the Clock seam)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WALL_CLOCK = (
    "import time\n"
    "from datetime import UTC, date, datetime\n\n"
    "a = datetime.now(UTC)\n"
    "b = date.today()\n"
    "c = datetime.utcnow()\n"
    "d = time.time()\n"
)


def _ruff(as_path: str) -> subprocess.CompletedProcess[str]:
    beside = Path(sys.executable).with_name("ruff")  # the venv's, when PATH lacks it
    ruff = str(beside) if beside.exists() else shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    return subprocess.run(
        [ruff, "check", "--no-cache", "--select", "TID251", "--stdin-filename", as_path, "-"],
        input=WALL_CLOCK,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_the_wall_clock_is_banned_in_the_package() -> None:
    done = _ruff("src/stockdb/features/anything.py")
    assert done.returncode == 1, done.stdout + done.stderr
    for name in (
        "datetime.datetime.now",
        "datetime.date.today",
        "datetime.datetime.utcnow",
        "time.time",
    ):
        assert f"`{name}` is banned" in done.stdout, name


def test_clock_py_may_read_it() -> None:
    done = _ruff("src/stockdb/clock.py")
    assert done.returncode == 0, done.stdout + done.stderr
