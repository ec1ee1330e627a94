"""POST /verify: queue a check of every partition against the ledger (optionally a repair)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from stockdb.api.context import Ctx, RequireToken
from stockdb.api.errors import MUTATING_ERROR_RESPONSES, json_response
from stockdb.api.schemas import JobModel
from stockdb.symbols import normalize_symbols

__all__ = ["router"]

router = APIRouter(tags=["jobs"])
MAX_SYMBOLS = 100


@router.post(
    "/verify",
    operation_id="post_verify",
    status_code=202,
    response_model=JobModel,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Queue a check (and optionally a repair) of the stored partitions",
)
def post_verify(
    ctx: Ctx,
    symbols: Annotated[
        list[str] | None,
        Query(max_length=MAX_SYMBOLS, description="Symbols to check (default: every one)"),
    ] = None,
    repair: Annotated[
        bool,
        Query(
            description="Move damaged files to {data}/quarantine/ and queue ingests that "
            "refetch their sessions"
        ),
    ] = False,
) -> Response:
    """Answer 202 with a ``verify`` job; its result lists every damaged or missing partition
    (symbol, dt, file) and, with ``repair``, where each went and the ingest jobs queued."""
    names = normalize_symbols(symbols) if symbols else []
    key = f"verify:{','.join(sorted(names)) or '*'}:{'repair' if repair else 'check'}"
    job = ctx.jobs.submit("verify", key, {"symbols": names, "repair": repair})
    return json_response(job.to_dict(), 202, {"Location": f"/jobs/{job.id}"})
