"""Temp-file writes from several writers at once: a shared new folder is no error for either."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stockdb.lake.atomic import commit_temps, write_temp_files


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
