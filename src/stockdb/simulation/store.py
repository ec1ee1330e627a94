"""The simulation store: stored backtests, their ``simulations`` rows and result files.

The one owner of a simulation's results, as :class:`~stockdb.training.registry.ModelRegistry`
is of a model's: the service saves through it, and the API, the CLI, the Python client and
the tearsheet read the equity curve and the trades through it, never the Parquet files.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import RowMapping

from stockdb.errors import Conflict, InvalidInput, NotFound, StorageError
from stockdb.lake.atomic import atomic_write_parquet
from stockdb.state import tables
from stockdb.state.store import StateStore, as_utc
from stockdb.training.registry import check_model_id

__all__ = ["OVERLAP_WARNING", "SimulationRecord", "SimulationStore", "check_simulation_id"]

OVERLAP_WARNING = "the simulated window overlaps the model's training window"
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_EQUITY, _TRADES = "equity.parquet", "trades.parquet"


def check_simulation_id(simulation_id: str) -> str:
    """``simulation_id`` unchanged; InvalidInput when it cannot name a stored simulation."""
    if not _ID_PATTERN.fullmatch(simulation_id):
        raise InvalidInput(f"invalid simulation id {simulation_id[:70]!r}")
    return simulation_id


@dataclass(frozen=True)
class SimulationRecord:
    """A stored simulation: its ``simulations`` row as a value."""

    id: str
    model_id: str
    symbol: str
    created_at: datetime
    params: dict[str, Any]
    metrics: dict[str, Any]
    benchmark_metrics: dict[str, Any]
    overlaps_training: bool
    equity_path: str
    trades_path: str
    stale: bool = False
    warnings: tuple[str, ...] = field(default=())


def _record(row: RowMapping) -> SimulationRecord:
    created = as_utc(row["created_at"])
    assert created is not None
    overlap = bool(row["overlaps_training"])
    return SimulationRecord(
        id=row["id"],
        model_id=row["model_id"],
        symbol=row["symbol"],
        created_at=created,
        params=dict(row["params"] or {}),
        metrics=dict(row["metrics"] or {}),
        benchmark_metrics=dict(row["benchmark_metrics"] or {}),
        overlaps_training=overlap,
        equity_path=row["equity_path"],
        trades_path=row["trades_path"],
        stale=bool(row["stale"]),
        warnings=(OVERLAP_WARNING,) if overlap else (),
    )


class SimulationStore:
    """Saves, lists, reads and deletes stored simulations under ``root``."""

    def __init__(self, state: StateStore, root: Path) -> None:
        self.state = state
        self.root = root

    def save(self, row: dict[str, Any], equity: pa.Table, trades: pa.Table) -> SimulationRecord:
        """Write the curve and the trades, then the row; all or nothing.

        ``row`` holds the ``simulations`` columns except the two paths, which the store sets.
        Raises Conflict when the id is taken (its files are never touched).
        """
        sim_id = check_simulation_id(str(row["id"]))
        folder = self.root / sim_id
        if folder.exists() or self._exists(sim_id):
            raise Conflict(f"simulation {sim_id} exists")
        full = {**row, "equity_path": str(folder / _EQUITY), "trades_path": str(folder / _TRADES)}
        try:
            atomic_write_parquet(equity, folder / _EQUITY)
            atomic_write_parquet(trades, folder / _TRADES)
            with self.state.engine.begin() as conn:
                conn.execute(insert(tables.simulations).values(**full))
        except BaseException:
            with contextlib.suppress(OSError):
                shutil.rmtree(folder)
            raise
        return self.get(sim_id)

    def get(self, simulation_id: str) -> SimulationRecord:
        """The stored simulation ``simulation_id``; NotFound or InvalidInput for a bad id."""
        check_simulation_id(simulation_id)
        with self.state.engine.connect() as conn:
            row = (
                conn.execute(
                    select(tables.simulations).where(tables.simulations.c.id == simulation_id)
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no simulation {simulation_id!r}")
        return _record(row)

    def list(self, model_id: str | None = None) -> list[SimulationRecord]:
        """Stored simulations, newest first, optionally of one model only."""
        query = select(tables.simulations).order_by(tables.simulations.c.created_at.desc())
        if model_id is not None:
            query = query.where(tables.simulations.c.model_id == check_model_id(model_id))
        with self.state.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_record(row) for row in rows]

    def equity(self, simulation_id: str, max_rows: int | None = None) -> pa.Table:
        """The equity curve (``ts, close, prediction, signal, shares, cash, equity,
        benchmark_equity``), evenly thinned to ``max_rows`` rows with first and last kept."""
        if max_rows is not None and max_rows < 2:
            raise InvalidInput(f"max_rows must be at least 2, not {max_rows}")
        table = self._read(self.get(simulation_id), "equity")
        if max_rows is not None and table.num_rows > max_rows:
            keep = np.unique(np.linspace(0, table.num_rows - 1, max_rows).astype(np.int64))
            table = table.take(keep)
        return table

    def trades(self, simulation_id: str, last: int | None = None) -> pa.Table:
        """Every fill (``ts, side, price, shares, fee, cash_after``), or the ``last`` ones."""
        if last is not None and last < 0:
            raise InvalidInput(f"last must not be negative, not {last}")
        table = self._read(self.get(simulation_id), "trades")
        if last is not None:
            table = table.slice(max(0, table.num_rows - last))
        return table

    def delete(self, simulation_id: str) -> None:
        """Remove the row, then the result files, of ``simulation_id`` (NotFound if unknown)."""
        record = self.get(simulation_id)
        with self.state.engine.begin() as conn:
            conn.execute(delete(tables.simulations).where(tables.simulations.c.id == record.id))
        folder = Path(record.equity_path).parent
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(
                f"simulation {record.id} deleted but its files stay in {folder}: "
                f"{exc.strerror or type(exc).__name__}"
            ) from exc

    def _exists(self, simulation_id: str) -> bool:
        c = tables.simulations.c
        with self.state.engine.connect() as conn:
            return conn.execute(select(c.id).where(c.id == simulation_id)).first() is not None

    @staticmethod
    def _read(record: SimulationRecord, which: str) -> pa.Table:
        path = record.equity_path if which == "equity" else record.trades_path
        try:
            return pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(
                f"cannot read the {which} of simulation {record.id}: {type(exc).__name__}"
            ) from exc
