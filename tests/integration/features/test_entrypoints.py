"""``python -m feature_service.main`` and ``stockdb features ...`` end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockdb.cli.main import main

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
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``stockdb features ...`` through the real entry point; (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["features", *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_cli_build_list_show_status(app, sessions, write_bars, cli):
    write_bars("SPY", sessions[:2])
    code, out, _ = cli("status")
    assert code == 0 and "missing 2" in out
    code, out, err = cli("build", "SPY")
    assert code == 0, err
    assert "SPY: wrote 2 of 2 partitions" in out
    code, out, _ = cli("list")
    assert code == 0 and "rsi_14" in out and "macd_signal" in out
    code, out, _ = cli("show", "SPY", "--columns", "rsi_14", "--limit", "3")
    assert code == 0 and "rsi_14" in out
    _, out, _ = cli("status")
    assert "up to date" in out


def test_cli_errors_are_one_line_with_exit_codes(app, sessions, write_bars, cli):
    write_bars("SPY", sessions[:1])
    cli("build")
    code, _, err = cli("show", "SPY", "--columns", "nope")
    assert code == 2
    assert "unknown feature column 'nope'" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    code, _, err = cli("show", "SPY", "--start", "2024-13-01")
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, _, err = cli("build", "QQQ")
    assert code == 3 and "no bars stored for QQQ" in err


def test_cli_timeframe_build_and_show_formats(app, sessions, write_bars, cli, tmp_path):
    import io
    import json

    import pandas as pd
    import pyarrow.parquet as pq

    write_bars("SPY", sessions[:6])
    code, out, err = cli("build", "SPY", "--timeframe", "1Day")
    assert code == 0, err
    assert "SPY 1Day: wrote 6 of 6 partitions" in out
    code, out, _ = cli("show", "SPY", "--timeframe", "1Day", "--format", "csv", "--limit", "5")
    assert code == 0
    frame = pd.read_csv(io.StringIO(out))
    expected = app.features.read("SPY", timeframe="1Day", limit=5)
    assert len(frame) == 5 and list(frame.columns) == list(expected.columns)
    assert frame["close"].tolist() == expected["close"].tolist()
    code, out, _ = cli(
        "show", "SPY", "--timeframe", "1Day", "--format", "json", "--columns", "rsi_14,close"
    )
    rows = json.loads(out)
    assert code == 0 and len(rows) == 6 and set(rows[0]) == {"ts", "rsi_14", "close"}
    target = tmp_path / "f.parquet"
    code, _, _ = cli(
        "show", "SPY", "--timeframe", "1Day", "--format", "parquet", "--output", str(target)
    )
    assert code == 0 and pq.read_table(target).num_rows == 6
    code, out, _ = cli("status")
    assert code == 0 and "1Day" in out
    # bad input: one line on stderr, non-zero exit
    code, _, err = cli("show", "SPY", "--format", "xml")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "xml" in err
    code, _, err = cli("build", "SPY", "--timeframe", "30Min")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "1Day" in err
