"""A damaged lake is found, named and repaired: `stockdb verify [--repair]` and every reader.

Damage is done the way disks and people do it: a file truncated to half, a file deleted, one
byte flipped in place. The reference for refetched bars is generate_session.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from stockdb.calendar import TradingCalendar
from stockdb.cli.main import main
from stockdb.client import open_db
from stockdb.errors import DamagedPartition
from stockdb.providers.synthetic import generate_session

START, END = "2024-03-04", "2024-03-08"
TRUNCATED, DELETED, FLIPPED = date(2024, 3, 5), date(2024, 3, 6), date(2024, 3, 7)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def bars_file(data_dir: Path, day: date) -> Path:
    return data_dir / "parquet" / "SPY" / f"dt={day}" / "bars.parquet"


def features_file(data_dir: Path, day: date) -> Path:
    return data_dir / "features" / "SPY" / f"dt={day}" / "features.parquet"


def assert_one_line_naming(err: str, day: date) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"SPY dt={day}" in lines[0] and "stockdb verify --repair" in lines[0]


@pytest.fixture
def built(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, _, err = run(capsys, "ingest", "SPY", "--start", START, "--end", END)
    assert code == 0, err
    code, _, err = run(capsys, "features", "build", "SPY")
    assert code == 0, err
    code, out, _ = run(capsys, "verify")
    assert code == 0 and "checked 13 partitions" in out and "all intact" in out
    return data_dir


def damage(data_dir: Path) -> dict[str, bytes]:
    """Truncate one bars file, delete another, flip a byte in a features file."""
    half = bars_file(data_dir, TRUNCATED)
    raw = half.read_bytes()
    half.write_bytes(raw[: len(raw) // 2])
    bars_file(data_dir, DELETED).unlink()
    feat = features_file(data_dir, FLIPPED)
    flipped = bytearray(feat.read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF
    feat.write_bytes(bytes(flipped))
    return {"truncated": raw[: len(raw) // 2], "flipped": bytes(flipped)}


def test_verify_names_each_damaged_partition_and_repair_quarantines_then_ingest_refetches(
    built: Path, capsys: pytest.CaptureFixture[str], calendar: TradingCalendar
) -> None:
    kept = damage(built)
    code, out, err = run(capsys, "verify")
    assert code == 8 and "run `stockdb verify --repair`" in err
    lines = out.strip().splitlines()
    assert len(lines) == 3, out
    assert any(
        line.startswith(f"damaged bars SPY dt={TRUNCATED}")
        and str(bars_file(built, TRUNCATED)) in line
        for line in lines
    )
    assert any(line.startswith(f"missing bars SPY dt={DELETED}") for line in lines)
    assert any(
        line.startswith(f"damaged features SPY dt={FLIPPED}") and "checksum" in line
        for line in lines
    )
    # Until repaired, the gap report and the symbol summary call those sessions errors.
    with open_db(built) as db:
        gaps = db.gaps("SPY", START, END).set_index("session_date")["status"]
        summary = db.symbols().set_index("symbol").loc["SPY"]
    assert {str(d)[:10]: s for d, s in gaps.items()} == {
        "2024-03-04": "complete",
        str(TRUNCATED): "error",
        str(DELETED): "error",
        "2024-03-07": "complete",
        "2024-03-08": "complete",
    }
    assert (summary["complete"], summary["error"]) == (3, 2)
    code, out, err = run(capsys, "verify", "QQQ")  # another symbol: nothing to report
    assert code == 0 and "all intact" in out

    code, out, err = run(capsys, "verify", "--repair")
    assert code == 0, err
    assert "moved to" in out and "sessions marked missing" in out
    quarantined = {p.name: p for p in (built / "quarantine").rglob("*.parquet")}
    assert quarantined["bars.parquet"].read_bytes() == kept["truncated"]
    assert quarantined["features.parquet"].read_bytes() == kept["flipped"]
    assert not bars_file(built, TRUNCATED).exists()
    con = sqlite3.connect(built / "state" / "stockdb.sqlite")
    dates = {r[0] for r in con.execute("SELECT session_date FROM coverage WHERE symbol='SPY'")}
    con.close()
    assert dates == {"2024-03-04", "2024-03-07", "2024-03-08"}  # the two sessions are missing
    code, out, _ = run(capsys, "gaps", "SPY", "--start", START, "--end", END, "--only-gaps")
    assert code == 0 and str(TRUNCATED) in out and str(DELETED) in out

    # The next ingest fetches exactly the two sessions again; features rebuild the third.
    code, out, err = run(capsys, "ingest", "SPY", "--start", START, "--end", END)
    assert code == 0 and "sessions fetched 2" in out and "skipped 3" in out, out + err
    for day in (TRUNCATED, DELETED):
        (session,) = calendar.sessions(day, day)
        stored = pq.read_table(bars_file(built, day)).replace_schema_metadata(None)
        assert stored.equals(generate_session("SPY", session))
    code, _, err = run(capsys, "features", "build", "SPY")
    assert code == 0, err
    code, out, _ = run(capsys, "verify")
    assert code == 0 and "all intact" in out


def test_every_reader_names_the_damaged_partition_in_one_line(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    half = bars_file(built, TRUNCATED)
    raw = half.read_bytes()
    half.write_bytes(raw[: len(raw) // 2])
    # Daily bars come from the maintained rollup, derived while the file was intact: the
    # damage does not reach them (verify reports it; the minute readers name it).
    code, _, err = run(capsys, "bars", "SPY", "--timeframe", "1Day")
    assert code == 0, err
    for argv in (
        ("bars", "SPY"),
        (
            "bars",
            "SPY",
            "--timeframe",
            "1Day",
            "--session",
            "regular",
            "--start",
            START + "T00:00:00Z",
        ),
        ("features", "build", "SPY", "--full"),
        ("db", "refresh"),
    ):
        code, _, err = run(capsys, *argv)
        assert code == 8, (argv, err)
        assert_one_line_naming(err, TRUNCATED)
    assert not [p for p in (built / "duckdb").iterdir() if p.name.startswith(".tmp-")]
    with open_db(built) as db, pytest.raises(DamagedPartition, match="verify --repair"):
        db.bars("SPY")
    # The readers flagged it: the next ingest rewrites the session without a verify first.
    code, out, err = run(capsys, "ingest", "SPY", "--start", START, "--end", END)
    assert code == 0 and "sessions fetched 1" in out, out + err
    code, out, _ = run(capsys, "bars", "SPY", "--format", "csv")
    assert code == 0

    last = date.fromisoformat(END)
    feat = features_file(built, last)
    raw = feat.read_bytes()
    feat.write_bytes(raw[: len(raw) // 3])
    code, _, err = run(capsys, "features", "show", "SPY")
    assert code == 8
    assert_one_line_naming(err, last)


def test_checking_on_threads_finds_the_same_damage(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import stockdb.lake.verify as module
    from stockdb.app import App
    from stockdb.config import Settings
    from stockdb.lake.verify import Verifier

    damage(built)
    app = App(Settings(data_dir=built))
    hashed_on: list[set[str]] = []
    real = module.checksums  # type: ignore[attr-defined]

    def recording(context: None, items: list[Any]) -> list[Any]:
        hashed_on[-1].add(threading.current_thread().name.split("_")[0])
        return real(context, items)

    monkeypatch.setattr(module, "checksums", recording)
    monkeypatch.setattr(module, "_CHUNK_FILES", 2)  # several tasks, so both threads get some
    try:
        reports, ledgers = [], []
        for workers in (1, 2):
            verifier = Verifier(
                app.lake, app.settings.features_dir, app.ledger, app.coverage, built, workers, 2
            )  # 13 files: from 2 on, on the threads
            calls: list[tuple[int, int, str]] = []
            hashed_on.append(set())
            report = verifier.check(app.clock.now(), progress=lambda *c, to=calls: to.append(c))
            reports.append(report.to_dict())
            done = [c[0] for c in calls]  # one progress over every recorded file
            assert done == sorted(done) and calls[-1][:2] == (13, 13), calls
            ledgers.append([app.ledger.entries(k) for k in ("bars", "features", "rollups")])
    finally:
        app.close()
    assert hashed_on == [{"MainThread"}, {"stockdb-verify"}]
    serial, parallel = reports
    assert parallel == serial
    assert ledgers[1] == ledgers[0]  # the same marks, written by this process either way
    assert (serial["checked"], serial["damaged"], serial["missing"]) == (13, 2, 1)


def test_a_job_worker_verifies_on_threads_too(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job worker is a daemonic process, which may not start worker processes; hashing
    threads it may start, so a verify job uses every core as the command does."""
    import multiprocessing
    import threading

    import stockdb.lake.verify as module
    from stockdb.app import App
    from stockdb.config import Settings
    from stockdb.lake.verify import Verifier

    names: set[str] = set()
    real = module.checksums  # type: ignore[attr-defined]

    def recording(context: None, items: list[Any]) -> list[Any]:
        names.add(threading.current_thread().name.split("_")[0])
        return real(context, items)

    monkeypatch.setattr(module, "checksums", recording)
    monkeypatch.setattr(module, "cores", lambda: 2)
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True)
    app = App(Settings(data_dir=built))
    try:
        verifier = Verifier(
            app.lake, app.settings.features_dir, app.ledger, app.coverage, built, None, 2
        )
        assert verifier.check(app.clock.now()).ok
    finally:
        app.close()
    assert names == {"stockdb-verify"}


