"""Operations commands: worker, status, jobs, agents, logs, track and verify."""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from stockdb.cli.common import err_console, make_app, out_console, progress_bar
from stockdb.cli.render import print_records
from stockdb.dates import parse_date_or_instant
from stockdb.errors import InvalidInput

if TYPE_CHECKING:
    from stockdb.usecases.operations import Operations

__all__ = ["register"]

jobs_app = typer.Typer(
    help="Background jobs: list, show, cancel, and queue an ingest (jobs ingest).",
    no_args_is_help=True,
)
agents_app = typer.Typer(
    help="Start and stop the background agents (backfill, live, features).",
    no_args_is_help=True,
)


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def _progress(done: int, total: int) -> str:
    return f"{done}/{total}" if total else ""


def _operations(ctx: typer.Context) -> Operations:
    from stockdb.usecases.operations import Operations

    app = make_app(ctx)
    return Operations(app, app.jobs)


# ---- worker ------------------------------------------------------------------------------------
def worker(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option(help="Consumer worker threads")] = 1,
    agents: Annotated[str, typer.Option(help="Agents to run, comma-separated")] = (
        "backfill,live,features"
    ),
    heartbeat: Annotated[float, typer.Option(help="Heartbeat interval, seconds")] = 5.0,
    sip_realtime: Annotated[
        bool, typer.Option(help="A paid plan: do not stay 15 minutes behind on feed=sip")
    ] = False,
) -> None:
    """Run the queue consumer and the agents until Ctrl-C or SIGTERM (then stop cleanly).

    Example: stockdb worker
    """
    from stockdb.jobs.runtime import RuntimeOptions, start_runtime
    from stockdb.obs.logging import setup_logging

    if not 0 < heartbeat <= 300:  # also refuses nan
        raise InvalidInput("--heartbeat must be between 0 and 300 seconds")
    names = [a.strip().lower() for a in agents.split(",") if a.strip()]
    app = make_app(ctx)
    logs = setup_logging(app.settings, agent="worker", state=app.state)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    options = RuntimeOptions(
        heartbeat_s=heartbeat, job_heartbeat_s=heartbeat, sip_realtime=sip_realtime
    )
    try:
        runtime = start_runtime(app, workers=workers, agents=names, options=options)
        err_console().print(
            f"worker {runtime.worker_id}: {workers} thread(s), agents {', '.join(names) or '-'}, "
            f"queue {runtime.jobs.queue.kind}; Ctrl-C to stop",
            highlight=False,
        )
        try:
            while not stop.wait(0.5):
                pass
        finally:
            runtime.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        logs.close()


# ---- status --------------------------------------------------------------------------------------
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Agents and their heartbeat age, stall alerts, queue depth, running jobs with progress.

    Example: stockdb status
    """
    report = make_app(ctx).jobs.status()
    if as_json:
        _print_json(report)
        return
    q = report["queue"]
    out = out_console()
    out.print(
        f"queue ({q['backend']}): {q['pending']} pending, {q['scheduled']} scheduled; jobs "
        f"{q['queued']} queued, {q['running']} running, {q['failed']} failed",
        highlight=False,
    )
    controls = ", ".join(f"{k} {'on' if v else 'STOPPED'}" for k, v in report["controls"].items())
    out.print(f"agents: {controls}", highlight=False)
    agents = [
        {
            "agent": a["agent"],
            "worker": a["worker"],
            "state": a["state"],
            "age_s": a["age_s"],
            "job": (a["current_job"] or "")[:8],
            "progress": _progress(a["progress_done"] or 0, a["progress_total"] or 0),
            "lag_s": "" if a["lag_s"] is None else round(a["lag_s"]),
            "next": a["next_step"] or "",
        }
        for a in report["agents"]
    ]
    if agents:
        print_records(agents, "heartbeats")
    else:
        out.print("no worker is running: start one with `stockdb worker`", highlight=False)
    if report["running"]:
        print_records(
            [
                {
                    "job": j["id"][:8],
                    "kind": j["kind"],
                    "key": j["key"],
                    "progress": _progress(j["progress_done"], j["progress_total"]),
                    "message": j["message"] or "",
                }
                for j in report["running"]
            ],
            "running jobs",
        )
    for alert in report["alerts"]:
        out.print(f"[bold red]alert[/] {alert['ts']}: {alert['message']}", highlight=False)


# ---- jobs ----------------------------------------------------------------------------------------
@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="queued running succeeded ...")] = None,
    kind: Annotated[str | None, typer.Option(help="ingest features train ...")] = None,
    limit: Annotated[int, typer.Option(help="Most recent N")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Jobs, newest first.

    Example: stockdb jobs list --status running
    """
    found = make_app(ctx).jobs.list(status, limit, kind)
    if as_json:
        _print_json([j.to_dict() for j in found])
        return
    print_records(
        [
            {
                "id": j.id,
                "kind": j.kind,
                "status": j.status,
                "progress": _progress(j.progress_done, j.progress_total),
                "attempts": j.attempts,
                "created": j.created_at.isoformat(timespec="seconds"),
                "key": j.key,
                "message": (j.error or j.message or "")[:80],
            }
            for j in found
        ],
        "jobs",
    )


