"""The ``train`` and ``simulate`` job kinds: requests from job params, run on a worker."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stockdb.training.requests import simulation_request, train_request

if TYPE_CHECKING:
    from stockdb.app import App

__all__ = ["simulate", "train"]

Progress = Callable[[int, int, str], None]
StopFn = Callable[[], bool]


def train(app: App, params: Mapping[str, Any], progress: Progress, _stop: StopFn) -> dict[str, Any]:
    """Train and register a model; the job result names it (``model_id``) with its metrics."""
    record = app.training.train(train_request(params), progress)
    return {"model_id": record.id, "kind": record.kind, "metrics": record.metrics}


def simulate(
    app: App, params: Mapping[str, Any], progress: Progress, _stop: StopFn
) -> dict[str, Any]:
    """Run and store a backtest; the job result names it (``simulation_id``)."""
    record = app.simulation.simulate(simulation_request(params), progress)
    return {
        "simulation_id": record.id,
        "overlaps_training": record.overlaps_training,
        "warnings": list(record.warnings),
        "metrics": record.metrics,
        "benchmark_metrics": record.benchmark_metrics,
    }
