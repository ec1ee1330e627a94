"""Ingest through every entry point (CLI, REST API + its job, Python client, a queued job
without dates) gives the same default range and the same corporate-action sync."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import pytest

from stockdb.app import App
from stockdb.calendar import TradingCalendar
from stockdb.cli.main import main
from stockdb.client import StockDB
from stockdb.config import Settings
from stockdb.corporate.model import CorporateAction
from stockdb.corporate.service import LOOKAHEAD
from stockdb.corporate.synthetic import SyntheticActionSource
from stockdb.jobs.service import JobService
from stockdb.usecases.ingest import DEFAULT_SESSIONS, default_range

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from stockdb.api import create_app

SYMBOL = "SPY"
Range = tuple[date, date]


def _app(path: Path, calendar: TradingCalendar) -> App:
    app = App(Settings(data_dir=path), calendar=calendar)
    return app


def _via_cli(
    symbol: str, path: Path, calendar: TradingCalendar, capsys: pytest.CaptureFixture[str]
) -> str:
    code = main(["ingest", symbol])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "SYNTHETIC" in err  # the notice, said before fetching
    return out


def _via_api(
    symbol: str, path: Path, calendar: TradingCalendar, capsys: pytest.CaptureFixture[str]
) -> str:
    app = _app(path, calendar)
    try:
        with TestClient(create_app(app=app, run_runtime=False)) as client:
            answer = client.post(f"/ingest/{symbol}")
            assert answer.status_code == 202, answer.text
            job_id = answer.json()["id"]
        jobs = JobService(app)
        jobs.execute(job_id)
        job = jobs.get(job_id)
        assert job.status == "succeeded", job.error
        assert job.result is not None and "SYNTHETIC" in str(job.result["notice"])
        return str(job.result)
    finally:
        app.close()


def _via_python(
    symbol: str, path: Path, calendar: TradingCalendar, capsys: pytest.CaptureFixture[str]
) -> str:
    with StockDB(_app(path, calendar)) as db:  # what open_db(path) builds, with the calendar
        return str(db.ingest(symbol))


def _via_job(
    symbol: str, path: Path, calendar: TradingCalendar, capsys: pytest.CaptureFixture[str]
) -> str:
    app = _app(path, calendar)
    try:
        jobs = JobService(app)
        job = jobs.submit("ingest", "ingest:no-dates", {"symbols": [symbol]})
        jobs.execute(job.id)
        done = jobs.get(job.id)
        assert done.status == "succeeded", done.error
        return str(done.result)
    finally:
        app.close()


ENTRY_POINTS: dict[str, Callable[[str, Path, TradingCalendar, pytest.CaptureFixture[str]], str]] = {
    "cli": _via_cli,
    "api": _via_api,
    "python": _via_python,
    "job": _via_job,
}


def _sessions(symbol: str, path: Path, calendar: TradingCalendar) -> list[date]:
    app = _app(path, calendar)
    try:
        return sorted(app.coverage.sessions(symbol, date(2000, 1, 1), date(2100, 1, 1)))
    finally:
        app.close()


def test_every_entry_point_ingests_the_same_default_range_and_actions(
    tmp_path: Path,
    calendar: TradingCalendar,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    data_dir: Path,
) -> None:
    asked: list[tuple[list[str], date, date]] = []
    fetch = SyntheticActionSource.fetch_actions

    def recording(
        self: SyntheticActionSource, symbols: Sequence[str], start: date, end: date
    ) -> list[CorporateAction]:
        asked.append((list(symbols), start, end))
        return fetch(self, symbols, start, end)

    monkeypatch.setattr(SyntheticActionSource, "fetch_actions", recording)
    results: dict[str, tuple[Range, list[date], list[tuple[list[str], date, date]]]] = {}
    for name, ingest in ENTRY_POINTS.items():
        path = tmp_path / name
        monkeypatch.setenv("STOCKDB_DATA_DIR", str(path))
        probe = _app(path, calendar)
        before = default_range(calendar, probe.clock.now(), None, None)
        asked.clear()
        ingest(SYMBOL, path, calendar, capsys)
        after = default_range(calendar, probe.clock.now(), None, None)
        sessions = _sessions(SYMBOL, path, calendar)
        expected = before if sessions and sessions[-1] == before[1] else after
        horizon = probe.corporate.as_of() + LOOKAHEAD
        results[name] = (expected, sessions, [(s, a, min(b, horizon)) for s, a, b in asked])

    for name, (expected, sessions, calls) in results.items():
        start, end = expected
        wanted = [s.date for s in calendar.sessions(start, end)]
        assert len(wanted) == DEFAULT_SESSIONS
        assert sessions == wanted, name  # the latest five sessions, nothing else
        # one corporate-action sync of the symbol from the first session on
        assert [(symbols, first) for symbols, first, _ in calls] == [([SYMBOL], start)], name
    assert len({repr(calls) for _, _, calls in results.values()}) == 1  # the same end too
