"""Marking what a new corporate action invalidates: models trained on the symbol, their
simulations and simulations run on the symbol (plain SQL on ``models``/``simulations``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from stockdb.errors import StorageError
from stockdb.state import tables
from stockdb.state.store import StateStore

__all__ = ["StaleMarks", "has_feature_partitions", "mark_stale", "stale_rows"]


@dataclass(slots=True)
class StaleMarks:
    """Rows newly marked stale (ids), per table."""

    models: list[str] = field(default_factory=list)
    simulations: list[str] = field(default_factory=list)


def _tickers(value: object) -> set[str]:
    if isinstance(value, list | tuple):
        return {str(t).upper() for t in value}
    if isinstance(value, str):
        return {value.upper()}
    return set()


def mark_stale(state: StateStore, symbols: Iterable[str]) -> StaleMarks:
    """In one transaction: ``models`` whose tickers include any of ``symbols`` get
    ``stale=true``, and so do ``simulations`` of those models or run on those symbols.
    Returns the ids that were not stale before. Raises StorageError."""
    wanted = {s.upper() for s in symbols}
    marks = StaleMarks()
    if not wanted:
        return marks
    m, s = tables.models, tables.simulations
    try:
        with state.engine.begin() as conn:
            rows = conn.execute(select(m.c.id, m.c.tickers, m.c.stale)).all()
            hit = sorted(r.id for r in rows if _tickers(r.tickers) & wanted)
            marks.models = sorted(r.id for r in rows if r.id in set(hit) and not r.stale)
            if hit:
                conn.execute(update(m).where(m.c.id.in_(hit)).values(stale=True))
            which = or_(s.c.symbol.in_(sorted(wanted)), s.c.model_id.in_(hit))
            sims = conn.execute(select(s.c.id).where(which, s.c.stale.is_(False))).all()
            marks.simulations = sorted(r.id for r in sims)
            conn.execute(update(s).where(which).values(stale=True))
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot mark models and simulations stale: {exc}") from exc
    return marks


def has_feature_partitions(state: StateStore, symbol: str) -> bool:
    """Whether any feature partition of ``symbol`` was ever built (recorded)."""
    t = tables.feature_partitions
    try:
        with state.engine.connect() as conn:
            row = conn.execute(select(t.c.symbol).where(t.c.symbol == symbol).limit(1)).first()
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read feature records: {exc}") from exc
    return row is not None


def stale_rows(state: StateStore, symbol: str) -> StaleMarks:
    """Ids of the stale models trained on ``symbol`` and of stale simulations of those
    models or run on ``symbol``. Raises StorageError."""
    m, s = tables.models, tables.simulations
    wanted = symbol.upper()
    try:
        with state.engine.connect() as conn:
            rows = conn.execute(select(m.c.id, m.c.tickers).where(m.c.stale.is_(True))).all()
            models = sorted(r.id for r in rows if wanted in _tickers(r.tickers))
            which = or_(s.c.symbol == wanted, s.c.model_id.in_(models))
            sims = conn.execute(select(s.c.id).where(which, s.c.stale.is_(True))).all()
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read models and simulations: {exc}") from exc
    return StaleMarks(models, sorted(r.id for r in sims))
