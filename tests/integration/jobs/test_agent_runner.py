"""The agent runner: start/stop switches, heartbeats, stall detection with alert rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from stockdb.app import App
from stockdb.clock import ManualClock
from stockdb.config import Settings
from stockdb.errors import InvalidInput
from stockdb.jobs.controls import AgentControls
from stockdb.jobs.runner import AgentRunner, StepResult
from stockdb.jobs.service import JobService
from stockdb.obs.heartbeats import HeartbeatRepo
from stockdb.state import tables


class CountingAgent:
    name = "live"

    def __init__(self, fail: bool = False) -> None:
        self.steps: list[datetime] = []
        self.fail = fail

    def run_once(self, now: datetime) -> StepResult:
        self.steps.append(now)
        if self.fail:
            raise RuntimeError("provider exploded")
        return StepResult("working", "fetched 3 bars", next_in_s=60, lag_s=12.0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2024, 3, 5, 15, 0, tzinfo=UTC))


@pytest.fixture
def manual_app(settings: Settings, clock: ManualClock) -> App:
    return App(settings, clock)


def runner(app: App, agent: CountingAgent, clock: ManualClock) -> AgentRunner:
    return AgentRunner(agent, HeartbeatRepo(app.state), AgentControls(app.state), clock, "w1", 1.0)


def test_a_stopped_agent_takes_no_work(manual_app: App, clock: ManualClock) -> None:
    agent = CountingAgent()
    controls = AgentControls(manual_app.state)
    controls.set("live", False)
    r = runner(manual_app, agent, clock)
    assert r.step().state == "paused"
    assert agent.steps == []
    (view,) = HeartbeatRepo(manual_app.state).views(clock.now())
    assert (view.heartbeat.agent, view.state) == ("live", "paused")
    assert AgentControls(manual_app.state).all()["live"] is False  # persisted
    controls.set("live", True)
    assert r.step().state == "working"
    assert agent.steps == [clock.now()]
    (view,) = HeartbeatRepo(manual_app.state).views(clock.now())
    assert (view.state, view.heartbeat.lag_s, view.heartbeat.last_success) == (
        "working",
        12.0,
        clock.now(),
    )
    with pytest.raises(InvalidInput):
        controls.set("nosuch", False)


def test_a_silent_agent_is_reported_stalled_with_an_alert(
    manual_app: App, clock: ManualClock
) -> None:
    r = runner(manual_app, CountingAgent(), clock)
    r.step()
    jobs = JobService(manual_app)
    clock.advance(2.5)  # under three intervals of 1 s
    assert jobs.status()["stalled"] == []
    clock.advance(1.0)  # 3.5 s: more than three intervals
    report = jobs.status()
    (stalled,) = report["stalled"]
    assert (stalled["agent"], stalled["state"], stalled["reported_state"]) == (
        "live",
        "stalled",
        "working",
    )
    (alert,) = report["alerts"]
    assert alert["kind"] == "stalled" and "agent live on w1 is stalled" in alert["message"]
    jobs.status()  # asking again raises no second alert
    with manual_app.state.engine.connect() as conn:
        rows = conn.execute(select(tables.alerts)).fetchall()
    assert len(rows) == 1 and rows[0].resolved_at is None
    r.beat()  # it speaks again: the alert is resolved
    assert jobs.status()["alerts"] == []
    with manual_app.state.engine.connect() as conn:
        assert conn.execute(select(tables.alerts.c.resolved_at)).scalar() is not None


def test_a_failing_step_reports_error_and_keeps_last_success(
    manual_app: App, clock: ManualClock
) -> None:
    agent = CountingAgent()
    r = runner(manual_app, agent, clock)
    r.step()
    ok_at = clock.now()
    agent.fail = True
    clock.advance(60)
    result = r.step()
    assert result.state == "error" and "provider exploded" in result.message
    (view,) = HeartbeatRepo(manual_app.state).views(clock.now())
    assert view.state == "error" and view.heartbeat.last_success == ok_at
