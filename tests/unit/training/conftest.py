"""An in-memory FeatureSource over synthetic random-walk minute bars with simple features."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stockdb.testing.feature_frames import MemorySource, feature_frame, session_minutes


@pytest.fixture
def make_source() -> Callable[..., MemorySource]:
    def make(symbols: tuple[str, ...] = ("AAA", "SPY"), days: int = 3) -> MemorySource:
        ts = session_minutes(days)
        return MemorySource({s: feature_frame(ts, seed=i) for i, s in enumerate(symbols)})

    return make
