"""/universes: named symbol lists (create, list, show, add, remove, delete) and the jobs that
run over one (ingest, feature build); thin over the use-case layer's UniverseService."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from stockdb.api.context import Ctx, RequireToken
from stockdb.api.errors import ERROR_RESPONSES, MUTATING_ERROR_RESPONSES, json_response
from stockdb.api.routes.jobs import job_body
from stockdb.api.schemas import ErrorResponse, JobModel
from stockdb.errors import ConfigError, NotFound
from stockdb.usecases.universe import UniverseService

__all__ = ["UniverseCreate", "UniverseModel", "UniverseSymbols", "router"]

router = APIRouter(tags=["universes"])
Name = Annotated[
    str,
    Path(
        max_length=64,
        description="1-64 ASCII letters, digits, dots, dashes or underscores",
        examples=["tech"],
    ),
]


class UniverseModel(BaseModel):
    """A universe as ``Universe.to_dict`` writes it (``count``: how many symbols)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    source: str = Field(description="manual, file or alpaca")
    count: int
    symbols: list[str]
    created_at: datetime
    updated_at: datetime


class UniverseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64)
    symbols: list[str] = Field(default_factory=list, max_length=20_000)
    from_alpaca: bool = Field(
        default=False, description="Alpaca's active, tradable US equities instead of symbols"
    )
    replace: bool = Field(default=False, description="Overwrite a universe of that name")


class UniverseSymbols(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbols: list[str] = Field(min_length=1, max_length=20_000)


_PROVIDER_RESPONSES: dict[int | str, dict[str, Any]] = {
    **MUTATING_ERROR_RESPONSES,
    400: {"model": ErrorResponse, "description": "The provider cannot be used as configured"},
}


def _service(ctx: Ctx) -> UniverseService:
    return UniverseService(ctx.app)


@router.get(
    "/universes",
    operation_id="list_universes",
    response_model=list[UniverseModel],
    responses=ERROR_RESPONSES,
    summary="Every universe with its symbols",
)
def list_universes(ctx: Ctx) -> Response:
    """Every universe by name, each with its symbols in order and where they came from."""
    return json_response([u.to_dict() for u in _service(ctx).all()])


@router.get(
    "/universes/{name}",
    operation_id="get_universe",
    response_model=UniverseModel,
    responses=ERROR_RESPONSES,
    summary="One universe",
)
def get_universe(ctx: Ctx, name: Name) -> Response:
    """The universe ``name``; 404 when there is none."""
    return json_response(_service(ctx).get(name).to_dict())


@router.post(
    "/universes",
    operation_id="create_universe",
    status_code=201,
    response_model=UniverseModel,
    responses=_PROVIDER_RESPONSES,
    dependencies=[RequireToken],
    summary="Create a universe from symbols or from Alpaca's assets",
)
def create_universe(ctx: Ctx, body: UniverseCreate) -> Response:
    """Store ``name`` with ``symbols`` or, with ``from_alpaca``, every active tradable US
    equity Alpaca lists. 422 names every invalid symbol; 409 when it exists (unless
    ``replace``); 400 for from_alpaca without keys; 502/503 when Alpaca refuses or fails."""
    try:
        universe = _service(ctx).create(
            body.name, body.symbols or None, None, body.from_alpaca, body.replace
        )
    except ConfigError as exc:  # e.g. no Alpaca keys: a problem with this request
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return json_response(universe.to_dict(), 201, {"Location": f"/universes/{universe.name}"})


@router.post(
    "/universes/{name}/symbols",
    operation_id="add_universe_symbols",
    response_model=UniverseModel,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Add symbols to a universe",
)
def add_symbols(ctx: Ctx, name: Name, body: UniverseSymbols) -> Response:
    """Append ``symbols`` (members already there stay where they are)."""
    return json_response(_service(ctx).add(name, body.symbols).to_dict())


@router.delete(
    "/universes/{name}/symbols",
    operation_id="remove_universe_symbols",
    response_model=UniverseModel,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Remove symbols from a universe",
)
def remove_symbols(
    ctx: Ctx,
    name: Name,
    symbols: Annotated[str, Query(max_length=20_000, description="Comma-separated tickers")],
) -> Response:
    """Remove ``symbols``; 422 naming those that are not members (nothing removed)."""
    return json_response(_service(ctx).remove(name, [symbols]).to_dict())


@router.delete(
    "/universes/{name}",
    operation_id="delete_universe",
    status_code=204,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Delete a universe (its symbols' data stays)",
)
def delete_universe(ctx: Ctx, name: Name) -> Response:
    _service(ctx).delete(name)
    return Response(status_code=204)


@router.post(
    "/universes/{name}/ingest",
    operation_id="ingest_universe",
    status_code=202,
    response_model=JobModel,
    responses=_PROVIDER_RESPONSES,
    dependencies=[RequireToken],
    summary="Queue one backfill of every symbol of a universe",
)
def ingest_universe(
    ctx: Ctx,
    name: Name,
    start: Annotated[str | None, Query(max_length=40, description="First session date")] = None,
    end: Annotated[str | None, Query(max_length=40, description="Last session date")] = None,
    provider: Annotated[
        str | None, Query(max_length=20, description="synthetic or alpaca (default: by keys)")
    ] = None,
    replace: Annotated[bool, Query(description="Re-fetch START..END and rewrite them")] = False,
) -> Response:
    """Queue one ingest job of the universe's symbols over ``start..end`` (default: the
    latest five sessions), as ``POST /ingest/{symbol}`` does for one symbol."""
    names = _service(ctx).resolve(None, name)
    try:
        request = ctx.app.ingest.request(names, start, end, provider, replace)
        job = ctx.app.ingest.submit(ctx.jobs, request)
    except ConfigError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return json_response(job_body(job), 202, {"Location": f"/jobs/{job.id}"})


@router.post(
    "/universes/{name}/features/rebuild",
    operation_id="rebuild_universe_features",
    status_code=202,
    response_model=JobModel,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Queue one feature build of every symbol of a universe",
)
def rebuild_universe_features(
    ctx: Ctx,
    name: Name,
    full: Annotated[bool, Query(description="Rewrite every partition")] = False,
    timeframe: Annotated[
        str | None, Query(max_length=20, description="1Min, 5Min, 15Min, 1Hour or 1Day")
    ] = None,
) -> Response:
    """Queue one feature-build job for the universe's symbols; 404 naming every member
    without bars."""
    from stockdb.features.service import feature_timeframe

    names = _service(ctx).resolve(None, name)
    chosen = None if timeframe is None else feature_timeframe(timeframe)
    missing = [s for s in names if not ctx.app.lake.session_paths(s)]
    if missing:
        raise NotFound(f"no bars stored for {', '.join(missing)}")
    job = ctx.jobs.submit_feature_build(names, full=full, timeframe=chosen)
    return json_response(job_body(job), 202, {"Location": f"/jobs/{job.id}"})
