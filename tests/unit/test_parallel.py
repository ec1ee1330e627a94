"""The parallel-map helper: chunking, order, progress and errors, in process and in workers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stockdb.lake.checksums import checksums
from stockdb.lake.integrity import Algorithm
from stockdb.parallel import chunks, parallel_map, worker_count


@pytest.mark.parametrize(("n", "count"), [(0, 3), (1, 4), (7, 3), (10, 10), (10, 40), (25, 8)])
def test_chunks_cover_items_in_order_near_equally(n: int, count: int) -> None:
    items = list(range(n))
    parts = chunks(items, count)
    assert [x for part in parts for x in part] == items
    assert all(parts) and len(parts) <= max(1, count)
    if parts:
        sizes = [len(p) for p in parts]
        assert max(sizes) - min(sizes) <= 1


def test_worker_count_honours_a_request_and_defaults_to_the_cores() -> None:
    assert worker_count(3) == 3
    assert worker_count(0) == 1
    assert worker_count() >= 1


def _files(tmp_path: Path, n: int) -> list[Path]:
    paths = []
    for k in range(n):
        path = tmp_path / f"f{k}.bin"
        path.write_bytes(bytes([k % 256]) * (1000 + 37 * k))
        paths.append(path)
    return paths


def _reference(path: Path) -> tuple[int, tuple[str]]:
    data = path.read_bytes()
    return len(data), (hashlib.blake2b(data, digest_size=16).hexdigest(),)


def _items(paths: list[Path]) -> list[tuple[str | os.PathLike[str], tuple[Algorithm, ...]]]:
    """The verify threads' work items, with the hash hashlib can check (BLAKE2b)."""
    return [(p, ("blake2b",)) for p in paths]


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_item_order_with_one_progress(tmp_path: Path, workers: int) -> None:
    paths = _files(tmp_path, 23)
    paths.insert(5, tmp_path / "gone.bin")
    seen: list[tuple[int, int]] = []
    got = parallel_map(checksums, None, _items(paths), workers, lambda d, t, _: seen.append((d, t)))
    assert got == [None if p.name == "gone.bin" else _reference(p) for p in paths]
    done = [d for d, _ in seen]
    assert done[0] == 0 and done[-1] == len(paths) and done == sorted(done)
    assert {t for _, t in seen} == {len(paths)}


def test_a_worker_error_is_raised_in_the_caller(tmp_path: Path) -> None:
    paths = _files(tmp_path, 12)
    (tmp_path / "folder").mkdir()
    paths.insert(7, tmp_path / "folder")  # reading a folder fails inside the worker
    with pytest.raises(IsADirectoryError):
        parallel_map(checksums, None, _items(paths), 2)


def test_a_script_without_a_main_guard_runs_once_with_workers(tmp_path: Path) -> None:
    """Workers do not re-run the caller's script (multiprocessing's spawn would, so an
    unguarded script calling stockdb on many symbols would repeat itself in every worker)."""
    paths = _files(tmp_path, 9)
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from stockdb.lake.checksums import checksums
            from stockdb.parallel import parallel_map

            with open({str(tmp_path / "runs.txt")!r}, "a") as fh:
                fh.write("ran\\n")
            items = [(Path(p), ("blake2b",)) for p in {[str(p) for p in paths]!r}]
            for size, (digest,) in parallel_map(checksums, None, items, 2):  # workers only
                print(size, digest)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert (tmp_path / "runs.txt").read_text() == "ran\n"
    assert done.stdout.splitlines() == [f"{s} {d}" for s, (d,) in map(_reference, paths)]


def test_workers_each_run_on_a_core_of_their_own(tmp_path: Path) -> None:
    """With no more processes than cores, each worker is pinned to its own core (the first
    left to this process when it works too, which is never pinned); with more processes
    than cores nobody is pinned. Probed in a fresh interpreter, whose fork server imports
    the probe module from the script's folder."""
    (tmp_path / "pinprobe.py").write_text(
        textwrap.dedent(
            """
            import os

            def affinity(_, chunk):
                return [sorted(os.sched_getaffinity(0)) for _ in chunk]
            """
        )
    )
    script = tmp_path / "probe.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os
            from pinprobe import affinity
            from stockdb.parallel import parallel_map

            if __name__ == "__main__":
                cores = sorted(os.sched_getaffinity(0))
                items = list(range(12))
                out = {
                    "cores": cores,
                    "workers": parallel_map(affinity, None, items, len(cores), chunk_items=1),
                    "with_local": parallel_map(
                        affinity, None, items, len(cores), chunk_items=1,
                        local=lambda chunk: [["local", *sorted(os.sched_getaffinity(0))]
                                             for _ in chunk],
                    ),
                    "crowded": parallel_map(affinity, None, items, len(cores) + 1, chunk_items=1),
                    "after": sorted(os.sched_getaffinity(0)),
                }
                print(json.dumps(out))
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    import json

    got = json.loads(done.stdout)
    cores: list[int] = got["cores"]
    assert got["after"] == cores
    assert all(a == cores for a in got["crowded"])  # more processes than cores: free
    if len(cores) < 2:
        assert all(a == cores for a in got["workers"])
        return
    assert all(len(a) == 1 and a[0] in cores for a in got["workers"])
    local = [a[1:] for a in got["with_local"] if a[0] == "local"]
    remote = [a for a in got["with_local"] if a[0] != "local"]
    assert all(a == cores for a in local)  # this process stays where it was
    assert all(len(a) == 1 and a[0] in cores[1:] for a in remote)  # the first core left free
