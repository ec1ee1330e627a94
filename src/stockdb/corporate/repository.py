"""The ``corporate_actions`` table: record actions (telling new ones apart) and read them back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from stockdb.corporate.model import CorporateAction, make_action
from stockdb.errors import StorageError
from stockdb.state import tables
from stockdb.state.store import StateStore, as_utc

__all__ = ["CorporateActionRepo", "RecordResult"]


@dataclass(slots=True)
class RecordResult:
    """What :meth:`CorporateActionRepo.record` did: actions that were new, actions whose
    ratio or cash amount changed, and how many were already known unchanged."""

    new: list[CorporateAction] = field(default_factory=list)
    changed: list[CorporateAction] = field(default_factory=list)
    unchanged: int = 0

    @property
    def fresh(self) -> list[CorporateAction]:
        """New and changed actions: the ones that alter adjusted history."""
        return [*self.new, *self.changed]


def _from_row(row: Any) -> CorporateAction:
    return make_action(
        row["symbol"],
        row["type"],
        row["ex_date"],
        row["ratio"],
        row["cash_amount"],
        row["source"],
        as_utc(row["fetched_at"]),
    )


class CorporateActionRepo:
    """Reads and writes ``corporate_actions``; every method raises StorageError when the
    database refuses the statement."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def for_symbol(self, symbol: str) -> list[CorporateAction]:
        """Every stored action of ``symbol`` (already normalised), by ex-date then type."""
        return self.for_symbols([symbol]).get(symbol, [])

    def for_symbols(self, symbols: Sequence[str]) -> dict[str, list[CorporateAction]]:
        """Stored actions of each of ``symbols`` that has any, by ex-date then type."""
        t = tables.corporate_actions
        query = (
            select(t)
            .where(t.c.symbol.in_(list(symbols)))
            .order_by(t.c.symbol, t.c.ex_date, t.c.type)
        )
        out: dict[str, list[CorporateAction]] = {}
        for row in self._rows(query):
            out.setdefault(row["symbol"], []).append(_from_row(row))
        return out

    def all(self, limit: int = 10_000) -> list[CorporateAction]:
        """Every stored action (up to ``limit``), by symbol, ex-date and type."""
        t = tables.corporate_actions
        query = select(t).order_by(t.c.symbol, t.c.ex_date, t.c.type).limit(limit)
        return [_from_row(r) for r in self._rows(query)]

    def _rows(self, query: Any) -> list[Any]:
        try:
            with self.state.engine.connect() as conn:
                return list(conn.execute(query).mappings().all())
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot read corporate actions: {exc}") from exc

    def record(self, actions: Iterable[CorporateAction], fetched_at: datetime) -> RecordResult:
        """Upsert ``actions`` in one transaction, keyed on (symbol, type, ex_date).

        An action already stored with the same ratio and cash amount is left as it is (its
        source and fetch time too), so re-fetching changes nothing; a changed one is updated.
        """
        wanted = {a.key: a for a in actions}
        result = RecordResult()
        if not wanted:
            return result
        now = fetched_at
        t = tables.corporate_actions
        symbols = sorted({k[0] for k in wanted})
        try:
            with self.state.engine.begin() as conn:
                rows = conn.execute(select(t).where(t.c.symbol.in_(symbols))).mappings().all()
                known = {(r["symbol"], r["type"], r["ex_date"]): _from_row(r) for r in rows}
                writes = []
                for key, action in sorted(wanted.items()):
                    old = known.get(key)
                    if old is not None and old.same_terms(action):
                        result.unchanged += 1
                        continue
                    (result.new if old is None else result.changed).append(action)
                    writes.append(
                        {
                            "symbol": action.symbol,
                            "type": action.type,
                            "ex_date": action.ex_date,
                            "ratio": action.ratio,
                            "cash_amount": action.cash,
                            "source": action.source,
                            "fetched_at": action.fetched_at or now,
                        }
                    )
                for start in range(0, len(writes), 500):
                    self.state.upsert(
                        conn, t, writes[start : start + 500], keys=["symbol", "type", "ex_date"]
                    )
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot record corporate actions: {exc}") from exc
        return result
