"""Pydantic response models of the REST API: what /openapi.json promises and the tests check.

One response style: a route builds its body from a service's dataclass (``asdict`` or the
dataclass's ``to_dict``) and answers with :func:`stockdb.api.errors.json_response` (orjson:
ISO-8601 instants, NaN as null); its ``response_model`` documents the body. Each model here
is held to its dataclass by ``tests/unit/api/test_schema_parity.py`` (same fields, same JSON
schema per field) and every live answer to its model by the schemathesis suite.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stockdb.obs.heartbeats import AgentState
from stockdb.state.coverage import CoverageStatus

__all__ = [
    "AgentControlResult",
    "AgentInfo",
    "AgentsResponse",
    "AlertInfo",
    "Bar",
    "ErrorResponse",
    "FeatureBuildInfo",
    "FeatureDefinitionInfo",
    "FeatureRebuildRequest",
    "FeatureStaleInfo",
    "FeaturesOverview",
    "GapRowModel",
    "HealthCheck",
    "HealthResponse",
    "HeartbeatModel",
    "JobModel",
    "LogRecordModel",
    "RollupRebuildRequest",
    "SymbolSummaryModel",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorResponse(_Model):
    """Every error answer: one human-readable line, never a stack trace or a secret."""

    detail: str


class Bar(_Model):
    """One bar; ``ts`` is the start of its interval, ISO-8601 UTC."""

    ts: str = Field(examples=["2024-03-05T14:30:00Z"])
    open: float
    high: float
    low: float
    close: float
    volume: int
    trade_count: int
    vwap: float | None


class SymbolSummaryModel(_Model):
    """A known symbol with counts of its sessions by coverage status."""

    symbol: str
    provider: str
    feed: str
    tracked: bool
    sessions: int
    complete: int
    partial: int
    in_progress: int
    empty: int
    error: int
    rows: int
    first_session: date | None
    last_session: date | None
    last_fetched_at: datetime | None


class GapRowModel(_Model):
    """One expected session of a symbol against the coverage ledger."""

    session_date: date
    status: CoverageStatus
    rows: int
    regular_rows: int
    regular_minutes: int
    extended_minutes: int
    early_close: bool
    fetched_at: datetime | None
    reason: str | None


class HealthCheck(_Model):
    ok: bool
    detail: str


class HealthResponse(_Model):
    """Liveness plus the state-store and lake checks; ``status`` is ok only if all pass."""

    status: Literal["ok", "degraded"]
    version: str
    provider: str = Field(description="Where new bars come from: synthetic or alpaca")
    feed: str = Field(description="The provider's feed (iex, sip, ...; synthetic for synthetic)")
    checks: dict[str, HealthCheck]
    damaged_partitions: int | None = Field(
        default=None,
        description="Partitions known damaged or missing (run `stockdb verify --repair`); "
        "null when the state store cannot be read",
    )


class JobModel(_Model):
    """A queued unit of work (an ingest, a feature build) and how far it got."""

    id: str
    kind: str
    key: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    params: dict[str, Any]
    progress_done: int
    progress_total: int
    fraction: float | None
    message: str | None
    attempts: int
    error: str | None
    worker: str | None
    result: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None


class HeartbeatModel(_Model):
    """The latest heartbeat of one agent on one worker, with its age."""

    agent: str
    worker: str
    state: AgentState = Field(description="stalled when the heartbeat is too old, else reported")
    reported_state: AgentState
    stalled: bool
    age_s: float
    interval_s: float
    updated_at: datetime
    current_job: str | None
    progress_done: int | None
    progress_total: int | None
    last_success: datetime | None
    next_step: str | None
    lag_s: float | None
    host: str
    pid: int


class AlertInfo(_Model):
    id: int
    ts: datetime
    agent: str | None
    kind: str
    message: str
    resolved_at: datetime | None


class AgentInfo(_Model):
    """One agent: its switch, an overall state, and the heartbeats of its workers."""

    name: str
    enabled: bool
    state: str = Field(description="stopped, absent (no heartbeat), stalled, or the reported one")
    stalled: bool
    workers: list[HeartbeatModel]


class AgentsResponse(_Model):
    now: datetime
    agents: list[AgentInfo]
    alerts: list[AlertInfo]
    queue: dict[str, Any]
    running: list[dict[str, Any]]


class AgentControlResult(_Model):
    name: str
    enabled: bool
    dispatched: int = Field(description="Parked jobs sent to the queue by this start")


class LogRecordModel(_Model):
    id: int
    timestamp: datetime | None
    level: str
    logger: str | None
    agent: str | None
    symbol: str | None
    stage: str | None
    job_id: str | None
    message: str
    extra: dict[str, Any] | None


class FeatureDefinitionInfo(_Model):
    name: str
    version: int
    params: dict[str, Any]
    params_hash: str
    warmup: int
    warmups: dict[str, int] = Field(default_factory=dict)
    columns: list[str]
    code_ref: str


class FeatureBuildInfo(_Model):
    symbol: str
    set_hash: str
    first_ts: datetime | None
    last_ts: datetime | None
    rows: int
    partitions: int
    full: bool
    built_at: datetime


class FeatureStaleInfo(_Model):
    """A symbol whose feature partitions do not reflect its bars under the current set;
    ``reasons`` counts partitions per reason (``corporate_action``: a new split)."""

    symbol: str
    timeframe: str = "1Min"
    bar_partitions: int
    stale_partitions: int
    reasons: dict[str, int]
    first_stale: date | None


class FeaturesOverview(_Model):
    """The feature set in force (definitions and versions), the latest builds per symbol and
    the symbols with stale feature partitions."""

    set_hash: str
    definitions: list[FeatureDefinitionInfo]
    builds: list[FeatureBuildInfo]
    stale: list[FeatureStaleInfo] = Field(default_factory=list)


class RollupRebuildRequest(_Model):
    symbols: list[str] = Field(
        default_factory=list, max_length=500, description="Symbols (default: every stored one)"
    )
    universe: str | None = Field(
        default=None, max_length=64, description="A universe whose members come first"
    )


class FeatureRebuildRequest(_Model):
    symbols: list[str] = Field(default_factory=list, max_length=500)
    full: bool = False
    timeframe: str | None = Field(
        default=None, max_length=20, description="1Min, 5Min, 15Min, 1Hour or 1Day"
    )
