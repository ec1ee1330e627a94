"""The ``simulate`` job kind: runs a :class:`SimulationRequest` from job params on a worker."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stockdb.training.requests import simulation_request

if TYPE_CHECKING:
    from stockdb.app import App

__all__ = ["handle"]


def handle(
    app: App,
    params: Mapping[str, Any],
    progress: Callable[[int, int, str], None],
    should_stop: Callable[[], bool],
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
