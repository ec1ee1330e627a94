"""Fixtures for job tests: in-process runtimes that are always stopped, and condition polling."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import pytest

from stockdb.app import App
from stockdb.jobs.runtime import Runtime, RuntimeOptions, start_runtime
from stockdb.providers.retry import RetryPolicy

T = TypeVar("T")

FAST = RuntimeOptions(
    heartbeat_s=0.2,
    job_heartbeat_s=0.2,
    poll_max_s=0.05,
    control_every_s=0.0,
    retry=RetryPolicy(max_attempts=3, base_delay_s=0.05, max_delay_s=0.1),
)


def wait_for(condition: Callable[[], T], timeout_s: float = 30.0, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def runtimes(app: App) -> Iterator[Callable[..., Runtime]]:
    """``start(workers=1, agents=("backfill",), options=FAST)``; every runtime is stopped after."""
    started: list[Runtime] = []

    def start(
        workers: int = 1, agents: Sequence[str] = ("backfill",), options: RuntimeOptions = FAST
    ) -> Runtime:
        runtime = start_runtime(app, workers=workers, agents=agents, options=options)
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop(timeout_s=30)
