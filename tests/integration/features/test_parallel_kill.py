"""`stockdb features build --workers 2` with a worker SIGKILLed mid-build, through the real CLI.

The CLI runs from a script that starts the process pool's fork server first, preloading a
module that arms every worker forked from it to SIGKILL itself at its first renames, after its
temp files are staged and their checksums recorded. The parent (not armed) builds from the
other end of the symbol list; its first symbol waits until the worker is set up, so the
worker surely gets a symbol to die on.
Afterwards: one line on stderr, no traceback, every visible file whole (`stockdb verify`), and
a re-run finishes to exactly what a serial build in another data dir writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stockdb.app import App
from stockdb.config import Settings

from ...conftest import write_synthetic  # type: ignore[import-not-found]

SYMBOLS = [f"K{k:02d}" for k in range(8)]  # PARALLEL_MIN_SYMBOLS

ARMED = textwrap.dedent(
    """
    import os, signal
    from pathlib import Path
    import stockdb.features.builder as builder
    import stockdb.features.service as service

    READY = Path(os.environ["ARMED_READY"])
    real_service = service._worker_service

    def ready_service(*args):
        made = real_service(*args)
        READY.write_text(str(os.getpid()))
        return made

    def dying(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    service._worker_service = ready_service
    builder.commit_temps = dying
    """
)

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from stockdb.parallel import FEATURE_WORKERS, prestart
    import stockdb.features.service as service

    prestart(["armed_worker", *FEATURE_WORKERS])  # the fork server: every worker armed
    READY = Path(os.environ["ARMED_READY"])
    real_build_one = service.FeatureService.build_one

    def build_one(self, *args, **kwargs):
        deadline = time.monotonic() + 120
        while not READY.exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # a worker is set up: it will get the next symbol
        return real_build_one(self, *args, **kwargs)

    service.FeatureService.build_one = build_one
    from stockdb.cli.main import main

    sys.exit(main(sys.argv[1:]))
    """
)


def _env(data_dir: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_"))}
    out["STOCKDB_DATA_DIR"] = str(data_dir)
    return out


def _cli(data_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stockdb.cli.main", *argv],
        env=_env(data_dir),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _seed(data_dir: Path) -> None:
    app = App(Settings(data_dir=data_dir))
    try:
        sessions = app.calendar.sessions(date(2024, 3, 4), date(2024, 3, 8))
        write_synthetic(app, SYMBOLS, sessions)
    finally:
        app.close()


def _features(data_dir: Path) -> dict[str, pa.Table]:
    root = data_dir / "features"
    return {
        p.relative_to(root).as_posix(): pq.read_table(p).replace_schema_metadata(None)
        for p in sorted(root.glob("*/dt=*/features.parquet"))
    }


def _ledger(data_dir: Path) -> list[tuple[object, ...]]:
    app = App(Settings(data_dir=data_dir))
    try:
        entries = app.ledger.entries("features")
    finally:
        app.close()
    return [(e.rel_path, e.symbol, e.session_date, e.rows, e.status) for e in entries]


def test_a_worker_killed_mid_build_fails_in_one_line_and_a_rerun_matches_serial(
    tmp_path: Path,
) -> None:
    data_dir, serial_dir = tmp_path / "data", tmp_path / "serial"
    for target in (data_dir, serial_dir):
        _seed(target)
    script = tmp_path / "armed_cli.py"
    script.write_text(SCRIPT)
    (tmp_path / "armed_worker.py").write_text(ARMED)  # beside the script: on its sys.path
    ready = tmp_path / "worker-ready"
    argv = ["features", "build", "--workers", "2"]
    killed = subprocess.run(
        [sys.executable, str(script), *argv],
        env={**_env(data_dir), "ARMED_READY": str(ready)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ready.exists(), killed.stderr
    assert killed.returncode == 1, killed.stderr
    lines = killed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: a worker process died"), lines
    assert "Traceback" not in killed.stderr
    staged = list((data_dir / "features").rglob(".tmp-*"))
    assert staged, "the worker must have died with its temp files staged"

    check = _cli(data_dir, "verify")  # every visible file whole
    assert check.returncode == 0 and "all intact" in check.stdout, check.stdout + check.stderr

    rerun = _cli(data_dir, *argv)
    assert rerun.returncode == 0, rerun.stderr
    serial = _cli(serial_dir, "features", "build", "--workers", "1")
    assert serial.returncode == 0, serial.stderr
    assert list((data_dir / "features").rglob(".tmp-*")) == []
    got, want = _features(data_dir), _features(serial_dir)
    assert got.keys() == want.keys() and len(got) == len(SYMBOLS) * 5
    for rel, table in want.items():  # NaN-aware: warm-up rows hold NaN
        assert got[rel].to_pandas().equals(table.to_pandas()), rel
    assert _ledger(data_dir) == _ledger(serial_dir)
    check = _cli(data_dir, "verify")
    assert check.returncode == 0 and "all intact" in check.stdout, check.stdout + check.stderr
