"""Fixtures: an in-memory FeatureSource, settings on tmp_path, a real SQLite state store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stockdb.config import Settings
from stockdb.state.store import StateStore
from stockdb.testing.feature_frames import MemorySource, feature_frame, session_minutes
from stockdb.training.service import TrainingService

__all__ = ["MemorySource", "feature_frame", "session_minutes"]


@pytest.fixture
def source() -> MemorySource:
    """AAA and BBB to trade, SPY as context: five sessions of minute bars each."""
    ts = session_minutes(5)
    return MemorySource({s: feature_frame(ts, seed=i) for i, s in enumerate(("AAA", "BBB", "SPY"))})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    store = StateStore(f"sqlite:///{tmp_path}/s.sqlite")
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def trainer(settings: Settings, state: StateStore, source: MemorySource) -> TrainingService:
    return TrainingService(settings, state, source)
