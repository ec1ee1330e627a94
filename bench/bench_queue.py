"""Queue overhead: no-op jobs through the SQLite queue, and the share of a one-month backfill
job spent outside ingest itself, submitted in the worker's process and from another process
(``stockdb jobs ingest``). Run: ``python -m bench queue``.

A backfill job is timed from the creation of its record (after the request was validated, as
a direct ingest validates it too) to the commit of its finished record, which the executor
announces with its "job succeeded" log line; the worker logs as ``stockdb worker`` does (JSON
lines and the state-store sink). The benchmark waits on that line instead of polling the state
store from the worker's process. Ingest is the backfill's own ``elapsed_s`` plus the
corporate-action sync; everything else (queue, records, the handler's set-up) is overhead.
"""

from __future__ import annotations

import logging
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.config import Settings
from stockdb.jobs.records import JobRecord
from stockdb.jobs.runtime import RuntimeOptions, start_runtime
from stockdb.jobs.service import JobService
from stockdb.obs.logging import setup_logging
from stockdb.testing.fake_alpaca import FakeAlpacaServer

NOOP_JOBS = 1000
WORKERS = 2
FIXED_JOBS = 200


def _wait_all_done(jobs: JobService, total: int, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = jobs.repo.counts()
        if counts["succeeded"] + counts["failed"] >= total:
            if counts["failed"]:
                raise RuntimeError(f"{counts['failed']} jobs failed")
            return
        time.sleep(0.01)
    raise RuntimeError("benchmark jobs did not finish in time")


def bench_noop(root: Path) -> dict[str, float]:
    app = App(Settings(data_dir=root / "noop"))
    jobs = app.jobs
    began = time.perf_counter()
    for i in range(NOOP_JOBS):
        jobs.submit("noop", f"noop:{i}", {})
    submitted = time.perf_counter() - began
    runtime = start_runtime(app, workers=WORKERS, agents=(), options=RuntimeOptions())
    try:
        began = time.perf_counter()
        _wait_all_done(jobs, NOOP_JOBS)
        drained = time.perf_counter() - began
    finally:
        runtime.stop()
        app.close()
    return {
        "submit_per_s": NOOP_JOBS / submitted,
        "execute_per_s": NOOP_JOBS / drained,
        "end_to_end_per_s": NOOP_JOBS / (submitted + drained),
    }


def bench_fixed_cost(root: Path) -> float:
    """The fixed cost of one job in ms: no-op jobs submitted one at a time in the worker's
    process, each timed from its record's creation to the commit of its finished record."""
    app = App(Settings(data_dir=root / "fixed"))
    costs: list[float] = []
    with _worker_logging(app, root) as settled:
        runtime = start_runtime(app, workers=1, agents=(), options=RuntimeOptions())
        try:
            for i in range(FIXED_JOBS):
                job = runtime.jobs.submit("noop", f"noop:fixed:{i}", {})
                costs.append(settled.next() - job.created_at.timestamp())
        finally:
            runtime.stop()
            app.close()
    return 1000 * statistics.median(costs)


MONTHS = ((1, 31), (2, 29), (3, 28), (4, 30), (5, 31))


class _Settled(logging.Handler):
    """When each job's finished record was committed: the executor logs "job succeeded" (or
    "job failed") in the worker thread right after that commit."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.settled: queue.SimpleQueue[tuple[str, float]] = queue.SimpleQueue()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name == "stockdb.jobs" and message in ("job succeeded", "job failed"):
            self.settled.put((message, record.created))

    def next(self, timeout_s: float = 300.0) -> float:
        """The wall-clock instant the next job settled; raises if it failed or never did."""
        try:
            message, at = self.settled.get(timeout=timeout_s)
        except queue.Empty:
            raise RuntimeError("benchmark job did not finish in time") from None
        if message != "job succeeded":
            raise RuntimeError("benchmark job failed")
        return at


@contextmanager
def _worker_logging(app: App, root: Path) -> Iterator[_Settled]:
    """The logging of ``stockdb worker`` (JSON lines, to a file here, and the state-store
    sink) plus the handler that sees jobs settle."""
    with (root / "worker.log").open("a") as stream:
        logs = setup_logging(app.settings, agent="worker", state=app.state, stream=stream)
        settled = _Settled()
        logging.getLogger().addHandler(settled)
        try:
            yield settled
        finally:
            logging.getLogger().removeHandler(settled)
            logs.close()


def _shares(done: JobRecord, settled_at: float) -> dict[str, float]:
    """The job's measures, from its record's creation to the commit of its finish."""
    assert done.result is not None and done.started_at is not None, done.error
    total = settled_at - done.created_at.timestamp()
    queued = (done.started_at - done.created_at).total_seconds()
    # The job also syncs corporate actions (real work, not queue overhead): count it apart.
    ingest = float(done.result["elapsed_s"]) + float(done.result.get("corporate_actions_s", 0))
    return {
        "job_s": total,
        "ingest_s": ingest,
        "queue_wait_s": queued,
        "overhead_s": max(0.0, total - ingest),
        "overhead_share": max(0.0, total - ingest) / total,
        "execution_overhead_share": max(0.0, total - queued - ingest) / max(total - queued, 1e-9),
    }


def _submit_elsewhere(data_dir: Path, symbol: str, first: date, last: date) -> str:
    """``stockdb jobs ingest`` in its own process (as a user or cron would); the job id."""
    env = {**os.environ, "STOCKDB_DATA_DIR": str(data_dir)}
    argv = [sys.executable, "-m", "stockdb.cli.main", "jobs", "ingest", symbol]
    argv += ["--start", first.isoformat(), "--end", last.isoformat(), "--provider", "synthetic"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"stockdb jobs ingest failed: {done.stderr.strip()[-500:]}")
    return done.stdout.split()[0]  # "<id> <status> <key>"


def bench_backfill_overhead(
    root: Path, settings: Settings, provider: str, elsewhere: bool = False
) -> dict[str, float]:
    """One-month backfill jobs of SPY through the SQLite queue, each timed from submit to done
    (one per month of 2024 in MONTHS); the median of each measure. ``elsewhere`` submits
    from another process (the CLI), which the consumer only learns about through the queue."""
    tag = f"{provider}-{'elsewhere' if elsewhere else 'here'}"
    app = App(settings.model_copy(update={"data_dir": root / f"backfill-{tag}"}))
    runs: list[dict[str, float]] = []
    with _worker_logging(app, root) as settled:
        runtime = start_runtime(app, workers=1, agents=("backfill",), options=RuntimeOptions())
        try:
            jobs = runtime.jobs
            for month, last_day in MONTHS:
                first, last = date(2024, month, 1), date(2024, month, last_day)
                if elsewhere:
                    job_id = _submit_elsewhere(app.settings.data_dir, "SPY", first, last)
                else:
                    job_id = jobs.submit_ingest(["SPY"], first, last, provider).id
                at = settled.next()
                runs.append(_shares(jobs.get(job_id), at))
        finally:
            runtime.stop()
            app.close()
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        root = Path(tmp)
        noop = bench_noop(root)
        fixed_ms = bench_fixed_cost(root)
        backfill = bench_backfill_overhead(root, Settings(), "synthetic")
        afar = bench_backfill_overhead(root, Settings(), "synthetic", elsewhere=True)
        with FakeAlpacaServer(calendar=TradingCalendar(), rate_limit=10_000) as fake:
            alpaca = bench_backfill_overhead(root, fake.settings(alpaca_feed="sip"), "alpaca")
    rows = [
        (f"{NOOP_JOBS} no-op jobs, submit", f"{noop['submit_per_s']:.0f} jobs/s"),
        (
            f"{NOOP_JOBS} no-op jobs, execute ({WORKERS} workers)",
            f"{noop['execute_per_s']:.0f} jobs/s",
        ),
        (f"{NOOP_JOBS} no-op jobs, end to end", f"{noop['end_to_end_per_s']:.0f} jobs/s"),
        ("fixed cost of one job (no-op, median: created to finished)", f"{fixed_ms:.2f} ms"),
    ]
    cases = (
        ("synthetic", backfill),
        ("synthetic, submitted by the CLI", afar),
        ("Alpaca (fake, loopback)", alpaca),
    )
    for label, result in cases:
        rows += [
            (f"1-month {label} backfill job, median total", f"{result['job_s']:.3f} s"),
            ("  of which ingest and corporate-action sync", f"{result['ingest_s']:.3f} s"),
            ("  of which waiting to be dequeued", f"{result['queue_wait_s']:.3f} s"),
            ("  outside ingest in all", f"{1000 * result['overhead_s']:.1f} ms"),
            ("  share outside ingest (goal < 5%)", f"{100 * result['overhead_share']:.1f} %"),
            (
                "  share outside ingest once dequeued",
                f"{100 * result['execution_overhead_share']:.1f} %",
            ),
        ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 14}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