def _ledger_rows(data_dir: Path) -> list[tuple[str, str, str]]:
    con = sqlite3.connect(data_dir / "state" / "stockdb.sqlite")
    try:
        rows = con.execute("SELECT kind, rel_path, checksum FROM partition_files").fetchall()
    finally:
        con.close()
    return [(str(k), str(r), str(c)) for k, r, c in rows]


def _file_of(data_dir: Path, kind: str, rel: str) -> Path:
    roots = {"bars": "parquet", "features": "features", "rollups": "rollups"}
    return data_dir / roots[kind] / rel if kind != "rollups" else _rollup_file(data_dir, rel)


def _rollup_file(data_dir: Path, rel: str) -> Path:
    found = [p for p in data_dir.rglob("bars.parquet") if p.as_posix().endswith("/" + rel)]
    assert len(found) == 1, (rel, found)
    return found[0]


def test_every_write_records_a_blake3_digest_of_the_file(built: Path) -> None:
    """The ledger's digest is BLAKE3-128 of the file's bytes, checked with the blake3
    package itself (the writer takes it from memory, never reading the file back)."""
    import blake3

    rows = _ledger_rows(built)
    assert len(rows) == 13
    for kind, rel, checksum in rows:
        data = _file_of(built, kind, rel).read_bytes()
        assert checksum == "b3:" + blake3.blake3(data).hexdigest(length=16), rel


