"""One Alpaca rate budget for the fleet: `stockdb worker` processes started together and sharing
a key against the fake Alpaca server with a tight limit they do not know yet provoke no 429
and keep the limit busy (Redis queue; PostgreSQL state as the fallback). The stores
themselves are tested in test_shared_budget_stores.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from stockdb.app import App
from stockdb.config import Settings
from stockdb.jobs.service import JobService
from stockdb.obs.heartbeats import HeartbeatRepo
from stockdb.providers.shared_limit import (
    SharedRateLimiter,
    budget_key,
)
from stockdb.testing.fake_alpaca import FakeAlpacaServer

pytestmark = pytest.mark.services

SYMBOLS = [f"R{i:02d}" for i in range(16)]
START, END = date(2024, 3, 1), date(2024, 3, 28)
# the fake's quota: 3 requests per 2-second window, well below what the workers could send
LIMIT, WINDOW_S = 3, 2
DEADLINE_S = 240.0


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)  # polling the state store: there is no event to wait on
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Fleet:
    root: Path
    app: App
    fake: FakeAlpacaServer
    procs: list[subprocess.Popen[bytes]]

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-1500:] for p in sorted(self.root.glob("worker-*.log"))
        )


@pytest.fixture
def fake() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(rate_limit=LIMIT, window_s=WINDOW_S) as server:
        yield server


def start_fleet(
    root: Path, fake: FakeAlpacaServer, workers: int, queue_url: str | None, state_url: str
) -> Fleet:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_", "STOCKDB_"))
    }
    env.update(
        STOCKDB_DATA_DIR=str(root / "data"),
        STOCKDB_STATE_URL=state_url,
        ALPACA_API_KEY_ID=fake.key_id,
        ALPACA_API_SECRET_KEY=fake.secret_key,
        ALPACA_API_BASE_URL=fake.url,
        ALPACA_FEED="iex",
    )
    if queue_url is not None:
        env["STOCKDB_QUEUE_URL"] = queue_url
    app = App(fake.settings(data_dir=root / "data", queue_url=queue_url, state_url=state_url))
    stockdb = str(Path(sys.executable).parent / "stockdb")
    procs = []
    for n in range(workers):
        with (root / f"worker-{n}.log").open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [stockdb, "worker", "--agents", "backfill", "--heartbeat", "1"],
                    cwd=root,
                    env=env,
                    stdout=out,
                    stderr=out,
                )
            )
    return Fleet(root, app, fake, procs)


def stop_fleet(fleet: Fleet) -> None:
    for proc in fleet.procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in fleet.procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    fleet.app.close()


def backfill_and_check(fleet: Fleet) -> None:
    """Submit one job per symbol, wait for all, then judge the fake server's own record."""
    beats = HeartbeatRepo(fleet.app.state)

    def all_up() -> bool:
        for p in fleet.procs:
            if p.poll() is not None:
                raise AssertionError(f"a worker exited with {p.returncode}:\n{fleet.logs()}")
        workers = {v.heartbeat.worker for v in beats.views(fleet.app.clock.now())}
        return len(workers) >= len(fleet.procs)

    wait_for(all_up, "every worker to heart-beat", 240)  # slow starts on a loaded machine
    jobs = JobService(fleet.app)
    # every job at once: no process knows the fake's 3 per 2 s until the first answer
    ids = [jobs.submit_ingest([s], START, END, "alpaca").id for s in SYMBOLS]

    def done() -> bool:
        states = [jobs.get(i).status for i in ids]
        if "failed" in states or "cancelled" in states:
            raise AssertionError(f"a job ended badly: {states}\n{fleet.logs()}")
        return all(s == "succeeded" for s in states)

    wait_for(done, "every job to succeed")
    records = fleet.fake.requests
    assert fleet.fake.limit_429s == 0, "the shared budget provoked no 429"
    assert all(r.status == 200 for r in records)
    results = [jobs.get(i).result or {} for i in ids]
    assert sum(int(r.get("rate_limited", 0)) for r in results) == 0
    worked = {j.worker.split("/", 1)[0] for j in (jobs.get(i) for i in ids) if j.worker}
    assert len(worked) >= 2, "several processes fetched (the budget was really shared)"
    n = len(records)
    assert n >= 4 * LIMIT, "enough requests to span several windows"
    span = max(r.at for r in records) - min(r.at for r in records)
    minimum = n / LIMIT * WINDOW_S
    assert span <= 1.1 * minimum, f"{n} requests took {span:.2f}s, minimum {minimum:.2f}s"


def test_four_redis_workers_share_one_budget(
    tmp_path: Path, fake: FakeAlpacaServer, redis_url: str, pg_database: str
) -> None:
    fleet = start_fleet(tmp_path, fake, 4, redis_url, pg_database)
    try:
        limiter = fleet.app.rate_limiter
        assert isinstance(limiter, SharedRateLimiter)
        backfill_and_check(fleet)
        assert limiter.state().in_flight == 0, "every grant was answered and returned"
    finally:
        stop_fleet(fleet)


def test_postgres_state_is_the_fallback_budget(
    tmp_path: Path, fake: FakeAlpacaServer, pg_database: str
) -> None:
    fleet = start_fleet(tmp_path, fake, 3, None, pg_database)
    try:
        limiter = fleet.app.rate_limiter
        assert isinstance(limiter, SharedRateLimiter)
        backfill_and_check(fleet)
        assert limiter.state().in_flight == 0
    finally:
        stop_fleet(fleet)


def test_budget_key_names_the_account_not_the_secret() -> None:
    a = Settings(alpaca_key_id="KEYA", alpaca_secret_key="s1")  # type: ignore[arg-type]
    b = Settings(alpaca_key_id="KEYA", alpaca_secret_key="s2")  # type: ignore[arg-type]
    c = Settings(alpaca_key_id="KEYB", alpaca_secret_key="s1")  # type: ignore[arg-type]
    assert budget_key(a) == budget_key(b) != budget_key(c)
    assert "KEYA" not in budget_key(a) and "s1" not in budget_key(a)
