"""Fixtures: the training fixtures plus a SimulationService over the same state store."""

from __future__ import annotations

import pytest

from stockdb.config import Settings
from stockdb.simulation.service import SimulationService
from stockdb.state.store import StateStore
from stockdb.testing.feature_frames import MemorySource
from stockdb.training.service import TrainingService

from ..training.conftest import settings, source, state, trainer  # noqa: F401

__all__ = ["settings", "simulator", "source", "state", "trainer"]


@pytest.fixture
def simulator(
    settings: Settings, state: StateStore, source: MemorySource, trainer: TrainingService
) -> SimulationService:
    return SimulationService(settings, state, source, trainer.registry)
