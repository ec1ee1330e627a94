"""``python -m feature_service.main`` and ``stockdb features ...`` end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stockdb.cli.features import features_app

REPO = Path(__file__).resolve().parents[3]


def _run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SOURCE_DUCKDB_PATH", "DEST_DUCKDB_PATH", "DEST_PARQUET_DIR")
    }
    environ.update(STOCKDB_DATA_DIR=str(data_dir), **env)
    return subprocess.run(
        [sys.executable, "-m", "feature_service.main", *args],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_module_entry_point_builds_named_symbols(app, sessions, write_bars, data_dir):
    write_bars("SPY", sessions[:3])
    write_bars("QQQ", sessions[:3])
    write_bars("IWM", sessions[:1])
    done = _run(["SPY", "QQQ"], data_dir)
    assert done.returncode == 0, done.stderr
    assert "SPY: wrote 3 partitions" in done.stdout and "QQQ: wrote 3" in done.stdout
    features = data_dir / "features"
    assert len(list(features.glob("SPY/dt=*/features.parquet"))) == 3
    assert not (features / "IWM").exists()
    again = _run([], data_dir)
    assert again.returncode == 0 and "IWM: wrote 1" in again.stdout
    assert "SPY: up to date" in again.stdout


def test_module_entry_point_bad_symbol_is_one_line(app, sessions, write_bars, data_dir):
    write_bars("SPY", sessions[:1])
    done = _run(["SPY", "NOPE"], data_dir)
    assert done.returncode != 0
    assert done.stderr.strip() == "error: no bars stored for NOPE"
    assert not (data_dir / "features").exists()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_cli_build_list_show_status(app, sessions, write_bars, runner):
    write_bars("SPY", sessions[:2])
    result = runner.invoke(features_app, ["status"])
    assert result.exit_code == 0 and "missing 2" in result.output
    result = runner.invoke(features_app, ["build", "SPY"])
    assert result.exit_code == 0, result.output
    assert "SPY: wrote 2 of 2 partitions" in result.output
    result = runner.invoke(features_app, ["list"])
    assert result.exit_code == 0 and "rsi_14" in result.output and "macd_signal" in result.output
    result = runner.invoke(features_app, ["show", "SPY", "--columns", "rsi_14", "--limit", "3"])
    assert result.exit_code == 0 and "rsi_14" in result.output
    result = runner.invoke(features_app, ["status"])
    assert "up to date" in result.output


def test_cli_errors_are_one_line_with_exit_codes(app, sessions, write_bars, runner):
    write_bars("SPY", sessions[:1])
    runner.invoke(features_app, ["build"])
    result = runner.invoke(features_app, ["show", "SPY", "--columns", "nope"])
    assert result.exit_code == 2
    assert "unknown feature column 'nope'" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(features_app, ["show", "SPY", "--start", "2024-13-01"])
    assert result.exit_code == 2
    result = runner.invoke(features_app, ["build", "QQQ"])
    assert result.exit_code == 3 and "no bars stored for QQQ" in result.output
