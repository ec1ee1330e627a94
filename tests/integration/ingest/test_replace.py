"""`--replace` rewrites exactly the asked sessions in every entry point; the rest stay as they were.

The reference for a rewritten session is generate_session (the synthetic provider's source),
never the code under test; "untouched" is a sha256 of every other file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.cli.main import main
from stockdb.client import open_db
from stockdb.jobs.handlers import ingest_handler
from stockdb.providers.synthetic import generate_session

from ...conftest import snapshot  # type: ignore[import-not-found]

START, END, TARGET = date(2024, 1, 2), date(2024, 2, 29), date(2024, 1, 17)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def target_file(data_dir: Path, day: date = TARGET) -> Path:
    return data_dir / "parquet" / "SPY" / f"dt={day}" / "bars.parquet"


def tamper(path: Path) -> None:
    """Rewrite the file with valid but different bars (close nudged), keeping its metadata."""
    table = pq.read_table(path)
    close = pc.multiply(table.column("close"), 1.0000001)
    pq.write_table(table.set_column(table.schema.get_field_index("close"), "close", close), path)


def others(snap: dict[str, str], day: date = TARGET) -> dict[str, str]:
    return {k: v for k, v in snap.items() if f"dt={day}" not in k}


@pytest.fixture
def ingested(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Path]:
    code, out, err = run(capsys, "ingest", "SPY", "--start", str(START), "--end", str(END))
    assert code == 0, err
    assert "sessions fetched 41" in out
    yield data_dir


def test_cli_replace_rewrites_one_session_and_leaves_40_byte_identical(
    ingested: Path, capsys: pytest.CaptureFixture[str], calendar: TradingCalendar
) -> None:
    tamper(target_file(ingested))
    before = snapshot(ingested / "parquet")
    assert len([k for k in before if k.endswith("bars.parquet")]) == 41
    code, out, err = run(
        capsys, "ingest", "SPY", "--start", str(TARGET), "--end", str(TARGET), "--replace"
    )
    assert code == 0, err
    assert "replaced sessions: SPY 2024-01-17" in out and "other sessions untouched" in out
    after = snapshot(ingested / "parquet")
    assert len([k for k in after if k.endswith("bars.parquet")]) == 41
    assert others(after) == others(before)
    (session,) = calendar.sessions(TARGET, TARGET)
    stored = pq.read_table(target_file(ingested)).replace_schema_metadata(None)
    assert stored.equals(generate_session("SPY", session))
    # The coverage ledger still knows all 41 sessions as complete.
    code, out, _ = run(capsys, "ingest", "SPY", "--start", str(START), "--end", str(END))
    assert code == 0 and "skipped 41" in out


def test_python_api_and_job_replace_only_their_range(
    ingested: Path, app: App, calendar: TradingCalendar
) -> None:
    days = [s.date for s in calendar.sessions(date(2024, 2, 5), date(2024, 2, 6))]
    for day in days:
        tamper(target_file(ingested, day))
    before = snapshot(ingested / "parquet")
    with open_db(ingested) as db:
        summary = db.ingest("SPY", "2024-02-05", "2024-02-06", replace=True)
    assert summary.replaced == {"SPY": ["2024-02-05", "2024-02-06"]}
    after = snapshot(ingested / "parquet")
    untouched = {k: v for k, v in after.items() if not any(f"dt={d}" in k for d in days)}
    assert untouched == {k: v for k, v in before.items() if k in untouched}
    assert len(untouched) == len(before) - 4  # two folders and their two files

    # The job path (what POST /ingest?replace=true queues) carries the flag to the backfill.
    tamper(target_file(ingested))
    before = snapshot(ingested / "parquet")
    job = app.jobs.submit_ingest(["SPY"], TARGET, TARGET, "synthetic", replace=True)
    assert job.params["replace"] is True and job.key.endswith(":replace")
    result = app.bind(ingest_handler)(job.params, lambda *_: None, lambda: False)
    assert result["replaced"] == {"SPY": [TARGET.isoformat()]}
    assert result["sessions_replaced"] == 1
    after = snapshot(ingested / "parquet")
    assert others(after) == others(before) and after != before


def test_replace_sets_a_damaged_file_aside_and_writes_the_session_anew(
    ingested: Path, capsys: pytest.CaptureFixture[str], calendar: TradingCalendar
) -> None:
    path = target_file(ingested)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    code, out, err = run(
        capsys, "ingest", "SPY", "--start", str(TARGET), "--end", str(TARGET), "--replace"
    )
    assert code == 0, err
    (moved,) = (ingested / "quarantine").rglob("bars.parquet")
    assert moved.read_bytes() == raw[: len(raw) // 2]
    assert "parquet/SPY/dt=2024-01-17" in moved.as_posix()
    (session,) = calendar.sessions(TARGET, TARGET)
    stored = pq.read_table(path).replace_schema_metadata(None)
    assert stored.equals(generate_session("SPY", session))
