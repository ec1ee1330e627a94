"""A real stockdb API (uvicorn subprocess, in-process runtime) on loopback over a temp data
dir, seeded with five synthetic sessions of SPY through POST /ingest."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SEEDED = ("2024-03-04", "2024-03-08")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: object, timeout_s: float, what: str) -> object:
    """Poll ``check()`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()  # type: ignore[operator]
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _healthy(url: str, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"the API exited with {proc.returncode}")
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _job_done(url: str, job_id: str) -> str | None:
    status = str(httpx.get(f"{url}/jobs/{job_id}", timeout=5.0).json()["status"])
    return status if status in ("succeeded", "failed", "cancelled") else None


@pytest.fixture(scope="package")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a running API with SPY seeded (its features built); killed at the end."""
    data = tmp_path_factory.mktemp("ui-data")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "STOCKDB_"))}
    env["STOCKDB_DATA_DIR"] = str(data)
    log = (Path(data) / "api.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "uvicorn",
            "stockdb.api:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=data,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url, proc), 60, "the API to start")
        job = httpx.post(
            f"{url}/ingest/SPY", params={"start": SEEDED[0], "end": SEEDED[1]}, timeout=10
        ).json()
        assert wait_until(lambda: _job_done(url, job["id"]), 60, "the seed ingest") == "succeeded"
        build = httpx.post(f"{url}/features/rebuild", json={"symbols": ["SPY"]}, timeout=10)
        assert wait_until(lambda: _job_done(url, build.json()["id"]), 60, "the features") == (
            "succeeded"
        )
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture
def poll() -> object:
    """:func:`wait_until`, for the tests (conftest modules are not importable by name)."""
    return wait_until
