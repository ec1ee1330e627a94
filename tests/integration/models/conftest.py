"""Fixtures: a stored out-of-sample simulation on a real data directory."""

from __future__ import annotations

from datetime import date

import pytest

from stockdb.app import App
from stockdb.simulation.store import SimulationRecord
from stockdb.training.requests import simulation_request, train_request


@pytest.fixture
def simulated(app: App) -> SimulationRecord:
    """SPY over late February to mid March 2024; a ridge model; an out-of-sample backtest."""
    source = app.provider("synthetic")
    try:
        app.backfill.run(["SPY"], date(2024, 2, 26), date(2024, 3, 15), source)
    finally:
        source.close()
    app.features.build(["SPY"])
    model = app.training.train(
        train_request({"tickers": ["SPY"], "model": "ridge", "target": "return"})
    )
    return app.simulation.simulate(simulation_request({"model_id": model.id, "fee_bps": 1}))
