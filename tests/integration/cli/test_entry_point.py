"""The ``stockdb`` console script (``run``): the command's exit code, and no object left for
the interpreter's last collection to walk."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from stockdb.cli.main import run


def test_run_exits_with_the_commands_code_after_freezing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STOCKDB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "argv", ["stockdb", "bars", "NOT A SYMBOL"])
    gc.unfreeze()
    try:
        with pytest.raises(SystemExit) as done:
            run()
        assert done.value.code == 2
        assert gc.get_freeze_count() > 0  # what the command loaded is out of the collector
    finally:
        gc.unfreeze()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: invalid symbol")


def test_the_module_entry_exits_with_the_commands_code(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stockdb.cli.main", "bars", "NOT A SYMBOL"],
        env={"STOCKDB_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: invalid symbol") and "Traceback" not in done.stderr