@jobs_app.command("show")
def jobs_show(ctx: typer.Context, job_id: Annotated[str, typer.Argument(help="Job id")]) -> None:
    """Everything about one job (JSON).

    Example: stockdb jobs show JOB_ID
    """
    _print_json(make_app(ctx).jobs.get(job_id).to_dict())


@jobs_app.command("cancel")
def jobs_cancel(ctx: typer.Context, job_id: Annotated[str, typer.Argument(help="Job id")]) -> None:
    """Cancel a queued job, or stop a running one at its next chunk.

    Example: stockdb jobs cancel JOB_ID
    """
    job = make_app(ctx).jobs.cancel(job_id)
    out_console().print(f"{job.id}: {job.status} ({job.message})", highlight=False)


@jobs_app.command("ingest")
def jobs_ingest(
    ctx: typer.Context,
    symbols: Annotated[list[str], typer.Argument(help="Symbols, e.g. SPY QQQ")],
    start: Annotated[str, typer.Option(help="First session date YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last session date (inclusive)")],
    provider: Annotated[str | None, typer.Option(help="synthetic or alpaca")] = None,
    replace: Annotated[
        bool, typer.Option(help="Re-fetch START..END and rewrite exactly those sessions")
    ] = False,
) -> None:
    """Queue a background backfill (a running `stockdb worker` executes it); prints its id.

    Example: stockdb jobs ingest SPY --start 2024-03-01 --end 2024-03-28
    """
    job = make_app(ctx).jobs.submit_ingest(symbols, start, end, provider, replace)
    out_console().print(f"{job.id} {job.status} {job.key}", highlight=False)


