"""Queue overhead: no-op jobs through the SQLite queue, and the share of a backfill job
spent outside ingest itself. Run: ``python bench/bench_queue.py``."""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.config import Settings
from stockdb.jobs.runtime import RuntimeOptions, start_runtime
from stockdb.jobs.service import JobService
from stockdb.testing.fake_alpaca import FakeAlpacaServer

NOOP_JOBS = 1000
WORKERS = 2


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
    jobs = JobService(app)
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


def bench_backfill_overhead(root: Path, settings: Settings, provider: str) -> dict[str, float]:
    """One one-month backfill job of SPY through the SQLite queue, timed from submit to done."""
    app = App(settings.model_copy(update={"data_dir": root / f"backfill-{provider}"}))
    runtime = start_runtime(app, workers=1, agents=("backfill",), options=RuntimeOptions())
    try:
        jobs = runtime.jobs
        job = jobs.submit_ingest(["SPY"], date(2024, 3, 1), date(2024, 3, 28), provider)
        _wait_all_done(jobs, 1)
        done = jobs.get(job.id)
    finally:
        runtime.stop()
        app.close()
    assert done.result is not None and done.finished_at is not None
    total = (done.finished_at - done.created_at).total_seconds()
    queued = (done.started_at - done.created_at).total_seconds() if done.started_at else 0.0
    # The job also syncs corporate actions (real work, not queue overhead): count it apart.
    ingest = float(done.result["elapsed_s"]) + float(done.result.get("corporate_actions_s", 0))
    return {
        "job_s": total,
        "ingest_s": ingest,
        "queue_wait_s": queued,
        "overhead_share": max(0.0, total - ingest) / total,
        "execution_overhead_share": max(0.0, total - queued - ingest) / max(total - queued, 1e-9),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        root = Path(tmp)
        noop = bench_noop(root)
        backfill = bench_backfill_overhead(root, Settings(), "synthetic")
        with FakeAlpacaServer(calendar=TradingCalendar(), rate_limit=10_000) as fake:
            alpaca = bench_backfill_overhead(root, fake.settings(alpaca_feed="sip"), "alpaca")
    rows = [
        (f"{NOOP_JOBS} no-op jobs, submit", f"{noop['submit_per_s']:.0f} jobs/s"),
        (
            f"{NOOP_JOBS} no-op jobs, execute ({WORKERS} workers)",
            f"{noop['execute_per_s']:.0f} jobs/s",
        ),
        (f"{NOOP_JOBS} no-op jobs, end to end", f"{noop['end_to_end_per_s']:.0f} jobs/s"),
    ]
    for label, result in (("synthetic", backfill), ("Alpaca (fake, loopback)", alpaca)):
        rows += [
            (f"1-month {label} backfill job, total", f"{result['job_s']:.3f} s"),
            ("  of which ingest and corporate-action sync", f"{result['ingest_s']:.3f} s"),
            ("  of which waiting to be dequeued", f"{result['queue_wait_s']:.3f} s"),
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
