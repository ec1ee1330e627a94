"""Temp-file writes from several writers at once: a shared new folder is no error for either;
a streaming round whose I/O threads make the folders removes every one of them on a failure."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import stockdb.lake.atomic as atomic
from stockdb.errors import StorageError
from stockdb.lake.atomic import TempWriter, commit_temps, write_temp_files


def test_writers_creating_the_same_new_folders_at_once_all_succeed(tmp_path: Path) -> None:
    table = pa.table({"x": [1, 2, 3]})
    writers = 8
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        dest = tmp_path / "rollups" / "tf=1Day" / f"S{i}" / "year=2024" / "bars.parquet"
        start.wait()
        try:
            commit_temps([(write_temp_files([(table, dest)])[0].path, dest)])
        except BaseException as exc:  # collected: the assertion names them
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(writers):
        path = tmp_path / "rollups" / "tf=1Day" / f"S{i}" / "year=2024" / "bars.parquet"
        assert pq.read_table(path).equals(table)


def _round_dests(root: Path, symbols: int, days: int) -> list[Path]:
    return [
        root / f"S{s}" / f"dt=2024-01-{d + 1:02d}" / "bars.parquet"
        for s in range(symbols)
        for d in range(days)
    ]


def test_a_streaming_round_makes_its_folders_in_the_io_threads(tmp_path: Path) -> None:
    table = pa.table({"x": [1, 2, 3]})
    dests = _round_dests(tmp_path / "lake", 6, 8)
    with TempWriter(streaming=True) as writer:
        for dest in dests:
            writer.submit(table, dest)
        temps = writer.results()
        writer.release()
    commit_temps([(t.path, d) for t, d in zip(temps, dests, strict=True)])
    for dest in dests:
        assert pq.read_table(dest).equals(table)
    assert sorted(p.name for p in (tmp_path / "lake").iterdir()) == [f"S{s}" for s in range(6)]


def test_a_folder_that_cannot_be_made_fails_the_round_and_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = pa.table({"x": [1, 2, 3]})
    real = atomic._make_parents
    calls = {"n": 0}
    lock = threading.Lock()

    def failing(dest: Path, present: frozenset[Path] = frozenset()) -> list[Path]:
        with lock:  # called from the round's I/O threads
            calls["n"] += 1
            fail = calls["n"] == 30
        if fail:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(dest, present)

    monkeypatch.setattr(atomic, "_make_parents", failing)
    (tmp_path / "lake").mkdir()
    dests = _round_dests(tmp_path / "lake", 6, 8)
    with pytest.raises(StorageError, match="No space left"), TempWriter(streaming=True) as writer:
        for dest in dests:
            writer.submit(table, dest)
        writer.results()
    assert calls["n"] == len(dests)  # every file of the round got as far as its folders
    assert list((tmp_path / "lake").iterdir()) == []  # no temp file, partition or symbol folder


def test_cleanup_removes_a_child_recorded_after_its_parent_was(tmp_path: Path) -> None:
    parent = tmp_path / "S1"
    child = parent / "dt=2024-01-02"
    child.mkdir(parents=True)
    # One thread recorded the symbol folder it made, another the partition folder in it
    # earlier: the deepest folder goes first, so both go.
    atomic._remove_folders([child, parent])
    assert list(tmp_path.iterdir()) == []
