"""The spec's quickstart through a real uvicorn process: POST /ingest/SPY, then GET the bars.

``uvicorn app.api.main:app`` runs on a free loopback port over a temp data dir with no Alpaca
keys (so the synthetic provider) and no worker: the API process's own consumer ingests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from .uvicorn_api import uvicorn_api


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with uvicorn_api(tmp_path) as api:
        yield api.base, api.data


def test_quickstart_ingests_and_serves_what_the_lake_holds(server: tuple[str, Path]) -> None:
    base, data = server
    with httpx.Client(base_url=base, timeout=30) as client:
        posted = client.post("/ingest/SPY")
        assert posted.status_code == 202, posted.text
        job = posted.json()
        assert job["params"]["provider"] == "synthetic"
        assert client.post("/ingest/SPY").json()["id"] == job["id"] or (
            client.get(f"/jobs/{job['id']}").json()["status"] == "succeeded"
        )
        deadline = time.monotonic() + 120
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
            job = client.get(f"/jobs/{job['id']}").json()
        assert job["status"] == "succeeded", job
        assert job["progress_done"] == job["progress_total"] == 5

        bars = client.get("/bars/SPY?limit=5")
        assert bars.status_code == 200
        served = bars.json()

    files = sorted((data / "parquet" / "SPY").glob("dt=*/bars.parquet"))
    assert len(files) == 5
    lake = pa.concat_tables([pq.read_table(f) for f in files]).sort_by("ts")
    assert job["result"]["rows_written"] == lake.num_rows
    tail = lake.slice(lake.num_rows - 5)
    seconds = pc.cast(tail.column("ts"), pa.timestamp("s", tz="UTC")).to_pylist()
    assert [b["ts"] for b in served] == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in seconds]
    for name in ("open", "high", "low", "close", "volume", "trade_count", "vwap"):
        assert [b[name] for b in served] == tail.column(name).to_pylist()
