"""Through a real uvicorn server and its own consumers: a long ``POST /train`` runs in a child
process of the server, an ingest queued after it completes meanwhile, and ``DELETE /jobs/ID``
ends the child process itself, not only the job's state."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .uvicorn_api import uvicorn_api

SLOW_TRAIN = {
    "tickers": ["SPY"],
    "model": "random_forest_classifier",
    "params": {"n_estimators": 1000, "max_depth": None, "min_samples_leaf": 1},
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, int]]:
    with uvicorn_api(tmp_path) as api:
        yield api.base, api.data, api.pid


def children_running_jobs(parent: int) -> list[int]:
    """Pids of ``parent``'s spawned multiprocessing children (not its resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def wait_job(client: httpx.Client, job_id: str, until: tuple[str, ...], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in until:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_delete_job_ends_the_train_process_while_ingest_goes_on(
    server: tuple[str, Path, int],
) -> None:
    base, _data, pid = server
    with httpx.Client(base_url=base, timeout=30) as client:
        spy = client.post("/ingest/SPY", params={"start": "2024-03-04", "end": "2024-03-15"})
        assert spy.status_code == 202, spy.text
        assert wait_job(client, spy.json()["id"], ("succeeded", "failed"), 120)["status"] == (
            "succeeded"
        )
        build = client.post("/features/rebuild", json={"symbols": ["SPY"]})
        assert build.status_code == 202, build.text
        built = wait_job(client, build.json()["id"], ("succeeded", "failed"), 180)
        assert built["status"] == "succeeded", built

        train = client.post("/train", json=SLOW_TRAIN)
        assert train.status_code == 202, train.text
        train_id = train.json()["id"]
        wait_job(client, train_id, ("running",), 120)
        deadline = time.monotonic() + 60
        while not (children := children_running_jobs(pid)):
            assert time.monotonic() < deadline, "no child process runs the train job"
            time.sleep(0.1)
        assert len(children) == 1
        child = children[0]

        qqq = client.post("/ingest/QQQ", params={"start": "2024-03-04", "end": "2024-03-08"})
        assert qqq.status_code == 202, qqq.text
        ingested = wait_job(client, qqq.json()["id"], ("succeeded", "failed"), 120)
        assert ingested["status"] == "succeeded", ingested
        assert client.get(f"/jobs/{train_id}").json()["status"] == "running"
        assert Path(f"/proc/{child}").exists()

        cancelled = client.delete(f"/jobs/{train_id}")
        assert cancelled.status_code == 200, cancelled.text
        deadline = time.monotonic() + 30
        while (job := client.get(f"/jobs/{train_id}").json())["finished_at"] is None:
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["status"] == "cancelled"
        assert not Path(f"/proc/{child}").exists()
        assert children_running_jobs(pid) == []
        assert client.get("/models").json() == []
