"""POST /train, GET/DELETE /models, POST /simulate, GET /simulations (and each one's HTML
report): thin over the services.

Training and simulation run as jobs (answer 202 with the job); the finished job's ``result``
names the ``model_id`` or ``simulation_id`` to fetch.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from stockdb.api.context import Ctx, RequireToken
from stockdb.api.errors import ERROR_RESPONSES, MUTATING_ERROR_RESPONSES, json_response
from stockdb.api.routes.jobs import job_body
from stockdb.api.schemas import JobModel
from stockdb.usecases.operations import Operations

__all__ = ["router"]

router = APIRouter(tags=["models"])
ModelId = Annotated[str, Path(min_length=1, max_length=64, description="Model id")]
SimulationId = Annotated[str, Path(min_length=1, max_length=64, description="Simulation id")]
_DAY = Field(default=None, max_length=10, description="Session date YYYY-MM-DD")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WalkForwardBody(_Body):
    n_splits: int = Field(default=5, ge=2, le=50)
    mode: Literal["expanding", "rolling"] = "expanding"
    test_size: int | None = Field(default=None, ge=1)
    train_size: int | None = Field(default=None, ge=1)


class TrainBody(_Body):
    """A training request: the first ticker is the primary (target and base features); with
    ``panel`` every ticker's rows are stacked for one model (up to 500 tickers, ``symbol``
    among the features adds the symbol as a category)."""

    tickers: list[Annotated[str, Field(max_length=12)]] | None = Field(
        default=None, min_length=1, max_length=500
    )
    universe: str | None = Field(
        default=None,
        max_length=64,
        description="Train on this universe's symbols (GET /universes), before any tickers",
    )
    panel: bool = Field(default=False, description="Stack the tickers' rows for one model")
    model: str = Field(default="logistic_regression", max_length=40)
    target: Literal["direction", "return"] = "direction"
    horizon: int = Field(default=1, ge=1, le=10_000)
    features: list[Annotated[str, Field(max_length=60)]] | None = Field(
        default=None, max_length=500
    )
    params: dict[str, Any] | None = None
    start: str | None = _DAY
    end: str | None = _DAY
    train_fraction: float = Field(default=0.7, gt=0, lt=1)
    validation_fraction: float = Field(default=0.15, ge=0, lt=1)
    train_end: str | None = _DAY
    validation_end: str | None = _DAY
    walk_forward: WalkForwardBody | None = None
    timeframes: list[Annotated[str, Field(max_length=10)]] | None = Field(
        default=None,
        max_length=4,
        description="Also join features at these timeframes (5Min, 15Min, 1Hour, 1Day), "
        "each row only once its bar has closed; columns end in _1Day etc.",
    )


class SimulateBody(_Body):
    """A backtest request; ``symbol`` defaults to the model's primary ticker.

    Out of sample by default: without ``start`` the period begins at the first session after
    the model's training window; a period overlapping it is refused unless ``in_sample``."""

    model_id: str = Field(min_length=1, max_length=64)
    symbol: str | None = Field(default=None, max_length=12)
    symbols: list[Annotated[str, Field(max_length=12)]] | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Trade each symbol with an equal share of the cash; the job result adds "
        "the equal-weight portfolio against equal-weight buy-and-hold",
    )
    universe: str | None = Field(
        default=None,
        max_length=64,
        description="Trade this universe's symbols (before any in symbols), as with symbols",
    )
    start: str | None = _DAY
    end: str | None = _DAY
    cash: float = Field(default=10_000.0, gt=0, le=1e12)
    fill: Literal["close", "next_open"] = "close"
    fee_bps: float = Field(default=0.0, ge=0, le=10_000)
    slippage_bps: float = Field(default=0.0, ge=0, le=10_000)
    in_sample: bool = Field(default=False, description="Allow overlap with the training window")


class ModelModel(_Body):
    """A registered model: what it was trained on and how it scored."""

    id: str
    created_at: datetime
    kind: str
    task: str
    tickers: list[str]
    target: str
    horizon: int
    features: list[str]
    feature_set_hash: str
    params: dict[str, Any]
    windows: dict[str, Any]
    metrics: dict[str, Any]
    class_balance: dict[str, Any] | None
    library_versions: dict[str, str]
    sha256: str
    path: str
    stale: bool


class SimulationModel(_Body):
    """A stored backtest: metrics beside buy-and-hold, and (on GET by id) its curves."""

    id: str
    model_id: str
    symbol: str
    created_at: datetime
    params: dict[str, Any]
    metrics: dict[str, Any]
    benchmark_metrics: dict[str, Any]
    overlaps_training: bool
    warnings: list[str]
    stale: bool
    equity: dict[str, list[Any]] | None = None
    trades: dict[str, list[Any]] | None = None


