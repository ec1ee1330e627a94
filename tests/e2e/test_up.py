"""`stockdb up` (what `make run` runs): seeds, serves API and dashboard, stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "stockdb up exited early"
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # polling servers that are starting
    raise AssertionError(f"{url} never answered 200")


def test_up_seeds_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    api, ui = free_port(), free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_", "STOCKDB_"))
    }
    env["STOCKDB_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stockdb.cli.main",
            "up",
            "--api-port",
            str(api),
            "--ui-port",
            str(ui),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{api}"
        wait_for(f"{base}/health", proc)
        wait_for(f"http://127.0.0.1:{ui}/", proc)
        rows = httpx.get(f"{base}/symbols").json()
        assert {row["symbol"] for row in rows} == {"SPY", "QQQ", "AAPL"}
        assert all(row["tracked"] for row in rows)  # the live agent keeps the seeds current
        bars = httpx.get(f"{base}/bars/SPY", params={"limit": 5}).json()
        assert len(bars) == 5 and [b["ts"] for b in bars] == sorted(b["ts"] for b in bars)
        features = list((tmp_path / "data" / "features" / "SPY").glob("dt=*/features.parquet"))
        assert features, "seeding builds features too"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, text
    assert "SYNTHETIC" in text and f"http://127.0.0.1:{ui}" in text and "stopped" in text
    for port in (api, ui):  # both children are gone and their ports released
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
