"""kill -9 and full disks against the features writer and `stockdb db refresh`.

The kills are real SIGKILLs of a CLI process, landed deterministically by wrapping the
writer's rename step; afterwards every visible file is whole, `stockdb verify` finds nothing
damaged, and the next run sweeps the temp files and finishes the job.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from stockdb.app import App
from stockdb.config import Settings
from stockdb.lake.parquet_lake import Lineage

from ...conftest import snapshot  # type: ignore[import-not-found]

START, END = "2024-03-04", "2024-03-15"


def env(data_dir: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_"))}
    out["STOCKDB_DATA_DIR"] = str(data_dir)
    return out


def cli(data_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stockdb.cli.main", *argv],
        env=env(data_dir),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


def killed(data_dir: Path, target: str, argv: list[str], at_call: int = 1) -> int:
    """Run the CLI with ``target`` (module:function) wrapped to SIGKILL the process on its
    ``at_call``-th call, before the real function runs; returns the exit status."""
    module, func = target.split(":")
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        import {module} as target
        real = target.{func}
        calls = [0]
        def dying(*args, **kwargs):
            calls[0] += 1
            if calls[0] == {at_call}:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        target.{func} = dying
        from stockdb.cli.main import main
        sys.exit(main({argv!r}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=env(data_dir),
        cwd=data_dir.parent,
        capture_output=True,
        timeout=300,
    )
    return proc.returncode


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-*")] if root.exists() else []


def features(data_dir: Path) -> dict[str, pa.Table]:
    return {
        p.parent.name: pq.read_table(p).replace_schema_metadata(None)
        for p in sorted((data_dir / "features" / "SPY").glob("dt=*/features.parquet"))
    }


@pytest.fixture
def built(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    for argv in (["ingest", "SPY", "--start", START, "--end", END], ["features", "build", "SPY"]):
        done = cli(data_dir, *argv)
        assert done.returncode == 0, done.stderr
    return data_dir


def revise_last_session(data_dir: Path) -> None:
    """New closes for the last session (valid bars), so a build rewrites some partitions."""
    app = App(Settings(data_dir=data_dir))
    day = date.fromisoformat(END)
    table = app.lake.read_session("SPY", day)
    close = pc.multiply(table.column("close"), 1.0000001)
    revised = table.set_column(table.schema.get_field_index("close"), "close", close)
    with app.lake.writer("SPY"):
        app.lake.write_session("SPY", day, revised, Lineage("synthetic", "synthetic"), "replace")
    app.close()


def test_kill_9_in_the_features_writer_leaves_verifiable_files_and_a_rerun_finishes(
    built: Path,
) -> None:
    revise_last_session(built)
    before = snapshot(built / "features")
    # Killed after staging every partition and recording their checksums, before any rename.
    status = killed(
        built, "stockdb.features.builder:commit_temps", ["features", "build", "SPY"], at_call=1
    )
    assert status == -9
    assert temp_files(built / "features"), "the kill must leave staged temp files"
    visible = {k: v for k, v in snapshot(built / "features").items() if "/.tmp-" not in k}
    assert visible == before  # no partition changed: all or nothing
    check = cli(built, "verify")
    assert check.returncode == 0 and "all intact" in check.stdout, check.stdout + check.stderr

    rerun = cli(built, "features", "build", "SPY")
    assert rerun.returncode == 0, rerun.stderr
    assert temp_files(built / "features") == []
    incremental = features(built)
    full = cli(built, "features", "build", "SPY", "--full")
    assert full.returncode == 0, full.stderr
    assert incremental.keys() == features(built).keys()
    for day, table in features(built).items():  # NaN-aware: warm-up rows hold NaN
        assert table.to_pandas().equals(incremental[day].to_pandas()), day
    check = cli(built, "verify")
    assert check.returncode == 0 and "all intact" in check.stdout


def test_kill_9_in_db_refresh_keeps_the_old_database_and_a_rerun_sweeps(built: Path) -> None:
    first = cli(built, "db", "refresh")
    assert first.returncode == 0, first.stderr
    db = built / "duckdb" / "market.duckdb"
    before = db.read_bytes()
    # Killed with the temp database open, before any view is in it.
    status = killed(built, "stockdb.lake.views:_build", ["db", "refresh"])
    assert status == -9
    assert temp_files(built / "duckdb"), "the kill must land after the temp database exists"
    assert db.read_bytes() == before
    rerun = cli(built, "db", "refresh")
    assert rerun.returncode == 0, rerun.stderr
    assert temp_files(built / "duckdb") == []
    con = duckdb.connect(str(db), read_only=True)
    try:
        kinds = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = 'bars_1hour'"
            ).fetchall()
        )
        rows = con.execute("SELECT count(*) FROM bars_1min").fetchone()
    finally:
        con.close()
    assert kinds["volume"] == kinds["trade_count"] == "BIGINT"
    stored = sum(
        pq.ParquetFile(p).metadata.num_rows
        for p in (built / "parquet" / "SPY").glob("dt=*/bars.parquet")
    )
    assert rows == (stored,)


def _can_mount_tmpfs(target: Path) -> bool:
    if os.geteuid() != 0:
        return False
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(target)], capture_output=True
    )
    return result.returncode == 0


def _fill(mount: Path, leave: int) -> None:
    """Fill the disk to the last block, then free ``leave`` bytes."""
    filler = mount / "filler"
    with filler.open("ab", buffering=0) as fh:
        for chunk in (65536, 4096):
            try:
                while True:
                    fh.write(b"\0" * chunk)
            except OSError:
                pass
    os.truncate(filler, max(0, filler.stat().st_size - leave))


def test_full_disk_fails_features_build_and_db_refresh_cleanly(tmp_path: Path) -> None:
    mount = tmp_path / "disk"
    mount.mkdir()
    if not _can_mount_tmpfs(mount):
        pytest.skip("needs root and tmpfs mounts to fill a disk safely")
    try:
        data_dir = mount / "data"
        done = cli(data_dir, "ingest", "SPY", "--start", START, "--end", END)
        assert done.returncode == 0, done.stderr
        # Room for SQLite's journal, not for the features; then no room at all.
        for argv, leave in ((["features", "build", "SPY"], 48 * 1024), (["db", "refresh"], 0)):
            _fill(mount, leave)
            before = snapshot(data_dir)
            proc = cli(data_dir, *argv)
            lines = proc.stderr.strip().splitlines()
            assert proc.returncode == 7, (argv, proc.stderr)
            assert lines[-1].startswith("error: ") and "Traceback" not in proc.stderr
            assert temp_files(data_dir) == []
            after = snapshot(data_dir)
            changed = {k for k in after.keys() | before.keys() if after.get(k) != before.get(k)}
            # Only the state store (SQLite), lock files and the (empty) duckdb folder may
            # change; no data file or temp file appears.
            allowed = ("state/", "locks/", "duckdb/.refresh.lock")
            assert all(k == "duckdb" or k.startswith(allowed) for k in changed), changed
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
