"""One real ``uvicorn app.api.main:app`` process on a free loopback port, for the e2e tests.

The process runs over ``tmp_path/data`` with no Alpaca keys (so the synthetic provider) and
none of the caller's STOCKDB_/ALPACA_/APCA_/IEX_ variables, plus ``extra_env``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ApiServer:
    base: str
    data: Path
    pid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def uvicorn_api(tmp_path: Path, extra_env: dict[str, str] | None = None) -> Iterator[ApiServer]:
    """Start the API, wait for /health to answer 200, yield it, then stop it (SIGTERM)."""
    data = tmp_path / "data"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALPACA_", "APCA_", "STOCKDB_", "IEX_"))
    }
    env.update({"STOCKDB_DATA_DIR": str(data), **(extra_env or {})})
    port = free_port()
    log_path = tmp_path / f"server-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.api.main:app", "--app-dir", str(REPO)]
            + ["--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "uvicorn did not become ready"
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)  # polling: the process gives no readiness event
            yield ApiServer(base, data, proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
