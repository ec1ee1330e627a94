"""What every route gets: the process's ApiContext (App, metrics, runtime) and the token guard."""

from __future__ import annotations

import hmac
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from stockdb.api.metrics import ApiMetrics
from stockdb.app import App

if TYPE_CHECKING:
    from stockdb.features.service import FeatureService
    from stockdb.jobs.service import JobService

__all__ = ["ApiContext", "Ctx", "RequireToken", "Symbol", "check_token", "get_context"]


class ApiContext:
    """The long-lived objects one API process serves from (built in the lifespan)."""

    def __init__(self, app: App, metrics: ApiMetrics, runtime: Any = None) -> None:
        self.app = app
        self.metrics = metrics
        self.runtime = runtime

    @cached_property
    def jobs(self) -> JobService:
        """The job service routes submit to (the runtime's own when one runs here)."""
        service = getattr(self.runtime, "jobs", None)
        if service is not None:
            return service  # type: ignore[no-any-return]
        return self.app.jobs

    @cached_property
    def features(self) -> FeatureService:
        """The App's feature service (calendar, lake and state store)."""
        return self.app.features


def get_context(request: Request) -> ApiContext:
    """The ApiContext of the running application; 503 while it is starting or stopping."""
    ctx = getattr(request.app.state, "stockdb", None)
    if not isinstance(ctx, ApiContext):
        raise HTTPException(status_code=503, detail="the API is starting up or shutting down")
    return ctx


Ctx = Annotated[ApiContext, Depends(get_context)]
Symbol = Annotated[
    str,
    Path(
        max_length=40,
        description="Ticker: 1-10 ASCII letters, digits, dots or dashes, starting with a letter",
        examples=["SPY"],
    ),
]

_bearer = HTTPBearer(auto_error=False, description="Needed when STOCKDB_API_TOKEN is set")


def check_token(expected: str | None, presented: str | None) -> bool:
    """True when no token is configured, or ``presented`` equals it (constant-time compare)."""
    if not expected:
        return True
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def require_token(
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Guard for mutating routes: raises 401 unless the bearer token matches STOCKDB_API_TOKEN."""
    secret = ctx.app.settings.api_token
    expected = secret.get_secret_value() if secret is not None else None
    presented = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        presented = credentials.credentials
    if not check_token(expected, presented):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


RequireToken = Depends(require_token)
