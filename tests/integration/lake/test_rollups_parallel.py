"""`stockdb rollups rebuild` on worker processes writes exactly what the write path and a
serial rebuild write: the same bytes in every rollup file and the same ledger rows."""

from __future__ import annotations

import pickle
import shutil
from datetime import date
from pathlib import Path

import pytest

from stockdb.app import App
from stockdb.lake.rollup_rebuild import _Recipe, rebuild_in_worker, rebuild_rollups
from stockdb.parallel import parallel_map

from ...conftest import write_synthetic  # type: ignore[import-not-found]
from .test_verify import run

SYMBOLS = [f"R{k}" for k in range(6)]  # --workers given: on workers from two symbols


def rollups(app: App) -> tuple[dict[str, bytes], list[tuple[object, ...]]]:
    """Every rollup file's bytes, and the ledger's rollup rows (all but the write time)."""
    root = app.lake.rollups.root
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.*"))}
    rows = [
        (e.rel_path, e.symbol, e.session_date, e.rows, e.size, e.checksum, e.status, e.problem)
        for e in app.ledger.entries("rollups")
    ]
    return files, rows


def test_parallel_rebuild_equals_the_write_path_and_a_serial_rebuild(
    app: App, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # two years of files per symbol
    sessions = app.calendar.sessions(date(2023, 12, 27), date(2024, 1, 3))
    write_synthetic(app, SYMBOLS, sessions)
    written = rollups(app)  # kept up to date by the writes
    assert len(written[0]) == len(SYMBOLS) * 3 * 2 == len(written[1])

    assert rebuild_rollups(app.lake, app.settings, SYMBOLS, workers=1) == len(written[0])
    assert rollups(app) == written

    shutil.rmtree(app.lake.rollups.root)  # the files gone: the ledger still lists them
    calls: list[tuple[int, int, str]] = []
    rebuilt = rebuild_rollups(
        app.lake, app.settings, None, workers=2, progress=lambda *c: calls.append(c)
    )
    assert rebuilt == len(written[0])
    assert rollups(app) == written
    assert [c[:2] for c in calls] == [(k, len(SYMBOLS)) for k in range(len(SYMBOLS) + 1)]
    assert {c[2] for c in calls[1:]} == set(SYMBOLS)

    # the workers alone (this process not helping): every symbol rebuilt in another process
    shutil.rmtree(app.lake.rollups.root)
    recipe = _Recipe(pickle.dumps(app.settings), pickle.dumps(app.calendar))
    counts = parallel_map(rebuild_in_worker, recipe, SYMBOLS, 2, chunk_items=1)
    assert counts == [6] * len(SYMBOLS)
    assert rollups(app) == written

    # the CLI: --workers, one line per bad symbol list, nothing rebuilt then
    code, out, err = run(capsys, "rollups", "rebuild", "--workers", "2")
    assert code == 0 and f"rebuilt {len(written[0])} rollup files for {len(SYMBOLS)}" in out, err
    assert rollups(app) == written
    code, out, err = run(capsys, "rollups", "rebuild", "R0", "NOPE", "ZZZ", "--workers", "2")
    assert code != 0 and err.strip() == "error: no bars stored for NOPE, ZZZ", err
    code, out, err = run(capsys, "verify", "--workers", "2")
    assert code == 0 and "all intact" in out, out + err
