"""Reading the ``logs`` table for the CLI, the API and the dashboard."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select

from stockdb.errors import InvalidInput
from stockdb.obs.redact import Redactor
from stockdb.state import tables
from stockdb.state.store import StateStore, as_utc
from stockdb.symbols import normalize_symbol

__all__ = ["LEVELS", "MAX_LOG_LIMIT", "levels_at_or_above", "query_logs"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_LOG_LIMIT = 10_000


def levels_at_or_above(level: str) -> list[str]:
    """The level names at or above ``level``; InvalidInput for an unknown level."""
    name = level.strip().upper()
    if name == "WARN":
        name = "WARNING"
    if name not in LEVELS:
        raise InvalidInput(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")
    floor = logging.getLevelName(name)
    return [n for n in LEVELS if logging.getLevelName(n) >= floor]


def query_logs(
    store: StateStore,
    agent: str | None = None,
    symbol: str | None = None,
    level: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    after_id: int | None = None,
    job_id: str | None = None,
    redactor: Redactor | None = None,
) -> list[dict[str, Any]]:
    """The newest ``limit`` log rows matching the filters, oldest first, JSON-safe.

    ``level`` is a minimum (``WARNING`` includes errors); ``after_id`` returns only rows newer
    than that id (for ``--follow``). With a ``redactor`` (what the API serves), messages and
    extras carry no absolute paths or library traceback frames. Raises InvalidInput for a bad
    level, symbol or limit.
    """
    if not 1 <= limit <= MAX_LOG_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LOG_LIMIT}")
    if since is not None and since.tzinfo is None:
        raise InvalidInput("since must carry a timezone")
    c = tables.logs.c
    cond = []
    if agent:
        cond.append(c.agent == agent.strip().lower())
    if symbol:
        cond.append(c.symbol == normalize_symbol(symbol))
    if level:
        cond.append(c.level.in_(levels_at_or_above(level)))
    if since is not None:
        cond.append(c.ts >= since)
    if after_id is not None:
        cond.append(c.id > after_id)
    if job_id:
        cond.append(c.job_id == job_id)
    stmt = select(tables.logs).where(and_(*cond)) if cond else select(tables.logs)
    stmt = stmt.order_by(c.id.desc()).limit(limit)
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).fetchall()
    out = []
    for row in reversed(rows):
        m = row._mapping
        ts = as_utc(m["ts"])
        out.append(
            {
                "id": int(m["id"]),
                "timestamp": ts.isoformat() if ts else None,
                "level": m["level"],
                "logger": m["logger"],
                "agent": m["agent"],
                "symbol": m["symbol"],
                "stage": m["stage"],
                "job_id": m["job_id"],
                "message": m["message"],
                "extra": m["extra"] or {},
            }
        )
    if redactor is not None:
        for record in out:
            record["message"] = redactor.text(record["message"])
            record["extra"] = redactor.value(record["extra"])
    return out
