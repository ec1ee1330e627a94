"""Synthetic coverage rows for many symbols (tests and benchmarks of the symbol list)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert

from stockdb.state import tables
from stockdb.state.store import StateStore

__all__ = ["SeededCoverage", "seed_coverage"]

_STATUSES = ("complete", "complete", "complete", "partial", "empty", "error")


@dataclass(frozen=True)
class SeededCoverage:
    """What was written: coverage rows as (symbol, session, status, rows) and the damaged
    bars files as (symbol, session)."""

    coverage: list[tuple[str, date, str, int]]
    damaged: list[tuple[str, date]]


def seed_coverage(
    state: StateStore, symbols: int, sessions: int, first: date = date(2024, 1, 2)
) -> SeededCoverage:
    """``symbols`` symbols (S0000...) with ``sessions`` coverage rows each, statuses in a
    fixed rotation, and every third symbol with two damaged bars files (one session of which
    has no coverage row). Bulk inserts; ``fetched`` is a fixed instant."""
    fetched = datetime(2024, 6, 1, tzinfo=UTC)
    names = [f"S{i:04d}" for i in range(symbols)]
    days = [first + timedelta(days=k) for k in range(sessions)]
    cov: list[tuple[str, date, str, int]] = []
    damaged: list[tuple[str, date]] = []
    for i, name in enumerate(names):
        for k, day in enumerate(days):
            status = _STATUSES[(i + k) % len(_STATUSES)]
            cov.append((name, day, status, 0 if status == "empty" else 390 + (i + k) % 7))
        if i % 3 == 0:
            damaged.extend([(name, days[i % sessions]), (name, days[-1] + timedelta(days=1))])
    with state.engine.begin() as conn:
        conn.execute(
            insert(tables.symbols),
            [
                {
                    "symbol": n,
                    "provider": "synthetic",
                    "feed": "iex",
                    "tracked": i % 2 == 0,
                    "added_at": fetched,
                    "updated_at": fetched,
                }
                for i, n in enumerate(names)
            ],
        )
        conn.execute(
            insert(tables.coverage),
            [
                {
                    "symbol": s,
                    "session_date": d,
                    "rows": r,
                    "regular_rows": r,
                    "first_ts": None,
                    "last_ts": None,
                    "status": st,
                    "source": "synthetic",
                    "feed": "iex",
                    "reason": None,
                    "attempts": 1,
                    "fetched_at": fetched,
                }
                for s, d, st, r in cov
            ],
        )
        conn.execute(
            insert(tables.partition_files),
            [
                {
                    "kind": "bars",
                    "rel_path": f"{s}/{d:%Y/%m/%d}.parquet",
                    "symbol": s,
                    "session_date": d,
                    "rows": 390,
                    "size": 1,
                    "checksum": "0" * 64,
                    "status": "missing",
                    "written_at": fetched,
                }
                for s, d in damaged
            ],
        )
    return SeededCoverage(cov, damaged)
