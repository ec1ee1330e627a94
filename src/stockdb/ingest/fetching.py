"""What the backfill service and the live agent share: one fetch, one coverage record.

Both fetch a multi-symbol window from a provider, validate every page and split it by
symbol, then record each stored session in the coverage ledger. Keeping the two steps here
means a change to validation or to what a ledger row holds reaches both paths at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from stockdb.bars import BAR_SCHEMA, Rejection, validate_bars
from stockdb.calendar import Session
from stockdb.lake.parquet_lake import Lineage
from stockdb.providers.base import BarSource
from stockdb.state.coverage import CoverageRecord, CoverageStatus

__all__ = ["coverage_record", "fetch_by_symbol", "regular_rows"]

log = logging.getLogger("stockdb.ingest")


def _us(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000)


def fetch_by_symbol(
    provider: BarSource,
    symbols: Sequence[str],
    lo: datetime,
    hi: datetime,
    on_rejection: Callable[[Rejection], None] | None = None,
) -> dict[str, pa.Table]:
    """Valid bars of ``symbols`` in ``[lo, hi)``, one table per symbol (empty when none).

    Every refused group of bars is logged and passed to ``on_rejection`` (to count it).
    """
    pages: dict[str, list[pa.Table]] = {s: [] for s in symbols}
    for page in provider.fetch_bars(list(symbols), lo, hi):
        checked = validate_bars(page, _us(lo), _us(hi))
        for rejection in checked.rejections:
            if on_rejection is not None:
                on_rejection(rejection)
            log.warning(
                "rejected bars",
                extra={"stage": "validate", "reason": rejection.reason, "rows": rejection.rows},
            )
        good = checked.good
        if good.num_rows == 0:
            continue
        column = good.column("symbol")
        for symbol in symbols:
            part = good.filter(pc.equal(column, symbol))
            if part.num_rows:
                pages[symbol].append(part)
    return {s: pa.concat_tables(t) if t else BAR_SCHEMA.empty_table() for s, t in pages.items()}


def regular_rows(table: pa.Table, session: Session) -> int:
    """How many of ``table``'s bars fall in the regular hours of ``session``."""
    if table.num_rows == 0:
        return 0
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    return int(((ts >= _us(session.open)) & (ts < _us(session.close))).sum())


def coverage_record(
    symbol: str,
    session: Session,
    stored: pa.Table,
    lineage: Lineage,
    status: CoverageStatus,
    reason: str | None,
    attempts: int,
    now: datetime,
) -> CoverageRecord:
    """The ledger row of one stored session: counts and first/last bar read from ``stored``."""
    ts = stored.column("ts") if stored.num_rows else None
    return CoverageRecord(
        symbol=symbol,
        session_date=session.date,
        rows=stored.num_rows,
        regular_rows=regular_rows(stored, session),
        first_ts=None if ts is None else ts[0].as_py(),
        last_ts=None if ts is None else ts[-1].as_py(),
        status=status,
        source=lineage.provider,
        feed=lineage.feed,
        reason=reason,
        attempts=attempts,
        fetched_at=now,
    )
