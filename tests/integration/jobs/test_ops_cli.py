"""The ops commands through the real CLI entry point: track, agents, jobs, status, logs."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from stockdb.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ops_commands(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "track", "spy", "QQQ")
    assert code == 0 and "tracked now: QQQ, SPY" in out
    code, out, _ = run(capsys, "track", "QQQ", "--untrack")
    assert code == 0 and "tracked now: SPY" in out

    assert run(capsys, "agents", "stop", "live")[0] == 0
    code, _, err = run(capsys, "agents", "stop", "nosuch")
    assert (
        code == 2
        and err.strip() == "error: unknown agent 'nosuch': use one of backfill, live, features"
    )

    code, out, _ = run(
        capsys, "jobs", "ingest", "SPY", "--start", "2024-01-02", "--end", "2024-01-31"
    )
    job_id = out.split()[0]
    assert code == 0 and out.split()[1] == "queued"
    code, out, _ = run(
        capsys, "jobs", "ingest", "spy", "--start", "2024-01-02", "--end", "2024-01-31"
    )
    assert out.split()[0] == job_id
    code, out, _ = run(capsys, "jobs", "list", "--json")
    assert [j["id"] for j in orjson.loads(out)] == [job_id]
    code, out, _ = run(capsys, "jobs", "show", job_id)
    assert orjson.loads(out)["params"]["symbols"] == ["SPY"]
    code, out, _ = run(capsys, "jobs", "cancel", job_id)
    assert code == 0 and "cancelled" in out
    code, _, err = run(capsys, "jobs", "cancel", job_id)
    assert code == 4 and "already cancelled" in err
    assert run(capsys, "jobs", "show", "nope")[0] == 3
    assert run(capsys, "jobs", "list", "--status", "weird")[0] == 2

    code, out, _ = run(capsys, "status", "--json")
    report = orjson.loads(out)
    assert code == 0 and report["controls"]["live"] is False
    assert report["queue"]["cancelled"] == 1 and report["agents"] == []
    code, out, _ = run(capsys, "status")
    assert "no worker is running" in out and "live STOPPED" in out

    code, out, _ = run(capsys, "logs", "--json", "--level", "info")
    assert code == 0
    assert run(capsys, "logs", "--level", "loud")[0] == 2
    assert run(capsys, "logs", "--since", "yesterday")[0] == 2
