"""POST /rollups/rebuild: queue a rebuild of the maintained 1Day and 1Hour rollups."""

from __future__ import annotations

from fastapi import APIRouter, Response

from stockdb.api.context import Ctx, RequireToken
from stockdb.api.errors import MUTATING_ERROR_RESPONSES, json_response
from stockdb.api.routes.jobs import job_body
from stockdb.api.schemas import JobModel, RollupRebuildRequest
from stockdb.usecases.operations import Operations

__all__ = ["router"]

router = APIRouter(tags=["jobs"])


@router.post(
    "/rollups/rebuild",
    operation_id="rebuild_rollups",
    status_code=202,
    response_model=JobModel,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Queue a rebuild of the rollups from the minute partitions",
)
def rebuild_rollups(ctx: Ctx, request: RollupRebuildRequest | None = None) -> Response:
    """Answer 202 with one ``rollups`` job deriving the 1Day (regular and all sessions) and
    1Hour rollup files again from the 1-minute partitions of ``symbols`` (after a
    ``universe``'s members; every stored symbol when neither is given). Every write keeps
    them current; rebuild after restoring files by hand or when verify reports one. 404
    naming every symbol without bars, or for an unknown universe."""
    body = request or RollupRebuildRequest()
    job = Operations(ctx.app, ctx.jobs).submit_rollups_rebuild(body.symbols, body.universe)
    return json_response(job_body(job), 202, {"Location": f"/jobs/{job.id}"})
