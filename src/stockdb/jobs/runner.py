"""The generic agent loop: a pure ``run_once(now)`` step, paced, heart-beating, switchable.

Each agent is a step function; the runner calls it when due, honours the agent's start/stop
switch (a stopped agent takes no new work and reports ``paused``), writes a heartbeat every
``interval_s`` seconds in between, logs every change of state, and survives a failing step
(reported as ``error``, retried after a back-off).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from stockdb.clock import Clock
from stockdb.jobs.controls import AgentControls
from stockdb.obs.heartbeats import AgentState, Heartbeat, HeartbeatRepo
from stockdb.obs.logging import log_context

__all__ = ["Agent", "AgentRunner", "StepResult"]

log = logging.getLogger("stockdb.agents")


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step did and when the next one is due."""

    state: AgentState = "idle"
    message: str = ""
    next_in_s: float = 60.0
    current_job: str | None = None
    progress_done: int | None = None
    progress_total: int | None = None
    lag_s: float | None = None
    success: bool = True


class Agent(Protocol):
    """A background agent: ``run_once`` does one bounded unit of work and never sleeps."""

    name: str

    def run_once(self, now: datetime) -> StepResult:
        """Do what is due at ``now``; raise only for unexpected failures."""
        ...


class AgentRunner:
    """Runs one agent in a thread (or step by step in tests via :meth:`step`)."""

    def __init__(
        self,
        agent: Agent,
        heartbeats: HeartbeatRepo,
        controls: AgentControls,
        clock: Clock,
        worker_id: str,
        interval_s: float = 5.0,
        error_backoff_s: float = 30.0,
    ) -> None:
        self.agent = agent
        self.heartbeats = heartbeats
        self.controls = controls
        self.clock = clock
        self.worker_id = worker_id
        self.interval_s = interval_s
        self.error_backoff_s = error_backoff_s
        self.last: StepResult | None = None
        self.last_success: datetime | None = None
        self.steps = 0
        self._next_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.agent.name

    def step(self) -> StepResult:
        """Run one step now (or report paused when the agent is stopped) and heart-beat."""
        now = self.clock.now()
        with log_context(agent=self.name):
            if not self.controls.enabled(self.name):
                result = StepResult(
                    "paused",
                    "stopped: takes no new work (stockdb agents start " + self.name + ")",
                    next_in_s=self.interval_s,
                )
            else:
                try:
                    result = self.agent.run_once(now)
                except Exception as exc:
                    log.exception("agent step failed", extra={"stage": "agent"})
                    result = StepResult(
                        "error",
                        f"step failed: {type(exc).__name__}: {exc}",
                        next_in_s=self.error_backoff_s,
                        success=False,
                    )
            self.steps += 1
            if result.success and result.state != "paused":
                self.last_success = now
            self._log_change(result)
            self.last = result
            self._next_at = now + timedelta(seconds=max(0.0, result.next_in_s))
            self.beat()
        return result

    def _log_change(self, result: StepResult) -> None:
        before = self.last
        if before is not None and before.state == result.state:
            return
        level = logging.WARNING if result.state == "error" else logging.INFO
        log.log(
            level,
            f"agent {self.name}: {before.state if before else 'started'} -> {result.state}",
            extra={"stage": "agent", "detail": result.message},
        )

    def beat(self) -> None:
        """Write this agent's heartbeat from the last step's result."""
        result = self.last or StepResult("idle", "starting")
        note = result.message
        if self._next_at is not None:
            note = f"{note}; next step at {self._next_at.isoformat(timespec='seconds')}"
        self.heartbeats.beat(
            Heartbeat(
                agent=self.name,
                worker=self.worker_id,
                state=result.state,
                interval_s=self.interval_s,
                updated_at=self.clock.now(),
                current_job=result.current_job,
                progress_done=result.progress_done,
                progress_total=result.progress_total,
                last_success=self.last_success,
                next_step=note[:2000],
                lag_s=result.lag_s,
            )
        )

    # ---- the thread ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"agent-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                result = self.step()
            except Exception:  # the state store itself failed: keep the thread alive
                log.exception("agent loop error", extra={"agent": self.name})
                result = StepResult("error", "heartbeat failed", next_in_s=self.error_backoff_s)
            due = time.monotonic() + max(0.0, result.next_in_s)
            while not self._stop.is_set():
                remaining = due - time.monotonic()
                if remaining <= 0 or self._stop.wait(min(self.interval_s, remaining)):
                    break
                try:
                    if result.state == "paused" and self.controls.enabled(self.name):
                        break  # started again: take work without waiting out the interval
                    self.beat()
                except Exception:
                    log.exception("heartbeat failed", extra={"agent": self.name})
