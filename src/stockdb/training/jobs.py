"""The ``train`` and ``simulate`` job kinds: requests from job params, run on a worker."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stockdb.training.requests import portfolio_symbols, simulation_request, train_request

if TYPE_CHECKING:
    from stockdb.simulation.service import SimulationService
    from stockdb.training.service import TrainingService

__all__ = ["simulate", "train"]

Progress = Callable[[int, int, str], None]
StopFn = Callable[[], bool]


def train(
    params: Mapping[str, Any], progress: Progress, _stop: StopFn, *, training: TrainingService
) -> dict[str, Any]:
    """Train and register a model; the job result names it (``model_id``) with its metrics."""
    record = training.train(train_request(params), progress)
    return {"model_id": record.id, "kind": record.kind, "metrics": record.metrics}


def simulate(
    params: Mapping[str, Any],
    progress: Progress,
    _stop: StopFn,
    *,
    simulation: SimulationService,
) -> dict[str, Any]:
    """Run and store a backtest; the job result names it (``simulation_id``). With
    ``symbols``: one stored backtest per symbol (``simulation_ids``) and the equal-weight
    portfolio of them against equal-weight buy-and-hold (``portfolio``)."""
    request = simulation_request(params)
    symbols = portfolio_symbols(params)
    if symbols is not None:
        from stockdb.simulation.portfolio import simulate_portfolio

        result = simulate_portfolio(simulation, request, symbols, progress)
        return {
            "simulation_ids": {run.symbol: run.id for run in result.runs},
            "warnings": sorted({m for run in result.runs for m in run.warnings}),
            "portfolio": {
                "metrics": result.metrics,
                "benchmark_metrics": result.benchmark_metrics,
            },
        }
    record = simulation.simulate(request, progress)
    return {
        "simulation_id": record.id,
        "overlaps_training": record.overlaps_training,
        "warnings": list(record.warnings),
        "metrics": record.metrics,
        "benchmark_metrics": record.benchmark_metrics,
    }
