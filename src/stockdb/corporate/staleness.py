"""Marking what a new corporate action invalidates: models whose data include a bar of the
symbol before the ex-date, their simulations, and simulations that traded such a bar (plain
SQL on ``models``/``simulations``).

An action with ex-date ``E`` adjusts only bars that start before 00:00 New York time on
``E``. Features look back, though: a 200-bar SMA or an EMA (whose weights decay below 1e-12
only after ~360 bars) of a bar after ``E`` still reads bars before it. So a model is touched
when its data (training, validation and test windows) begin before the end of the look-back
after ``E``: :data:`LOOKBACK_SESSIONS` sessions from ``E`` on, for the coarsest timeframe its
features come from (``rsi_14_1Day`` reaches 400 sessions on). A simulation is touched when
its first bar is, with its model's features, or when its model is. A row whose window is
unknown is treated as touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from stockdb.calendar import TradingCalendar
from stockdb.corporate.adjust import ex_cutoff_us
from stockdb.errors import StorageError
from stockdb.state import tables
from stockdb.state.store import StateStore

__all__ = [
    "LOOKBACK_SESSIONS",
    "StaleMarks",
    "affected_until",
    "data_start",
    "has_feature_partitions",
    "mark_stale",
    "stale_rows",
    "touches",
]


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


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def data_start(windows: object) -> datetime | None:
    """The earliest ``start`` of a model's ``windows`` (train, validation, test), or a
    simulation's ``first_ts``/``start`` params; None when unknown."""
    if not isinstance(windows, Mapping):
        return None
    starts = [_instant(windows.get("first_ts")), _instant(windows.get("start"))]
    starts += [_instant(w.get("start")) for w in windows.values() if isinstance(w, Mapping)]
    known = [s for s in starts if s is not None]
    return min(known, default=None)


LOOKBACK_SESSIONS: dict[str, int] = {"1Min": 2, "5Min": 6, "15Min": 16, "1Hour": 58, "1Day": 400}
"""Sessions from an ex-date on whose features may still read a bar before it: 400 bars (the
longest warm-up, 200, and the EMA convergence, ~360) of the timeframe, counted at its
regular-session bars (390, 78, 26, 7, 1), rounded up, plus one for a sparse feed."""


def affected_until(calendar: TradingCalendar, ex_date: date, features: Sequence[str]) -> int:
    """The instant (epoch us) from which data no longer read, directly or through the
    look-back of ``features``, a bar adjusted by an action with ``ex_date``."""
    from stockdb.training.dataset import timeframes_of  # pandas, only when marking

    frames = timeframes_of(list(features))
    sessions = LOOKBACK_SESSIONS[frames[-1] if frames else "1Min"]
    first, _ = calendar.index_range(ex_date, ex_date)
    position = first + sessions
    if position >= calendar.extended_open_us.size:
        return int(np.iinfo(np.int64).max)
    return max(int(calendar.extended_open_us[position]), ex_cutoff_us(ex_date))


def touches(until_us: int, start: datetime | None) -> bool:
    """Whether data beginning at ``start`` (None: unknown) begin before ``until_us``."""
    if start is None:
        return True
    return int(start.timestamp() * 1_000_000) < until_us


def mark_stale(
    state: StateStore, touched: Mapping[str, date], calendar: TradingCalendar
) -> StaleMarks:
    """In one transaction mark ``stale=true``: ``models`` with a ticker ``T`` in ``touched``
    (the latest ex-date of ``T``'s new actions that adjust stored bars) whose data begin
    before that date's :func:`affected_until`, the ``simulations`` of those models, and
    simulations of such a ticker whose first bar is before it (with their model's features;
    every timeframe when the model is gone). Returns the ids that were not stale before.
    Raises StorageError."""
    wanted = {s.upper(): d for s, d in touched.items()}
    marks = StaleMarks()
    if not wanted:
        return marks
    m, s = tables.models, tables.simulations
    try:
        with state.engine.begin() as conn:
            rows = conn.execute(
                select(m.c.id, m.c.tickers, m.c.windows, m.c.features, m.c.stale)
            ).all()
            features = {r.id: list(r.features or []) for r in rows}

            def until(symbol: str, model_id: str) -> int:
                names = features.get(model_id, ["close_1Day"])  # a deleted model: widest
                return affected_until(calendar, wanted[symbol], names)

            hit = sorted(
                r.id
                for r in rows
                if any(
                    touches(until(t, r.id), data_start(r.windows))
                    for t in _tickers(r.tickers) & set(wanted)
                )
            )
            marks.models = sorted(r.id for r in rows if r.id in set(hit) and not r.stale)
            if hit:
                conn.execute(update(m).where(m.c.id.in_(hit)).values(stale=True))
            candidates = conn.execute(
                select(s.c.id, s.c.symbol, s.c.model_id, s.c.params, s.c.stale).where(
                    or_(s.c.symbol.in_(sorted(wanted)), s.c.model_id.in_(hit))
                )
            ).all()
            sims = sorted(
                r.id
                for r in candidates
                if r.model_id in set(hit)
                or touches(until(r.symbol.upper(), r.model_id), data_start(r.params))
            )
            marks.simulations = sorted(
                r.id for r in candidates if r.id in set(sims) and not r.stale
            )
            if sims:
                conn.execute(update(s).where(s.c.id.in_(sims)).values(stale=True))
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
