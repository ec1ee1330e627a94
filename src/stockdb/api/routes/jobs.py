"""POST /ingest/{symbol} (queue a backfill) and GET/DELETE /jobs: thin over the JobService."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response

from stockdb.api.context import Ctx, RequireToken, Symbol
from stockdb.api.errors import ERROR_RESPONSES, MUTATING_ERROR_RESPONSES, json_response
from stockdb.api.schemas import ErrorResponse, JobModel
from stockdb.calendar import TradingCalendar
from stockdb.dates import parse_date
from stockdb.errors import ConfigError, InvalidInput
from stockdb.jobs.records import JobRecord
from stockdb.obs.redact import Redactor
from stockdb.symbols import normalize_symbol

__all__ = ["DEFAULT_SESSIONS", "default_range", "job_body", "router"]

DEFAULT_SESSIONS = 5  # POST /ingest/SYMBOL without dates: the latest five sessions
MAX_JOBS = 1000
router = APIRouter(tags=["jobs"])
JobId = Annotated[str, Path(min_length=1, max_length=64, description="Job id")]
_INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    **MUTATING_ERROR_RESPONSES,
    400: {"model": ErrorResponse, "description": "The provider cannot be used as configured"},
}


def job_body(job: JobRecord, redactor: Redactor | None = None) -> dict[str, Any]:
    """A job as the JSON the API answers with (ISO-8601 instants, progress fraction); its
    error and message without absolute paths or library frames (the server log has them)."""
    body = job.to_dict()
    if body.get("error") or body.get("message"):
        clean = redactor or Redactor()
        body["error"], body["message"] = clean.value(body["error"]), clean.value(body["message"])
    return body


def default_range(
    calendar: TradingCalendar, now: datetime, start: date | None, end: date | None
) -> tuple[date, date]:
    """Fill a missing end with the latest session begun by ``now`` and a missing start with
    the session :data:`DEFAULT_SESSIONS` - 1 before the end."""
    if end is None:
        end = calendar.session_date_of(now)
    if end is None:  # outside extended hours: the latest session that has begun
        latest = calendar.latest_session_on_or_before(now.date())
        if latest.extended_open > now:
            latest = calendar.previous_session(latest.date)
        end = latest.date
    if start is None:
        start = calendar.latest_session_on_or_before(end).date
        for _ in range(DEFAULT_SESSIONS - 1):
            start = calendar.previous_session(start).date
    if start > end:
        raise InvalidInput(f"start {start} is after end {end}")
    return start, end


@router.post(
    "/ingest/{symbol}",
    operation_id="post_ingest",
    status_code=202,
    response_model=JobModel,
    responses=_INGEST_RESPONSES,
    dependencies=[RequireToken],
    summary="Queue a backfill of 1-minute bars",
)
def post_ingest(
    ctx: Ctx,
    symbol: Symbol,
    start: Annotated[str | None, Query(max_length=40, description="First session date")] = None,
    end: Annotated[str | None, Query(max_length=40, description="Last session date")] = None,
    provider: Annotated[
        str | None, Query(max_length=20, description="synthetic or alpaca (default: by keys)")
    ] = None,
    replace: Annotated[
        bool,
        Query(description="Re-fetch START..END and rewrite exactly those sessions"),
    ] = False,
) -> Response:
    """Queue an ingest of ``symbol`` over sessions ``start..end`` (default: the latest five)
    and answer 202 with the job; while that job is queued or running, the same request
    answers the same job."""
    name = normalize_symbol(symbol)
    first, last = parse_date(start, "start"), parse_date(end, "end")
    app = ctx.app
    first, last = default_range(app.calendar, app.clock.now(), first, last)
    try:
        job = ctx.jobs.submit_ingest([name], first, last, provider, replace)
    except ConfigError as exc:  # e.g. alpaca without keys: the caller can pick another
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return json_response(job_body(job), 202, {"Location": f"/jobs/{job.id}"})


@router.get(
    "/jobs",
    operation_id="list_jobs",
    response_model=list[JobModel],
    responses=ERROR_RESPONSES,
    summary="Jobs, newest first",
)
def list_jobs(
    ctx: Ctx,
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_JOBS)] = 100,
) -> Response:
    """Jobs newest first, optionally of one status or kind."""
    jobs = ctx.jobs.list(status, limit, kind)
    clean = Redactor(ctx.app.settings.data_dir)
    return json_response([job_body(j, clean) for j in jobs])


@router.get(
    "/jobs/{job_id}",
    operation_id="get_job",
    response_model=JobModel,
    responses=ERROR_RESPONSES,
    summary="One job with its progress",
)
def get_job(ctx: Ctx, job_id: JobId) -> Response:
    """The job ``job_id``; 404 when there is none."""
    return json_response(job_body(ctx.jobs.get(job_id), Redactor(ctx.app.settings.data_dir)))


@router.delete(
    "/jobs/{job_id}",
    operation_id="cancel_job",
    response_model=JobModel,
    responses=MUTATING_ERROR_RESPONSES,
    dependencies=[RequireToken],
    summary="Cancel a queued or running job",
)
def cancel_job(ctx: Ctx, job_id: JobId) -> Response:
    """Cancel a queued job at once or a running one at its next chunk; 409 once it ended."""
    return json_response(job_body(ctx.jobs.cancel(job_id)))
