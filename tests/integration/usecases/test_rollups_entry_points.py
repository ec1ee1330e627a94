"""Rebuilding the rollups through every entry point: the REST API and its job, the Python
client and the CLI's ``--universe``; each writes exactly what the write path wrote, and bad
input changes nothing."""

from __future__ import annotations

import shutil
import warnings
from datetime import date
from typing import Any

import pytest

from stockdb.app import App
from stockdb.client import StockDB
from stockdb.errors import NotFound
from stockdb.usecases.universe import UniverseService

from ...conftest import snapshot, write_synthetic  # type: ignore[import-not-found]
from ..lake.test_verify import run

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from stockdb.api import create_app

SYMBOLS = ("R0", "R1")


@pytest.fixture
def stored(app: App) -> App:
    """Two symbols over a year boundary (two rollup files of each kind), and a universe
    ``second`` holding R1."""
    write_synthetic(app, SYMBOLS, app.calendar.sessions(date(2023, 12, 27), date(2024, 1, 3)))
    UniverseService(app).create("second", ["R1"])
    return app


def rollup_files(app: App) -> dict[str, bytes]:
    root = app.lake.rollups.root
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.*"))}


def of(files: dict[str, bytes], symbol: str) -> dict[str, bytes]:
    return {rel: data for rel, data in files.items() if f"/{symbol}/" in f"/{rel}"}


def test_api_job_rebuilds_only_the_symbols_asked_for(stored: App) -> None:
    written = rollup_files(stored)
    assert of(written, "R0") and of(written, "R1")
    shutil.rmtree(stored.lake.rollups.root)
    with TestClient(create_app(app=stored, run_runtime=False)) as client:
        posted = client.post("/rollups/rebuild", json={"symbols": ["r0"]})
        assert posted.status_code == 202, posted.text
        job = posted.json()
        assert job["kind"] == "rollups" and posted.headers["location"] == f"/jobs/{job['id']}"
        again = client.post("/rollups/rebuild", json={"symbols": ["R0"]}).json()
        assert again["id"] == job["id"]  # the same request while queued: the same job
        stored.jobs.execute(job["id"])
        done = client.get(f"/jobs/{job['id']}").json()
        assert done["status"] == "succeeded", done
        assert done["result"] == {"symbols": 1, "files": len(of(written, "R0"))}
        assert rollup_files(stored) == of(written, "R0")

        by_universe = client.post("/rollups/rebuild", json={"universe": "second"}).json()
        stored.jobs.execute(by_universe["id"])
        assert client.get(f"/jobs/{by_universe['id']}").json()["result"]["symbols"] == 1
        assert rollup_files(stored) == written

        shutil.rmtree(stored.lake.rollups.root)
        everything = client.post("/rollups/rebuild").json()
        stored.jobs.execute(everything["id"])
        assert client.get(f"/jobs/{everything['id']}").json()["result"]["symbols"] == 2
        assert rollup_files(stored) == written
    assert run_verify(stored) == "all intact"


def run_verify(app: App) -> str:
    report = app.verifier.check(app.clock.now())
    return "all intact" if report.ok else str([f.line() for f in report.findings])


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"symbols": ["R0", "NOPE", "ZZZ"]}, 404, "no bars stored for NOPE, ZZZ"),
        ({"symbols": ["../etc"]}, 422, "invalid symbol '../etc'"),
        ({"universe": "nosuch"}, 404, "nosuch"),
        ({"symbols": ["R0"], "workers": 64}, 422, "workers"),
        ({"symbols": ["R0"] * 501}, 422, "symbols"),
    ],
)
def test_api_bad_input_queues_nothing(
    stored: App, body: dict[str, Any], status: int, needle: str
) -> None:
    before = snapshot(stored.settings.data_dir)
    with TestClient(create_app(app=stored, run_runtime=False)) as client:
        jobs = client.get("/jobs").json()
        refused = client.post("/rollups/rebuild", json=body)
        assert refused.status_code == status, refused.text
        assert needle in refused.json()["detail"]
        assert client.get("/jobs").json() == jobs
    assert snapshot(stored.settings.data_dir) == before


def test_python_client_rebuilds_and_refuses_unknown_symbols(stored: App) -> None:
    written = rollup_files(stored)
    db = StockDB(stored)
    shutil.rmtree(stored.lake.rollups.root)
    assert db.rebuild_rollups(["R1"]) == len(of(written, "R1"))
    assert rollup_files(stored) == of(written, "R1")
    assert db.rebuild_rollups(universe="second") == len(of(written, "R1"))
    assert db.rebuild_rollups() == len(written)
    assert rollup_files(stored) == written
    before = snapshot(stored.settings.data_dir)
    with pytest.raises(NotFound, match="no bars stored for NOPE"):
        db.rebuild_rollups(["R0", "NOPE"])
    with pytest.raises(NotFound, match="nosuch"):
        db.rebuild_rollups(universe="nosuch")
    assert snapshot(stored.settings.data_dir) == before


def test_cli_universe_option(stored: App, capsys: pytest.CaptureFixture[str]) -> None:
    written = rollup_files(stored)
    shutil.rmtree(stored.lake.rollups.root)
    code, out, err = run(capsys, "rollups", "rebuild", "--universe", "second")
    assert code == 0 and f"rebuilt {len(of(written, 'R1'))} rollup files for 1 symbols" in out, err
    assert rollup_files(stored) == of(written, "R1")
    before = snapshot(stored.settings.data_dir)
    code, out, err = run(capsys, "rollups", "rebuild", "--universe", "nosuch")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "nosuch" in err, err
    assert "Traceback" not in err
    assert snapshot(stored.settings.data_dir) == before
