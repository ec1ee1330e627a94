"""Rules that used to live in API routes now hold from the CLI too: starting an agent
dispatches its parked jobs, and tracking registers a symbol under the default provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockdb.app import App
from stockdb.cli.main import main
from stockdb.jobs.service import JobService
from stockdb.usecases.operations import Operations, agent_state


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_cli_agent_start_dispatches_the_jobs_parked_while_it_was_stopped(
    app: App, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "agents", "stop", "backfill")
    queued = _run(capsys, "jobs", "ingest", "SPY", "--start", "2024-03-04", "--end", "2024-03-05")
    job_id = queued.split()[0]
    jobs = JobService(app)
    assert [j.id for j in jobs.repo.parked()] == [job_id]
    assert jobs.get(job_id).message == "waiting: agent backfill is stopped"
    out = _run(capsys, "agents", "start", "backfill")
    assert "agent backfill: started" in out and "dispatched 1 parked job(s)" in out
    assert jobs.repo.parked() == []  # handed to the queue, as POST /agents/backfill/start does
    assert jobs.controls.enabled("backfill")


def test_track_registers_unknown_symbols_under_the_default_provider(app: App) -> None:
    ops = Operations(app, JobService(app))
    assert ops.track(["qqq", "SPY"]) == (["QQQ", "SPY"], ["QQQ", "SPY"])
    record = app.coverage.get_symbol("QQQ")
    assert record is not None and record.provider == app.default_provider == "synthetic"
    assert ops.track(["QQQ"], tracked=False) == (["QQQ"], ["SPY"])


@pytest.mark.parametrize(
    ("enabled", "workers", "state"),
    [
        (False, [{"stalled": False, "state": "working"}], "stopped"),
        (True, [], "absent"),
        (True, [{"stalled": True, "state": "working"}], "stalled"),
        (
            True,
            [{"stalled": True, "state": "working"}, {"stalled": False, "state": "idle"}],
            "idle",
        ),
        (
            True,
            [{"stalled": False, "state": "idle"}, {"stalled": False, "state": "working"}],
            "working",
        ),
    ],
)
def test_agent_state_is_derived_from_the_switch_and_live_workers(
    enabled: bool, workers: list[dict[str, object]], state: str
) -> None:
    assert agent_state(enabled, workers) == state
