"""Scale-out backfill throughput: 1, 2 and 4 `stockdb worker` processes on a real Redis queue
and PostgreSQL state store, fetching from the fake Alpaca server (a separate process), with a
generous rate limit and with a tight one; plus the one-process lake-write ceiling.

Run: ``python -m bench scale`` (needs redis-server and PostgreSQL: ``make services``).
"""

from __future__ import annotations

import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.common import print_table
from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.config import Settings
from stockdb.lake.locks import FileSymbolLocks
from stockdb.lake.parquet_lake import Lineage, ParquetLake
from stockdb.obs.heartbeats import HeartbeatRepo
from stockdb.providers.synthetic import generate_session
from stockdb.testing.fake_alpaca import FAKE_KEY_ID, FAKE_SECRET_KEY

SYMBOLS = [f"B{i:02d}" for i in range(16)]
START, END = date(2024, 1, 2), date(2024, 3, 28)
WORKER_COUNTS = (1, 2, 4)
GENEROUS = (100_000, 60)  # requests per window, window seconds
TIGHT = (10, 1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _drop_root() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam("nobody")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _wait(check: Any, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ready = bool(check())
        except Exception:  # noqa: BLE001 - a server still starting refuses connections
            ready = False
        if ready:
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def servers(root: Path) -> Iterator[tuple[str, str]]:
    """redis-server and PostgreSQL on loopback (as ``nobody`` when root): (redis, pg admin)."""
    import psycopg

    redis_bin = shutil.which("redis-server")
    pg_bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if redis_bin is None or not pg_bins:
        raise SystemExit("bench_scale needs redis-server and PostgreSQL: run `make services`")
    drop = _drop_root()
    if drop:
        os.chown(root, drop["user"], drop["group"])
    procs: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        rport, pport = _free_port(), _free_port()
        procs.append(
            (
                subprocess.Popen(
                    [redis_bin, "--port", str(rport), "--bind", "127.0.0.1", "--save", ""],
                    stdout=subprocess.DEVNULL,
                    **drop,
                ),
                signal.SIGTERM,
            )
        )
        bin_dir = pg_bins[-1].parent
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(root / "pg"), "-U", "stockdb", "--auth=trust",
             "--no-locale", "--encoding=UTF8", "--no-sync"],
            check=True, capture_output=True, cwd=root, **drop,
        )  # fmt: skip
        procs.append(
            (
                subprocess.Popen(
                    [
                        str(bin_dir / "postgres"),
                        "-D",
                        str(root / "pg"),
                        "-p",
                        str(pport),
                        "-k",
                        str(root),
                        "-h",
                        "127.0.0.1",
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "max_connections=200",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    cwd=root,
                    **drop,
                ),  # fmt: skip
                signal.SIGINT,
            )
        )
        admin = f"postgresql://stockdb@127.0.0.1:{pport}/postgres"

        def pg_up() -> bool:
            psycopg.connect(admin, connect_timeout=1).close()
            return True

        _wait(pg_up, "postgres")
        yield f"redis://127.0.0.1:{rport}", admin
    finally:
        for proc, sig in reversed(procs):
            _stop(proc, sig)


@contextmanager
def fake_alpaca(rate: tuple[int, int]) -> Iterator[str]:
    """The fake Alpaca server in its own process (so its GIL is not the workers' ceiling)."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stockdb.testing.fake_alpaca", "--port", str(port),
         "--rate-limit", str(rate[0]), "--window", str(rate[1])],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def listening() -> bool:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return True

        _wait(listening, "fake")
        yield url
    finally:
        _stop(proc)


@dataclass(frozen=True)
class Run:
    workers: int
    rate: str
    seconds: float
    rows: int
    requests: int
    limited: int
    wait_s: float
    cpu_s: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(root: Path, redis_url: str, admin: str, alpaca: str, workers: int, rate: str) -> Run:
    """Fresh queue, database and lake; start ``workers`` processes, backfill, time it."""
    import psycopg
    import redis

    db = f"b_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    client = redis.Redis.from_url(f"{redis_url}/0")
    client.flushdb()
    client.close()
    data = root / f"data-{db}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "STOCKDB_"))}
    env.update(
        STOCKDB_DATA_DIR=str(data),
        STOCKDB_QUEUE_URL=f"{redis_url}/0",
        STOCKDB_STATE_URL=admin.rsplit("/", 1)[0] + f"/{db}",
        ALPACA_API_KEY_ID=FAKE_KEY_ID,
        ALPACA_API_SECRET_KEY=FAKE_SECRET_KEY,
        ALPACA_API_BASE_URL=alpaca,
        ALPACA_FEED="iex",
    )
    settings = Settings(
        data_dir=data,
        queue_url=env["STOCKDB_QUEUE_URL"],
        state_url=env["STOCKDB_STATE_URL"],
        alpaca_key_id=SecretStr(FAKE_KEY_ID),
        alpaca_secret_key=SecretStr(FAKE_SECRET_KEY),
        alpaca_base_url=alpaca,
    )
    app = App(settings)
    jobs = app.jobs
    cpu_before = _children_cpu()
    stockdb = str(Path(sys.executable).parent / "stockdb")
    procs = [
        subprocess.Popen(
            [stockdb, "worker", "--agents", "backfill", "--heartbeat", "1"],
            env=env,
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        beats = HeartbeatRepo(app.state)
        _wait(
            lambda: len({v.heartbeat.worker for v in beats.views(app.clock.now())}) >= workers,
            "workers",
            timeout_s=300,  # a loaded machine starts four interpreters slowly
        )
        began = time.perf_counter()
        ids = [jobs.submit_ingest([s], START, END, "alpaca").id for s in SYMBOLS]
        _wait(
            lambda: all(jobs.get(i).status in ("succeeded", "failed") for i in ids),
            "backfill",
            timeout_s=900,
        )
        seconds = time.perf_counter() - began
        done = [jobs.get(i) for i in ids]
        failed = [j.error for j in done if j.status != "succeeded"]
        if failed:
            raise RuntimeError(f"{len(failed)} jobs failed: {failed[0]}")
        results = [j.result or {} for j in done]
        run = Run(
            workers,
            rate,
            seconds,
            sum(int(r.get("rows_written", 0)) for r in results),
            sum(int(r.get("requests", 0)) for r in results),
            sum(int(r.get("rate_limited", 0)) for r in results),
            sum(float(r.get("rate_limit_wait_s", 0.0)) for r in results),
            0.0,
        )
    finally:
        for proc in procs:
            _stop(proc)
        app.close()
        shutil.rmtree(data, ignore_errors=True)
    return replace(run, cpu_s=_children_cpu() - cpu_before)  # workers have been reaped


def lake_write_ceiling(root: Path) -> float:
    """Rows/s one process writes to the lake from in-memory bars (no fetch, no queue)."""
    calendar = TradingCalendar()
    lake = ParquetLake(root / "ceiling" / "parquet", FileSymbolLocks(root / "ceiling" / "locks"))
    lineage = Lineage("synthetic", "synthetic")
    sessions = calendar.sessions(START, END)
    batches = {
        s: {d.date: (generate_session(s, d), "merge") for d in sessions} for s in SYMBOLS[:4]
    }
    rows = sum(t.num_rows for b in batches.values() for t, _ in b.values())
    began = time.perf_counter()
    for symbol, items in batches.items():
        with lake.writer(symbol):
            lake.write_sessions(symbol, items, lineage)  # type: ignore[arg-type]
    return rows / (time.perf_counter() - began)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="stockdb-bench-scale-"))
    root.chmod(0o755)
    runs: list[Run] = []
    try:
        ceiling = lake_write_ceiling(root)
        with servers(root) as (redis_url, admin):
            with fake_alpaca(GENEROUS) as url:
                for n in WORKER_COUNTS:
                    runs.append(run_once(root, redis_url, admin, url, n, "generous"))
            with fake_alpaca(TIGHT) as url:
                for n in (1, 4):
                    runs.append(run_once(root, redis_url, admin, url, n, "tight"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = runs[0].rows_per_s
    limits = {"generous": f"{GENEROUS[0]}/{GENEROUS[1]}s", "tight": f"{TIGHT[0]}/{TIGHT[1]}s"}
    rows: list[tuple[str, ...]] = [
        (
            str(r.workers),
            limits[r.rate],
            f"{r.rows_per_s:,.0f}",
            f"{r.rows_per_s / base:.2f}x",
            f"{r.seconds:.1f}",
            f"{r.cpu_s:.1f}",
            str(r.requests),
            str(r.limited),
            f"{r.wait_s:.1f}",
        )
        for r in runs
    ]
    rows.append(("lake", "-", f"{ceiling:,.0f}", f"{ceiling / base:.2f}x", *["-"] * 5))
    print(
        f"backfill of {len(SYMBOLS)} symbols x {START}..{END} "
        f"({runs[0].rows:,} rows) on Redis + PostgreSQL, {os.cpu_count()} CPUs"
    )
    print_table(
        "scale-out (lake = one process writing in-memory bars, no fetch or queue)",
        rows,
        ("procs", "limit", "rows/s", "vs 1", "wall s", "cpu s", "reqs", "429", "wait s"),
    )
    tight_rows_per_req = next(r.rows / max(r.requests, 1) for r in runs if r.rate == "tight")
    print(
        f"tight-limit ceiling: {TIGHT[0] / TIGHT[1]:.0f} requests/s x "
        f"{tight_rows_per_req:,.0f} rows/request = "
        f"{TIGHT[0] / TIGHT[1] * tight_rows_per_req:,.0f} rows/s, whatever the worker count"
    )
    for r in (r for r in runs if r.rate == "tight"):
        minimum = r.requests / TIGHT[0] * TIGHT[1]
        print(
            f"tight, {r.workers} procs sharing one key: {r.requests} requests, {r.limited} x 429, "
            f"{r.seconds:.1f}s = {r.seconds / minimum:.2f}x the minimum N/L windows "
            f"({minimum:.1f}s; wall clock includes queueing and lake writes)"
        )


if __name__ == "__main__":
    main()
