"""Crashes and full disks: every file stays readable, re-runs lose and duplicate nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.config import Settings
from stockdb.providers.synthetic import generate_session

from ...conftest import snapshot  # type: ignore[import-not-found]

START, END = date(2023, 1, 3), date(2024, 12, 31)


def cli(data_dir: Path, *argv: str, capture: bool = True) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_"))}
    env["STOCKDB_DATA_DIR"] = str(data_dir)
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "stockdb.cli.main", *argv],
        env=env,
        cwd=data_dir.parent,
        stdout=out,
        stderr=out,
    )


def partitions(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "parquet" / "SPY").glob("dt=*/bars.parquet"))


def test_kill_9_mid_ingest_then_rerun_is_exact(tmp_path: Path, calendar: TradingCalendar) -> None:
    data_dir = tmp_path / "data"
    proc = cli(
        data_dir,
        "ingest",
        "SPY",
        "--start",
        START.isoformat(),
        "--end",
        END.isoformat(),
        capture=False,
    )
    deadline = time.monotonic() + 120
    try:
        while len(partitions(data_dir)) < 40 and proc.poll() is None:
            assert time.monotonic() < deadline, "ingest made no progress"
            time.sleep(0.005)  # polling the file system for progress, not synchronising
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    sessions = calendar.sessions(START, END)
    at_kill = partitions(data_dir)
    assert 40 <= len(at_kill) < len(sessions), "the kill must land mid-run"
    for path in at_kill:  # every file a reader can see is whole
        pq.read_table(path)

    stockdb = App(Settings(data_dir=data_dir), calendar=calendar)
    summary = stockdb.backfill.run(["SPY"], START, END, stockdb.provider("synthetic"))
    assert summary.sessions_complete + summary.sessions_skipped == len(sessions)
    stored = partitions(data_dir)
    assert len(stored) == len(sessions)
    for session in sessions:
        table = pq.read_table(data_dir / "parquet" / "SPY" / f"dt={session.date}" / "bars.parquet")
        expected = generate_session("SPY", session)
        assert table.replace_schema_metadata(None).equals(expected), session.date
    stockdb.close()


def _can_mount_tmpfs(target: Path) -> bool:
    if os.geteuid() != 0:
        return False
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(target)], capture_output=True
    )
    return result.returncode == 0


def _state_dump(db: Path) -> list[tuple[object, ...]]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT * FROM coverage ORDER BY symbol, session_date").fetchall()
        rows += con.execute("SELECT * FROM symbols ORDER BY symbol").fetchall()
    finally:
        con.close()
    return rows


def test_full_disk_changes_nothing(tmp_path: Path) -> None:
    mount = tmp_path / "disk"
    mount.mkdir()
    if not _can_mount_tmpfs(mount):
        pytest.skip("needs root and tmpfs mounts to fill a disk safely")
    try:
        data_dir = mount / "data"
        first = cli(data_dir, "ingest", "SPY", "--start", "2024-03-04", "--end", "2024-03-08")
        _, first_err = first.communicate(timeout=60)
        assert first.returncode == 0, first_err
        filler = mount / "filler"
        with filler.open("wb", buffering=0) as fh:  # fill the disk to the last block
            chunk = b"\0" * 65536
            try:
                while True:
                    fh.write(chunk)
            except OSError:
                pass
        stat = os.statvfs(mount)
        assert stat.f_bavail * stat.f_frsize < 65536
        os.truncate(filler, filler.stat().st_size - 48 * 1024)  # room for SQLite, not for bars
        lake_before = snapshot(data_dir / "parquet")
        state_before = _state_dump(data_dir / "state" / "stockdb.sqlite")

        proc = cli(data_dir, "ingest", "SPY", "--start", "2024-03-11", "--end", "2024-03-22")
        _, err = proc.communicate(timeout=60)
        lines = err.decode().strip().splitlines()
        assert proc.returncode == 7, err
        assert lines[-1].startswith("error: ") and "Traceback" not in err.decode()
        assert "space" in lines[-1].lower()
        assert snapshot(data_dir / "parquet") == lake_before
        assert _state_dump(data_dir / "state" / "stockdb.sqlite") == state_before
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_rows_outside_sessions_are_rejected_not_stored(app: App) -> None:
    """A provider that serves a bar at 03:00 New York time and a bad bar gets them refused."""
    from stockdb.providers.synthetic import SyntheticProvider

    class Noisy(SyntheticProvider):
        def fetch_bars(self, symbols, start, end):  # type: ignore[no-untyped-def]
            for page in super().fetch_bars(symbols, start, end):
                bad = page.slice(0, 2).to_pydict()
                night = datetime(2024, 3, 5, 7, 0, tzinfo=UTC)  # 02:00 New York: closed
                bad["ts"] = [night, bad["ts"][1]]
                bad["high"][1] = bad["low"][1] - 1.0  # high < low
                yield pa.concat_tables([page, pa.Table.from_pydict(bad, schema=page.schema)])

    provider = Noisy(app.calendar, app.clock)
    summary = app.backfill.run(["SPY"], date(2024, 3, 4), date(2024, 3, 5), provider)
    assert summary.rejections == {"high < low": 1, "ts outside the extended session": 1}
    table = pq.read_table(app.lake.partition_path("SPY", date(2024, 3, 4)))
    assert table.replace_schema_metadata(None).equals(
        generate_session("SPY", app.calendar.session(date(2024, 3, 4)))
    )