def test_a_ledger_of_blake2b_digests_still_verifies_and_a_rewrite_moves_to_blake3(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lake written before BLAKE3 holds bare BLAKE2b-128 digests: verify checks those with
    BLAKE2b (intact files pass, a flipped byte is found); a file rewritten later records
    BLAKE3 and keeps the BLAKE2b digest as the previous one, which the old file still
    matches if the rename never happened."""
    import hashlib

    con = sqlite3.connect(built / "state" / "stockdb.sqlite")
    try:
        for kind, rel, _ in _ledger_rows(built):
            data = _file_of(built, kind, rel).read_bytes()
            legacy = hashlib.blake2b(data, digest_size=16).hexdigest()
            con.execute(
                "UPDATE partition_files SET checksum = ? WHERE kind = ? AND rel_path = ?",
                (legacy, kind, rel),
            )
        con.commit()
    finally:
        con.close()
    code, out, err = run(capsys, "verify")
    assert code == 0 and "checked 13 partitions" in out and "all intact" in out, out + err

    # A crash after the ledger learned a new BLAKE3 write but before its rename: the old
    # file, recorded in BLAKE2b, is the previous version and still verifies.
    rel = f"SPY/dt={FLIPPED}/bars.parquet"
    con = sqlite3.connect(built / "state" / "stockdb.sqlite")
    try:
        con.execute(
            "UPDATE partition_files SET prev_size = size, prev_checksum = checksum, "
            "checksum = ? WHERE kind = 'bars' AND rel_path = ?",
            ("b3:" + "0" * 32, rel),
        )
        con.commit()
    finally:
        con.close()
    code, out, err = run(capsys, "verify")
    assert code == 0 and "all intact" in out, out + err

    path = bars_file(built, FLIPPED)
    flipped = bytearray(path.read_bytes())
    flipped[len(flipped) // 3] ^= 0x01
    path.write_bytes(bytes(flipped))
    code, out, err = run(capsys, "verify")
    assert code == 8, out + err
    (line,) = out.strip().splitlines()
    assert line.startswith(f"damaged bars SPY dt={FLIPPED}") and "checksum differs" in line

    # Rewriting the session (a repair, then the ingest) records BLAKE3 again.
    code, _, err = run(capsys, "verify", "--repair")
    assert code == 0, err
    code, _, err = run(capsys, "ingest", "SPY", "--start", START, "--end", END)
    assert code == 0, err
    checksums = {r: c for k, r, c in _ledger_rows(built) if k == "bars"}
    assert checksums[rel].startswith("b3:")
    assert sum(c.startswith("b3:") for c in checksums.values()) == 1  # the others untouched
    code, out, err = run(capsys, "verify")
    assert code == 0 and "all intact" in out, out + err
