"""The Huey queue behind a small facade: one task that runs a job by id, and its consumer.

SQLite (``{data}/state/queue.sqlite``) by default; Redis when ``STOCKDB_QUEUE_URL`` is a
``redis://`` URL, with workers on any number of machines. A queue message carries only a job
id; everything else about the job lives in the state store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer, Worker

from stockdb.config import Settings
from stockdb.errors import ConfigError

__all__ = ["QUEUE_NAME", "JobQueue", "make_huey", "queue_kind"]

QUEUE_NAME = "stockdb"


def queue_kind(settings: Settings) -> str:
    """``sqlite`` or ``redis``; raises ConfigError for any other ``STOCKDB_QUEUE_URL``."""
    url = settings.queue_url
    if not url or url.startswith("sqlite:///"):
        return "sqlite"
    if settings.queue_is_redis:
        return "redis"
    raise ConfigError(
        "STOCKDB_QUEUE_URL must be redis://host:port/db or sqlite:///path (got another scheme)"
    )


def make_huey(settings: Settings) -> Huey:
    """A Huey instance for ``settings``: RedisHuey for a redis URL, else SqliteHuey.

    Raises ConfigError for an unsupported URL. Creates the SQLite file's folder if needed.
    """
    kind = queue_kind(settings)
    url = settings.queue_url
    if kind == "redis" and url:
        return RedisHuey(QUEUE_NAME, url=url, results=False, utc=True)
    path = Path(url.removeprefix("sqlite:///")) if url else settings.state_dir / "queue.sqlite"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the queue folder {path.parent}: {exc.strerror}") from exc
    return SqliteHuey(QUEUE_NAME, filename=str(path), results=False, utc=True, timeout=30)


class _WakeableWorker(Worker):  # type: ignore[misc]
    """A Huey worker whose idle sleep ends as soon as this process enqueues a message.

    Polling SQLite still finds messages from other processes within ``max_delay``; a job
    submitted in-process (the API's runtime, ``stockdb up``) starts at once instead.
    """

    wake: threading.Event
    delay: float
    default_delay: float
    max_delay: float
    backoff: float

    def sleep(self) -> None:
        if self.delay > self.max_delay:
            self.delay = self.max_delay
        if self.wake.wait(self.delay):
            self.wake.clear()
            self.delay = self.default_delay
            return
        self.delay *= self.backoff


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """Huey's consumer without process-wide signal handlers, so it can run in any thread;
    the owner (``stockdb worker``, the API) handles signals and calls ``stop()``."""

    def __init__(self, huey: Huey, wake: threading.Event, **options: Any) -> None:
        self._wake = wake
        super().__init__(huey, **options)

    def _set_signal_handlers(self) -> None:
        return None

    def _create_worker(self) -> Worker:
        worker = _WakeableWorker(
            huey=self.huey,
            stop_flag=self.stop_flag,
            default_delay=self.default_delay,
            max_delay=self.max_delay,
            backoff=self.backoff,
            max_tasks=self.max_tasks,
        )
        worker.wake = self._wake
        return worker

    def stop(self, graceful: bool = False) -> None:
        self._wake.set()  # idle workers notice the stop flag at once
        super().stop(graceful)


class JobQueue:
    """Enqueues job ids and builds consumers that hand them to ``execute``."""

    def __init__(self, huey: Huey, execute: Callable[[str], None]) -> None:
        self.huey = huey
        self._wake = threading.Event()

        def run_job(job_id: str) -> None:
            execute(job_id)

        self._task = huey.task(name="run_job")(run_job)

    @property
    def kind(self) -> str:
        return "redis" if isinstance(self.huey, RedisHuey) else "sqlite"

    def enqueue(self, job_id: str, delay_s: float = 0.0) -> None:
        """Put a message for ``job_id`` on the queue, due now or after ``delay_s`` seconds."""
        if delay_s > 0:
            self._task.schedule(args=(job_id,), delay=delay_s)
        else:
            self._task(job_id)
            self._wake.set()

    def depth(self) -> dict[str, int]:
        """Messages waiting now (``pending``) and scheduled for later (``scheduled``)."""
        return {
            "pending": int(self.huey.pending_count()),
            "scheduled": int(self.huey.scheduled_count()),
        }

    def consumer(self, workers: int = 1, poll_max_s: float = 0.2) -> Consumer:
        """A thread-based consumer with ``workers`` workers (not started)."""
        return _EmbeddedConsumer(
            self.huey,
            self._wake,
            workers=workers,
            worker_type="thread",
            periodic=False,
            initial_delay=0.02,
            backoff=1.5,
            max_delay=poll_max_s,
            scheduler_interval=1,
            check_worker_health=True,
        )

    def flush(self) -> None:
        """Drop every message (tests and benchmarks only)."""
        self.huey.flush()
