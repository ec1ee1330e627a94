"""Model and simulation records carry the state store's clock (the App's), not the wall clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from stockdb.clock import ManualClock
from stockdb.simulation.service import SimulationRequest, SimulationService
from stockdb.state.store import StateStore
from stockdb.training.service import TrainingService, TrainRequest

MANUAL = datetime(2024, 2, 1, 12, 30, 15, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MANUAL)


@pytest.fixture
def state(tmp_path: Path, clock: ManualClock) -> Iterator[StateStore]:
    """Overrides the shared fixture: the store stamps rows with the manual clock."""
    store = StateStore(f"sqlite:///{tmp_path}/s.sqlite", clock)
    store.migrate()
    yield store
    store.dispose()


def test_model_and_simulation_records_carry_the_manual_time(
    trainer: TrainingService, simulator: SimulationService, clock: ManualClock
) -> None:
    model = trainer.train(
        TrainRequest(
            tickers=["AAA", "SPY"], train_end=date(2024, 1, 3), validation_end=date(2024, 1, 4)
        )
    )
    assert model.created_at == MANUAL
    assert model.id.startswith("20240201123015-")
    assert trainer.registry.get(model.id).created_at == MANUAL

    clock.advance(90)
    later = datetime(2024, 2, 1, 12, 31, 45, tzinfo=UTC)
    result = simulator.simulate(
        SimulationRequest(model_id=model.id, start=date(2024, 1, 5), end=date(2024, 1, 8))
    )
    assert result.created_at == later
    assert result.id.startswith("20240201123145-")
    assert simulator.get(result.id).created_at == later
