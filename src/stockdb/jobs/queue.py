"""The Huey queue behind a small facade: one task that runs a job by id, and its consumers.

SQLite (``{data}/state/queue.sqlite``) by default; Redis when ``STOCKDB_QUEUE_URL`` is a
``redis://`` URL, with workers on any number of machines. A queue message carries only a job
id; everything else about the job lives in the state store.

Jobs travel in two lanes, each its own Huey queue with its own consumer threads: ``io``
(ingest, noop, everything that waits on the network or disk) and ``cpu`` (train, simulate,
feature builds, rollup rebuilds). A long model fit never holds a thread that an ingest is
waiting for.
On SQLite, enqueueing wakes idle consumers of other processes through :mod:`.wake`; Redis
consumers block on the list and wake by themselves.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer, Worker
from huey.storage import SqliteStorage

from stockdb.config import Settings
from stockdb.errors import ConfigError
from stockdb.jobs.wake import WakeChannel, WakeListener

__all__ = ["CPU_KINDS", "LANES", "QUEUE_NAME", "JobQueue", "lane_of", "make_huey", "queue_kind"]

QUEUE_NAME = "stockdb"
LANES = ("io", "cpu")
CPU_KINDS = frozenset({"train", "simulate", "features", "rollups"})


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


def lane_of(kind: str) -> str:
    """The lane a job of ``kind`` travels in: ``cpu`` for CPU-heavy kinds, else ``io``."""
    return "cpu" if kind in CPU_KINDS else "io"


def _queue_name(lane: str) -> str:
    return QUEUE_NAME if lane == "io" else f"{QUEUE_NAME}-{lane}"


def sqlite_queue_path(settings: Settings) -> Path:
    url = settings.queue_url
    return Path(url.removeprefix("sqlite:///")) if url else settings.state_dir / "queue.sqlite"


def make_huey(settings: Settings, lane: str = "io") -> Huey:
    """A Huey instance of ``lane`` for ``settings``: RedisHuey for a redis URL, else SqliteHuey.

    Raises ConfigError for an unsupported URL. Creates the SQLite file's folder if needed.
    """
    kind = queue_kind(settings)
    url = settings.queue_url
    if kind == "redis" and url:
        return _RedisHuey(_queue_name(lane), url=url, results=False, utc=True)
    path = sqlite_queue_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the queue folder {path.parent}: {exc.strerror}") from exc
    return _SqliteHuey(
        _queue_name(lane),
        filename=str(path),
        results=False,
        utc=True,
        timeout=30,
        storage_class=_SqliteStorage,
    )


def _never_revoked(self: Huey, *args: object, **kwargs: object) -> bool:
    return False


def _delete_unless_revocation(self: Huey, key: str) -> bool:
    if key.startswith("r:"):  # the revocation flag Huey clears after every task: never set
        return False
    return bool(self.storage.delete_data(key))


def _revocation_unsupported(self: Huey, *args: object, **kwargs: object) -> None:
    raise NotImplementedError("stockdb jobs are cancelled in the jobs table, not revoked")


class _SqliteHuey(SqliteHuey):  # type: ignore[misc]
    """SqliteHuey without revocation, which stockdb never uses (a job is cancelled in the
    ``jobs`` table): Huey would otherwise look up a revocation flag before every task and
    delete it after, two more transactions on the queue file per job (two more round trips
    to Redis)."""

    is_revoked = _never_revoked
    delete = _delete_unless_revocation
    revoke = revoke_all = _revocation_unsupported


class _RedisHuey(RedisHuey):  # type: ignore[misc]
    """RedisHuey without revocation (see :class:`_SqliteHuey`)."""

    is_revoked = _never_revoked
    delete = _delete_unless_revocation
    revoke = revoke_all = _revocation_unsupported


class _SqliteStorage(SqliteStorage):  # type: ignore[misc]
    """Huey's SQLite storage in WAL mode with ``synchronous=NORMAL``, like the state store.

    Huey's default (FULL) syncs the disk on every enqueue and dequeue, about 13 ms each on a
    virtual disk: the largest fixed cost of a job. In WAL mode NORMAL still survives a crash
    of any process; only an operating-system crash can lose the last messages, and the state
    store (same setting) is the record of every job.
    """

    def _create_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn

    def initialize_schema(self) -> None:
        # Huey closes the connection after creating its tables, so the first enqueue of a
        # process (a CLI submitting one job) would open it again: keep it instead.
        with self.db(commit=True) as curs:
            for sql in self.ddl:
                curs.execute(sql)


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
    """Enqueues job ids in their lane and builds consumers that hand them to ``execute``."""

    def __init__(
        self,
        hueys: Mapping[str, Huey],
        execute: Callable[[str], None],
        wake: WakeChannel | None = None,
    ) -> None:
        self.hueys = dict(hueys)
        self._wake = {lane: threading.Event() for lane in self.hueys}
        self._channel = wake
        self._listeners: list[WakeListener] = []

        def run_job(job_id: str) -> None:
            execute(job_id)

        self._tasks = {lane: h.task(name="run_job")(run_job) for lane, h in self.hueys.items()}

    @classmethod
    def open(cls, settings: Settings, execute: Callable[[str], None]) -> JobQueue:
        """Every lane of the queue ``settings`` names (ConfigError for a bad URL)."""
        hueys = {lane: make_huey(settings, lane) for lane in LANES}
        channel = None
        if queue_kind(settings) == "sqlite":
            path = sqlite_queue_path(settings)
            channel = WakeChannel(path.with_name(path.name + ".wake"))
        return cls(hueys, execute, channel)

    @property
    def huey(self) -> Huey:
        """The ``io`` lane's Huey."""
        return self.hueys["io"]

    @property
    def kind(self) -> str:
        return "redis" if isinstance(self.huey, RedisHuey) else "sqlite"

    def enqueue(self, job_id: str, delay_s: float = 0.0, kind: str = "") -> None:
        """Put a message for ``job_id`` (a job of ``kind``) in its lane, due now or after
        ``delay_s`` seconds; wakes idle consumers of that lane here and in other processes."""
        lane = lane_of(kind)
        task = self._tasks[lane]
        if delay_s > 0:
            task.schedule(args=(job_id,), delay=delay_s)
            return
        task(job_id)
        # Other processes first: waking a consumer thread of this one hands it the GIL,
        # which would hold this notification back behind the job's start.
        if self._channel is not None:
            self._channel.notify(lane)
        self._wake[lane].set()

    def depth(self) -> dict[str, int]:
        """Messages waiting now (``pending``) and scheduled for later (``scheduled``)."""
        return {
            "pending": sum(int(h.pending_count()) for h in self.hueys.values()),
            "scheduled": sum(int(h.scheduled_count()) for h in self.hueys.values()),
        }

    def consumers(
        self, workers: int = 1, cpu_workers: int = 1, poll_max_s: float = 0.2
    ) -> list[Consumer]:
        """Thread-based consumers (not started): ``workers`` threads on the ``io`` lane and
        ``cpu_workers`` on the ``cpu`` lane; starts listening for cross-process wake-ups."""
        counts = {"io": workers, "cpu": cpu_workers}
        found: list[Consumer] = []
        for lane, huey in self.hueys.items():
            if counts.get(lane, 0) < 1:
                continue
            if self._channel is not None:
                listener = self._channel.listen(lane, self._wake[lane])
                if listener is not None:
                    self._listeners.append(listener)
            found.append(
                _EmbeddedConsumer(
                    huey,
                    self._wake[lane],
                    workers=counts[lane],
                    worker_type="thread",
                    periodic=False,
                    initial_delay=0.02,
                    backoff=1.5,
                    max_delay=poll_max_s,
                    scheduler_interval=1,
                    check_worker_health=True,
                )
            )
        return found

    def consumer(self, workers: int = 1, poll_max_s: float = 0.2) -> Consumer:
        """One consumer of the ``io`` lane only (``workers`` threads, not started)."""
        return self.consumers(workers, 0, poll_max_s)[0]

    def close(self) -> None:
        """Stop listening for wake-ups (consumers are stopped by their owner)."""
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()

    def flush(self) -> None:
        """Drop every message of every lane (tests and benchmarks only)."""
        for huey in self.hueys.values():
            huey.flush()
