"""SimulationStore on a real SQLite state store and real Parquet files: save is all or
nothing, reads thin and slice like a plain reference, delete removes row and files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy.exc import IntegrityError

from stockdb.errors import Conflict, InvalidInput, NotFound, StorageError
from stockdb.simulation.store import OVERLAP_WARNING, SimulationStore
from stockdb.state.store import StateStore

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SimulationStore]:
    state = StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}")
    state.migrate()
    try:
        yield SimulationStore(state, tmp_path / "simulations")
    finally:
        state.dispose()


def _row(
    sim_id: str, model_id: str = "m1", minutes: int = 0, overlap: bool = False
) -> dict[str, Any]:
    return {
        "id": sim_id,
        "model_id": model_id,
        "symbol": "SPY",
        "created_at": T0 + timedelta(minutes=minutes),
        "params": {"cash": 1000.0},
        "metrics": {"total_return": 0.1},
        "benchmark_metrics": {"total_return": 0.05},
        "overlaps_training": overlap,
        "stale": False,
    }


def _tables(n: int) -> tuple[pa.Table, pa.Table]:
    ts = pa.array([T0 + timedelta(minutes=i) for i in range(n)], pa.timestamp("us", "UTC"))
    equity = pa.table({"ts": ts, "equity": np.arange(n, dtype=np.float64) + 1000.0})
    fills = min(n, 5)
    trades = pa.table({"ts": ts.slice(0, fills), "side": (["buy", "sell"] * 3)[:fills]})
    return equity, trades


def test_save_get_list_and_reads(store: SimulationStore) -> None:
    equity, trades = _tables(1000)
    first = store.save(_row("s1"), equity, trades)
    store.save(_row("s2", minutes=1, overlap=True), *_tables(3))
    store.save(_row("s3", model_id="m2", minutes=2), *_tables(3))
    assert first == store.get("s1") and first.warnings == ()
    assert store.get("s2").warnings == (OVERLAP_WARNING,)
    assert Path(first.equity_path).parent == store.root / "s1"
    assert [r.id for r in store.list()] == ["s3", "s2", "s1"]  # newest first
    assert [r.id for r in store.list("m1")] == ["s2", "s1"]

    assert store.equity("s1").equals(equity)
    thinned = store.equity("s1", max_rows=7)
    reference = np.unique(np.linspace(0, 999, 7).astype(np.int64))  # first and last kept
    assert thinned.column("equity").to_pylist() == [1000.0 + i for i in reference]
    assert store.equity("s1", max_rows=5000).num_rows == 1000
    assert store.trades("s1").equals(trades)
    assert store.trades("s1", last=2).equals(trades.slice(3))
    assert store.trades("s1", last=0).num_rows == 0
    assert store.trades("s1", last=50).equals(trades)


def test_bad_ids_and_arguments(store: SimulationStore) -> None:
    store.save(_row("s1"), *_tables(3))
    with pytest.raises(NotFound):
        store.get("nope")
    with pytest.raises(InvalidInput):
        store.get("../s1")
    with pytest.raises(InvalidInput):
        store.equity("s1", max_rows=1)
    with pytest.raises(InvalidInput):
        store.trades("s1", last=-1)
    with pytest.raises(NotFound):
        store.delete("nope")


def test_a_failed_save_leaves_nothing(store: SimulationStore) -> None:
    equity, trades = _tables(3)
    first = store.save(_row("s1"), equity, trades)
    with pytest.raises(Conflict):  # a taken id never touches the stored run's files
        store.save(_row("s1"), *_tables(4))
    assert store.equity("s1").equals(equity) and store.get("s1") == first
    broken = {k: v for k, v in _row("s2").items() if k != "symbol"}
    with pytest.raises(IntegrityError):  # the row insert fails after the files were written
        store.save(broken, *_tables(3))
    assert [r.id for r in store.list()] == ["s1"]
    assert sorted(p.name for p in store.root.iterdir()) == ["s1"]
    with pytest.raises(InvalidInput):
        store.save(_row("../x"), *_tables(3))
    assert sorted(p.name for p in store.root.iterdir()) == ["s1"]


def test_delete_removes_row_and_files(store: SimulationStore) -> None:
    kept = store.save(_row("keep"), *_tables(3))
    gone = store.save(_row("gone", minutes=1), *_tables(3))
    store.delete("gone")
    assert not Path(gone.equity_path).parent.exists()
    assert [r.id for r in store.list()] == ["keep"]
    with pytest.raises(NotFound):
        store.trades("gone")
    assert Path(kept.trades_path).is_file()


def test_unreadable_results_are_a_storage_error(store: SimulationStore) -> None:
    record = store.save(_row("s1"), *_tables(3))
    Path(record.equity_path).write_bytes(b"not parquet")
    with pytest.raises(StorageError, match="equity of simulation s1"):
        store.equity("s1")
    assert store.trades("s1").num_rows == 3  # the other file still reads
