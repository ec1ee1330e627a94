"""The real CLI on bad corporate-action files and look-alike symbols: one line on stderr, a
non-zero exit, no traceback, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockdb.cli.main import main

from ...conftest import snapshot  # type: ignore[import-not-found]

HEADER = "symbol,type,ex_date,ratio\n"
GOOD = "QQQ,forward_split,2024-01-03,2\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_5mb_csv_field_is_one_line_from_the_real_cli(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "fetch-actions", "QQQ", "--start", "2024-01-01")[0] == 0
    path = tmp_path / "huge.csv"
    path.write_text(HEADER + "SPY,forward_split,2024-01-02," + "9" * 5_000_000 + "\n" + GOOD)
    before = snapshot(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "stockdb.cli.main", "import-actions", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "STOCKDB_DATA_DIR": str(data_dir)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == ["error: line 2: a field is longer than 131,072 characters"]
    assert "Traceback" not in done.stdout + done.stderr
    assert snapshot(tmp_path) == before


CSV_CASES = [
    ("SPY,forward_split,2024-01-02,1e308\n", "line 2: a forward_split ratio must be above 1"),
    ("SPY,reverse_split,2024-01-02,1:1e308\n", "line 2: a reverse_split ratio must be below 1"),
    ("SPY,forward_split,2024-01-02,nan\n", "line 2: ratio and cash must be finite numbers"),
    ("SPY,forward_split,2024-01-02,1e308:1e-308\n", "line 2: ratio and cash must be finite"),
    ('SPY,forward_split,2024-01-02,"2\n', "line 2: a quoted field opens here and is never"),
    ("\ufb00,forward_split,2024-01-02,2\n", "line 2: invalid symbol 'ﬀ' (only ASCII"),
    ("sp\u0131,forward_split,2024-01-02,2\n", "line 2: invalid symbol 'spı' (only ASCII"),
]


@pytest.mark.parametrize(("row", "message"), CSV_CASES, ids=[c[1][8:40] for c in CSV_CASES])
def test_bad_action_files_change_nothing(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, message: str
) -> None:
    assert run(capsys, "fetch-actions", "QQQ", "--start", "2024-01-01")[0] == 0
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + row + GOOD, encoding="utf-8")
    before = snapshot(tmp_path)
    code, out, err = run(capsys, "import-actions", str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: {message}"), err
    assert snapshot(tmp_path) == before
    code, out, _ = run(capsys, "actions", "SPY", "--format", "json")
    assert code == 0 and "forward_split" not in out


@pytest.mark.parametrize("symbol", ["\ufb00", "sp\u0131", "\uff33\uff30\uff39"])
def test_look_alike_symbols_are_refused_by_every_command(
    data_dir: Path, capsys: pytest.CaptureFixture[str], symbol: str
) -> None:
    for argv in (
        ("ingest", symbol, "--start", "2024-03-04", "--end", "2024-03-04"),
        ("bars", symbol, "--limit", "1"),
        ("gaps", symbol, "--start", "2024-03-04", "--end", "2024-03-04"),
        ("fetch-actions", symbol),
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2, (argv, err)
        assert err.strip().splitlines() == [err.strip()] and "only ASCII" in err, (argv, err)
    assert not (data_dir / "parquet").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_worker_heartbeat_must_be_finite(
    data_dir: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code, _, err = run(capsys, "worker", "--heartbeat", value)
    assert code == 2 and err.strip() == "error: --heartbeat must be between 0 and 300 seconds"
    assert not data_dir.exists()