# ---- verify --------------------------------------------------------------------------------------
def verify(
    ctx: typer.Context,
    symbols: Annotated[
        list[str] | None, typer.Argument(help="Symbols to check (default: every one)")
    ] = None,
    repair: Annotated[
        bool,
        typer.Option(
            help="Move damaged files to {data}/quarantine/ (never deleted) and mark their "
            "sessions missing, so the next ingest fetches them again"
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Threads hashing files (default: every core)"),
    ] = None,
) -> None:
    """Check every bars and features partition against the checksums recorded when written.

    Prints one line per damaged or missing partition (symbol, dt, file) and exits 8 when any
    is found; with --repair, quarantines them and exits 0 once all are repaired.
    Example: stockdb verify SPY --repair
    """
    app = make_app(ctx)
    with progress_bar("verify") as update:
        report = app.verifier.check(app.clock.now(), symbols or None, update, workers)
    if repair and report.findings:
        report = app.verifier.repair(report, app.clock.now())
    out = out_console()
    for finding in report.findings:
        out.print(finding.line(), highlight=False, soft_wrap=True)
    counts = report.to_dict()
    summary = (
        f"checked {report.checked} partitions: {counts['damaged']} damaged, "
        f"{counts['missing']} missing"
    )
    if report.ok:
        out.print(f"{summary}; all intact", highlight=False)
    elif report.repaired:
        out.print(
            f"{summary}; repaired: damaged files moved to {app.settings.data_dir / 'quarantine'}, "
            "sessions marked missing (the next `stockdb ingest` or backfill fetches them again; "
            "`stockdb features build` rebuilds features)",
            highlight=False,
            soft_wrap=True,
        )
    else:
        err_console().print(
            f"error: {summary}; run `stockdb verify --repair`", highlight=False, soft_wrap=True
        )
        raise typer.Exit(8)


# ---- agents --------------------------------------------------------------------------------------
@agents_app.command("start")
def agents_start(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Agent: backfill, live or features")],
) -> None:
    """Let agent NAME take work again (persisted; workers pick it up within seconds).

    Example: stockdb agents start backfill
    """
    result = _operations(ctx).set_agent(name, True)
    out_console().print(f"agent {result['name']}: started", highlight=False)
    if result["dispatched"]:
        out_console().print(f"dispatched {result['dispatched']} parked job(s)", highlight=False)


@agents_app.command("stop")
def agents_stop(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Agent: backfill, live or features")],
) -> None:
    """Stop agent NAME: it takes no new work and checkpoints its current job.

    Example: stockdb agents stop backfill
    """
    result = _operations(ctx).set_agent(name, False)
    out_console().print(f"agent {result['name']}: stopped", highlight=False)


# ---- logs ----------------------------------------------------------------------------------------
def _log_line(row: dict[str, Any]) -> str:
    parts = [row["timestamp"] or "", f"{row['level']:<7}", row["agent"] or "-"]
    if row["symbol"]:
        parts.append(row["symbol"])
    if row["job_id"]:
        parts.append(f"job={row['job_id'][:8]}")
    parts.append(row["message"])
    if row["extra"]:
        parts.append(orjson.dumps(row["extra"], default=str).decode())
    return " ".join(parts)


def logs(
    ctx: typer.Context,
    agent: Annotated[str | None, typer.Option(help="backfill live features worker")] = None,
    symbol: Annotated[str | None, typer.Option(help="Only this symbol")] = None,
    level: Annotated[str | None, typer.Option(help="Minimum level, e.g. WARNING")] = None,
    since: Annotated[str | None, typer.Option(help="Date or RFC-3339 instant")] = None,
    limit: Annotated[int, typer.Option(help="Newest N rows")] = 100,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new rows")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Stored log records (JSON lines from every worker and agent), oldest first.

    Example: stockdb logs --agent backfill --level WARNING
    """
    from datetime import UTC, datetime

    from stockdb.obs.logquery import query_logs

    raw_since = parse_date_or_instant(since, "since")
    since_at = (
        datetime.combine(raw_since, datetime.min.time(), UTC)
        if raw_since is not None and not isinstance(raw_since, datetime)
        else raw_since
    )
    store = make_app(ctx).state

    def fetch(after: int | None) -> list[dict[str, Any]]:
        return query_logs(store, agent, symbol, level, since_at, limit, after_id=after)

    def show(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            line = orjson.dumps(row, default=str).decode() if as_json else _log_line(row)
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    rows = fetch(None)
    show(rows)
    last = rows[-1]["id"] if rows else None
    while follow:
        time.sleep(1.0)  # polling a table: there is no event to wait on
        rows = fetch(last)
        show(rows)
        if rows:
            last = rows[-1]["id"]


# ---- track ---------------------------------------------------------------------------------------
def track(
    ctx: typer.Context,
    symbols: Annotated[
        list[str] | None, typer.Argument(help="Symbols the live agent keeps current")
    ] = None,
    untrack: Annotated[bool, typer.Option("--untrack", help="Stop tracking them")] = False,
    universe: Annotated[
        str | None, typer.Option(help="Every symbol of this universe (stockdb universe)")
    ] = None,
) -> None:
    """Mark SYMBOLS (or a universe's) as tracked (or untracked) by the live agent.

    Example: stockdb track SPY QQQ
    """
    names, tracked = _operations(ctx).track(symbols, not untrack, universe)
    out_console().print(
        f"{'untracked' if untrack else 'tracking'} {', '.join(names)}; "
        f"tracked now: {', '.join(tracked) or '-'}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add worker, status, jobs, agents, logs, track and verify to the root ``stockdb`` command."""
    if getattr(app, "_stockdb_ops_registered", False):
        return
    app._stockdb_ops_registered = True  # type: ignore[attr-defined]
    app.command("worker")(worker)
    app.command("status")(status)
    app.command("logs")(logs)
    app.command("track")(track)
    app.command("verify")(verify)
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(agents_app, name="agents")
