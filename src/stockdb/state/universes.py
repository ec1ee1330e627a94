"""Universe rows in the state store: named, ordered symbol lists (one transaction per change)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from stockdb.errors import Conflict, InvalidInput, NotFound
from stockdb.state import tables
from stockdb.state.store import StateStore, as_utc

__all__ = ["Universe", "UniverseRepo"]


@dataclass(frozen=True, slots=True)
class Universe:
    """A universe: its name, where its symbols came from, and the symbols in order."""

    name: str
    source: str
    symbols: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "source": self.source,
            "count": len(self.symbols),
            "symbols": list(self.symbols),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class UniverseRepo:
    """Reads and writes ``universes`` and ``universe_members``; names and symbols arrive
    validated (:mod:`stockdb.usecases.universe` does that)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._u = tables.universes
        self._m = tables.universe_members

    # ---- reads ---------------------------------------------------------------------------
    def _header(self, conn: Connection, name: str) -> tuple[str, datetime, datetime]:
        row = conn.execute(select(self._u).where(self._u.c.name == name)).first()
        if row is None:
            raise NotFound(f"no universe named {name!r}: see `stockdb universe list`")
        created, updated = as_utc(row.created_at), as_utc(row.updated_at)
        assert created is not None and updated is not None
        return row.source, created, updated

    def _members(self, conn: Connection, name: str) -> tuple[str, ...]:
        rows = conn.execute(
            select(self._m.c.symbol)
            .where(self._m.c.universe == name)
            .order_by(self._m.c.position, self._m.c.symbol)
        )
        return tuple(r.symbol for r in rows)

    def _load(self, conn: Connection, name: str) -> Universe:
        source, created, updated = self._header(conn, name)
        return Universe(name, source, self._members(conn, name), created, updated)

    def get(self, name: str) -> Universe:
        """The universe ``name``; raises NotFound."""
        with self.store.engine.connect() as conn:
            return self._load(conn, name)

    def all(self) -> list[Universe]:
        """Every universe, by name."""
        with self.store.engine.connect() as conn:
            names = conn.execute(select(self._u.c.name).order_by(self._u.c.name)).scalars()
            return [self._load(conn, n) for n in list(names)]

    # ---- writes --------------------------------------------------------------------------
    def _append(self, conn: Connection, name: str, symbols: Sequence[str]) -> None:
        top = conn.execute(
            select(func.max(self._m.c.position)).where(self._m.c.universe == name)
        ).scalar()
        base = -1 if top is None else int(top)
        rows = [
            {"universe": name, "symbol": s, "position": base + 1 + i} for i, s in enumerate(symbols)
        ]
        if rows:
            conn.execute(insert(self._m), rows)

    def create(
        self, name: str, symbols: Sequence[str], source: str, now: datetime, replace: bool
    ) -> Universe:
        """Store a new universe (``replace``: overwrite one of that name); Conflict when it
        exists and ``replace`` is false."""
        with self.store.engine.begin() as conn:
            exists = conn.execute(select(self._u.c.name).where(self._u.c.name == name)).first()
            if exists is not None and not replace:
                raise Conflict(
                    f"universe {name!r} exists: use `stockdb universe add`, or --replace"
                )
            if exists is not None:
                conn.execute(delete(self._m).where(self._m.c.universe == name))
                conn.execute(
                    update(self._u)
                    .where(self._u.c.name == name)
                    .values(source=source, updated_at=now)
                )
            else:
                conn.execute(
                    insert(self._u).values(name=name, source=source, created_at=now, updated_at=now)
                )
            self._append(conn, name, symbols)
            return self._load(conn, name)

    def add(self, name: str, symbols: Sequence[str], now: datetime) -> Universe:
        """Append the ``symbols`` not already members (order kept); NotFound for no universe."""
        with self.store.engine.begin() as conn:
            self._header(conn, name)
            present = set(self._members(conn, name))
            self._append(conn, name, [s for s in symbols if s not in present])
            conn.execute(update(self._u).where(self._u.c.name == name).values(updated_at=now))
            return self._load(conn, name)

    def remove(self, name: str, symbols: Sequence[str], now: datetime) -> Universe:
        """Drop ``symbols``; InvalidInput naming those that are not members (nothing removed)."""
        with self.store.engine.begin() as conn:
            self._header(conn, name)
            present = set(self._members(conn, name))
            absent = [s for s in symbols if s not in present]
            if absent:
                raise InvalidInput(f"not in universe {name!r}: {', '.join(absent)}")
            conn.execute(
                delete(self._m).where(
                    self._m.c.universe == name, self._m.c.symbol.in_(list(symbols))
                )
            )
            conn.execute(update(self._u).where(self._u.c.name == name).values(updated_at=now))
            return self._load(conn, name)

    def delete(self, name: str) -> None:
        """Forget the universe (its symbols' data stays); NotFound when there is none."""
        with self.store.engine.begin() as conn:
            self._header(conn, name)
            conn.execute(delete(self._m).where(self._m.c.universe == name))
            conn.execute(delete(self._u).where(self._u.c.name == name))
