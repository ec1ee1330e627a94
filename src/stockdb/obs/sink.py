"""The state-store log sink: a non-blocking handler, a batching writer thread, bounded retention.

Logging threads only format the record and drop it on a bounded queue (never waiting on the
database); one writer thread inserts batches into ``logs`` and prunes old rows, so the table
stays bounded by both row count and age.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from stockdb.obs.logging import CONTEXT_FIELDS, Scrubber, record_fields
from stockdb.state import tables
from stockdb.state.store import StateStore

__all__ = ["StateLogSink", "log_row", "prune_logs"]

_LIMITS = {"logger": 100, "agent": 32, "symbol": 16, "stage": 32, "job_id": 36, "level": 10}
_STOP = object()


def _clip(value: Any, size: int) -> str | None:
    return None if value is None else str(value)[:size]


def log_row(fields: dict[str, Any]) -> dict[str, Any]:
    """The ``logs`` row for one formatted record (extras go to the JSON ``extra`` column)."""
    named = {"timestamp", "level", "logger", "message", *CONTEXT_FIELDS}
    extra = {k: v for k, v in fields.items() if k not in named}
    return {
        "ts": datetime.fromisoformat(fields["timestamp"]),
        "level": _clip(fields["level"], _LIMITS["level"]),
        "logger": _clip(fields.get("logger"), _LIMITS["logger"]),
        "agent": _clip(fields.get("agent"), _LIMITS["agent"]),
        "symbol": _clip(fields.get("symbol"), _LIMITS["symbol"]),
        "stage": _clip(fields.get("stage"), _LIMITS["stage"]),
        "job_id": _clip(fields.get("job_id"), _LIMITS["job_id"]),
        "message": str(fields["message"]),
        "extra": orjson.loads(orjson.dumps(extra, default=str)) if extra else None,
    }


def prune_logs(store: StateStore, keep_rows: int, keep_days: float, now: datetime) -> int:
    """Delete log rows beyond the newest ``keep_rows`` or older than ``keep_days``."""
    c = tables.logs.c
    with store.engine.begin() as conn:
        newest = conn.execute(select(func.max(c.id))).scalar()
        if newest is None:
            return 0
        cutoff = now - timedelta(days=keep_days)
        result = conn.execute(
            delete(tables.logs).where((c.id <= int(newest) - keep_rows) | (c.ts < cutoff))
        )
        return int(result.rowcount or 0)


class _FieldsHandler(logging.handlers.QueueHandler):
    """Formats in the caller's thread (its log context) and enqueues without blocking."""

    def __init__(self, sink: StateLogSink) -> None:
        super().__init__(sink.queue)
        self.sink = sink

    def prepare(self, record: logging.LogRecord) -> Any:
        return record_fields(record, self.sink.scrubber, self.sink.agent)

    def enqueue(self, record: Any) -> None:
        with self.sink.pending:
            try:
                self.sink.queue.put_nowait(record)
            except queue.Full:
                self.sink.dropped += 1
                return
            self.sink.unwritten += 1

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("sqlalchemy"):
            return  # the sink's own database chatter would feed back into itself
        try:
            self.enqueue(self.prepare(record))
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


class StateLogSink:
    """Batches formatted records into the ``logs`` table from one writer thread."""

    def __init__(
        self,
        store: StateStore,
        scrubber: Scrubber,
        agent: str | None = None,
        batch_size: int = 500,
        flush_s: float = 0.25,
        keep_rows: int = 200_000,
        keep_days: float = 14.0,
        prune_every_s: float = 60.0,
        max_queue: int = 20_000,
    ) -> None:
        self.store = store
        self.scrubber = scrubber
        self.agent = agent
        self.batch_size = batch_size
        self.flush_s = flush_s
        self.keep_rows = keep_rows
        self.keep_days = keep_days
        self.prune_every_s = prune_every_s
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self.dropped = 0
        self.written = 0
        self.unwritten = 0
        self.pending = threading.Condition()
        self.handler = _FieldsHandler(self)
        self._thread = threading.Thread(target=self._run, name="stockdb-log-sink", daemon=True)
        self._thread.start()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Block until every record queued so far is written (True) or ``timeout_s`` passes."""
        with self.pending:
            return self.pending.wait_for(lambda: self.unwritten == 0, timeout_s)

    def close(self) -> None:
        """Write what is queued, stop the writer thread and release the engine."""
        if self._thread.is_alive():
            self.queue.put(_STOP)
            self._thread.join(timeout=15)
        self.store.dispose()

    def _run(self) -> None:
        last_prune = time.monotonic()
        stopping = False
        while not stopping:
            item = self.queue.get()
            batch: list[dict[str, Any]] = []
            deadline = time.monotonic() + self.flush_s
            while True:
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
                if len(batch) >= self.batch_size:
                    break
                try:
                    item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            self._write(batch)
            with self.pending:
                self.unwritten -= len(batch)
                self.pending.notify_all()
            if time.monotonic() - last_prune >= self.prune_every_s:
                last_prune = time.monotonic()
                self._prune()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        try:
            rows = [log_row(fields) for fields in batch]
            with self.store.engine.begin() as conn:
                conn.execute(insert(tables.logs), rows)
            self.written += len(rows)
        except (SQLAlchemyError, ValueError, TypeError) as exc:
            # Cannot log this through logging (it would come back here): say it once on stderr.
            print(f"stockdb: could not store {len(batch)} log records: {exc}", file=sys.stderr)

    def _prune(self) -> None:
        try:
            prune_logs(self.store, self.keep_rows, self.keep_days, self.store.clock.now())
        except SQLAlchemyError as exc:
            print(f"stockdb: could not prune logs: {exc}", file=sys.stderr)