@router.post(
    "/train",
    operation_id="post_train",
    status_code=202,
    response_model=JobModel,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Queue a training job",
)
def post_train(ctx: Ctx, body: TrainBody) -> Response:
    """Validate the request, queue it, answer 202 with the job (the same request while it is
    queued or running answers the same job)."""
    job = Operations(ctx.app, ctx.jobs).submit_train(body.model_dump(exclude_none=True))
    return json_response(job_body(job), 202, {"Location": f"/jobs/{job.id}"})


def _model(record: Any) -> dict[str, Any]:
    body = asdict(record)
    body["tickers"], body["features"] = list(record.tickers), list(record.features)
    return body


@router.get(
    "/models",
    operation_id="list_models",
    response_model=list[ModelModel],
    responses=ERROR_RESPONSES,
    summary="Registered models, newest first",
)
def list_models(ctx: Ctx) -> Response:
    """Every registered model with its metrics and staleness."""
    return json_response([_model(r) for r in ctx.app.training.list()])


@router.get(
    "/models/{model_id}",
    operation_id="get_model",
    response_model=ModelModel,
    responses=ERROR_RESPONSES,
    summary="One registered model",
)
def get_model(ctx: Ctx, model_id: ModelId) -> Response:
    """The registry row of one model (404 when unknown)."""
    return json_response(_model(ctx.app.training.get(model_id)))


@router.delete(
    "/models/{model_id}",
    operation_id="delete_model",
    status_code=204,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Delete a model",
)
def delete_model(ctx: Ctx, model_id: ModelId) -> Response:
    """Delete the model's artifact and registry row; its simulations are marked stale."""
    ctx.app.training.delete(model_id)
    return Response(status_code=204)


@router.post(
    "/simulate",
    operation_id="post_simulate",
    status_code=202,
    response_model=JobModel,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Queue a backtest of a model against buy-and-hold",
)
def post_simulate(ctx: Ctx, body: SimulateBody) -> Response:
    """Validate the request (the model must exist; out of sample unless ``in_sample``), queue
    it, answer 202 with the job."""
    job = Operations(ctx.app, ctx.jobs).submit_simulate(body.model_dump(exclude_none=True))
    return json_response(job_body(job), 202, {"Location": f"/jobs/{job.id}"})


def _simulation(record: Any) -> dict[str, Any]:
    body = asdict(record)
    body["warnings"] = list(record.warnings)
    for name in ("equity_path", "trades_path"):
        body.pop(name)
    return body


def _columns(table: pa.Table) -> dict[str, list[Any]]:
    return {name: table.column(name).to_pylist() for name in table.column_names}


@router.get(
    "/simulations",
    operation_id="list_simulations",
    response_model=list[SimulationModel],
    responses=ERROR_RESPONSES,
    summary="Stored simulations, newest first",
)
def list_simulations(
    ctx: Ctx, model_id: Annotated[str | None, Query(max_length=64)] = None
) -> Response:
    """Simulations (optionally of one model) with their metrics, without curves."""
    return json_response([_simulation(r) for r in ctx.app.simulation.store.list(model_id)])


@router.get(
    "/simulations/{simulation_id}",
    operation_id="get_simulation",
    response_model=SimulationModel,
    responses=ERROR_RESPONSES,
    summary="One simulation with its equity curve and trades",
)
def get_simulation(
    ctx: Ctx,
    simulation_id: SimulationId,
    points: Annotated[int, Query(ge=2, le=1_000_000, description="Max equity points")] = 5000,
) -> Response:
    """Metrics beside buy-and-hold, the equity curve (``ts, close, prediction, signal, shares,
    cash, equity, benchmark_equity``; evenly thinned to ``points`` rows, first and last kept)
    and every trade (``ts, side, price, shares, fee, cash_after``) as columns."""
    store = ctx.app.simulation.store
    body = _simulation(store.get(simulation_id))
    body["equity"] = _columns(store.equity(simulation_id, points))
    body["trades"] = _columns(store.trades(simulation_id))
    return json_response(body)


@router.delete(
    "/simulations/{simulation_id}",
    operation_id="delete_simulation",
    status_code=204,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Delete a simulation",
)
def delete_simulation(ctx: Ctx, simulation_id: SimulationId) -> Response:
    """Delete the simulation's row, equity curve and trades (404 when unknown)."""
    ctx.app.simulation.store.delete(simulation_id)
    return Response(status_code=204)


@router.get(
    "/simulations/{simulation_id}/report",
    operation_id="get_simulation_report",
    responses={
        **ERROR_RESPONSES,
        200: {
            "description": "The report page",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
    },
    summary="A self-contained HTML tearsheet of one simulation",
)
def get_simulation_report(ctx: Ctx, simulation_id: SimulationId) -> Response:
    """The tearsheet (Plotly inline, works offline): equity vs buy-and-hold, drawdown,
    monthly returns, rolling Sharpe, the metric table, trades, model, window, fill and costs."""
    page = ctx.app.simulation.report(simulation_id)
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
