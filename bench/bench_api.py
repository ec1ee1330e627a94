"""REST API latency: latest-5 and one-day GET /bars over 10 years of one symbol, vs the floor.

Builds (once, cached under /tmp) a lake with 10 years of synthetic 1-minute SPY bars, starts
uvicorn on loopback in a subprocess, and drives it with an httpx client at concurrency 1 and
16 (one keep-alive connection per worker thread). The floor is the same query through the
Python API in-process. Goal: p50 of the latest-5 request <= 15 ms at concurrency 1.

Run: ``.venv/bin/python bench/bench_api.py`` (``--data DIR`` to choose the cached lake).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx

DEFAULT_DATA = Path("/tmp/stockdb_bench_api_10y")
FIRST, LAST = date(2015, 1, 2), date(2024, 12, 31)
ONE_DAY = "2024-06-03"
SERVER = (
    "import sys, uvicorn; from stockdb.api import create_app; "
    "uvicorn.run(create_app(run_runtime=False), host='127.0.0.1', port=int(sys.argv[1]), "
    "log_level='warning', access_log=False)"
)


def build_lake(data: Path) -> int:
    """Write 10 years of synthetic SPY sessions into ``data`` unless already there."""
    from stockdb.app import App
    from stockdb.config import Settings
    from stockdb.lake.parquet_lake import Lineage
    from stockdb.providers.synthetic import generate_session

    marker = data / ".bench_complete"
    app = App(Settings(data_dir=data))
    try:
        if marker.exists():
            return len(app.lake.sessions("SPY"))
        lineage = Lineage("synthetic", "synthetic")
        sessions = app.calendar.sessions(FIRST, LAST)
        with app.lake.writer("SPY"):
            for i in range(0, len(sessions), 64):
                batch = sessions[i : i + 64]
                items = {s.date: (generate_session("SPY", s), "merge") for s in batch}
                app.lake.write_sessions("SPY", items, lineage)  # type: ignore[arg-type]
        marker.write_text("ok")
        return len(sessions)
    finally:
        app.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base: str, proc: subprocess.Popen[bytes], deadline_s: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def load(base: str, path: str, concurrency: int, per_worker: int) -> tuple[list[float], float]:
    """Latencies (s) of ``concurrency`` threads each sending ``per_worker`` requests; wall time."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        mine = []
        with httpx.Client(base_url=base, timeout=30.0) as client:
            client.get(path)  # connect + warm
            for _ in range(per_worker):
                t0 = time.perf_counter()
                r = client.get(path)
                mine.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:100]}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return latencies, wall


def floor(fn: Callable[[], object], n: int) -> list[float]:
    fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def row(name: str, conc: int | str, lat: list[float], wall: float | None) -> str:
    rps = len(lat) / wall if wall else 1.0 / statistics.mean(lat)
    return (
        f"{name:<34} {conc!s:>5} {len(lat):>6} {percentile(lat, 0.5) * 1e3:>9.2f} "
        f"{percentile(lat, 0.99) * 1e3:>9.2f} {rps:>9.0f}"
    )


def main() -> None:
    """Build or reuse the lake, start uvicorn, measure, print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--requests", type=int, default=400, help="requests at concurrency 1")
    args = parser.parse_args()
    t0 = time.perf_counter()
    sessions = build_lake(args.data)
    print(f"lake: {sessions} sessions of SPY in {args.data} ({time.perf_counter() - t0:.1f}s)")

    import stockdb

    queries = {
        "latest 5 (limit=5)": "/bars/SPY?limit=5",
        f"one day ({ONE_DAY})": (f"/bars/SPY?start={ONE_DAY}&end={ONE_DAY}"),
    }
    with stockdb.open(args.data) as db:
        rows_one_day = len(db.bars("SPY", start=ONE_DAY, end=ONE_DAY, output="arrow"))
        floors = {
            "latest 5 (limit=5)": floor(lambda: db.bars("SPY", limit=5, output="arrow"), 200),
            f"one day ({ONE_DAY})": floor(
                lambda: db.bars("SPY", start=ONE_DAY, end=ONE_DAY, output="arrow"), 200
            ),
        }

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "STOCKDB_DATA_DIR": str(args.data)}
    env.pop("STOCKDB_API_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=env)
    try:
        wait_ready(base, proc)
        print(f"uvicorn on {base}; one-day query returns {rows_one_day} bars\n")
        print(f"{'query':<34} {'conc':>5} {'n':>6} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>9}")
        for name, path in queries.items():
            print(row(name + " [python API floor]", 1, floors[name], None))
            for conc in (1, 16):
                per_worker = args.requests if conc == 1 else max(20, args.requests // 8)
                lat, wall = load(base, path, conc, per_worker)
                print(row(name + " [HTTP]", conc, lat, wall))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
