"""Error handlers: every failure answers ``{"detail": "..."}``, never a trace or a secret."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from stockdb.api.schemas import ErrorResponse
from stockdb.errors import StockDBError, StorageError, http_status
from stockdb.obs.redact import Redactor

__all__ = [
    "ERROR_RESPONSES",
    "MUTATING_ERROR_RESPONSES",
    "install_error_handlers",
    "json_response",
    "validation_detail",
]

log = logging.getLogger("stockdb.api")

_ERROR: dict[str, Any] = {"model": ErrorResponse}
# Documented on every route so a client (and schemathesis) knows each code's body.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {**_ERROR, "description": "Unknown symbol, job or agent, or nothing stored"},
    409: {**_ERROR, "description": "The request contradicts stored state"},
    422: {**_ERROR, "description": "Malformed input (symbol, date, timeframe, limit...)"},
    500: {**_ERROR, "description": "Unexpected server error (details are in the server log)"},
    502: {**_ERROR, "description": "The upstream data provider refused the request"},
    503: {**_ERROR, "description": "The upstream is unavailable or rate-limited; retry later"},
    507: {**_ERROR, "description": "The disk refused a write"},
}
MUTATING_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {**_ERROR, "description": "Missing or wrong bearer token (when STOCKDB_API_TOKEN is set)"},
}
GENERIC_500 = "internal server error; see the server log"


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON response serialised with orjson (datetimes as ISO-8601, NaN as null)."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def _error(status_code: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"detail": detail}, status_code, headers)


def validation_detail(errors: Sequence[Any]) -> str:
    """One line naming each bad parameter and why, without echoing the (possibly huge) input."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body", "header")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _redactor(request: Request) -> Redactor:
    """Paths in the data dir of the serving App read as ``$STOCKDB_DATA_DIR/...``."""
    ctx = getattr(request.app.state, "stockdb", None)
    settings = getattr(getattr(ctx, "app", None), "settings", None)
    return Redactor(getattr(settings, "data_dir", None))


async def _on_stockdb_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StockDBError)
    status = http_status(exc)
    if status >= 500:
        log.warning("request failed: %s: %s", type(exc).__name__, exc)
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return _error(status, _redactor(request).text(detail) if "/" in detail else detail)


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _error(422, validation_detail(exc.errors()))


async def _on_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)


async def _on_os_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OSError)
    log.error("storage error: %s", exc)
    err = StorageError(exc.strerror or "the disk refused the operation")
    return _error(http_status(err), str(err))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, GENERIC_500)


def install_error_handlers(app: FastAPI) -> None:
    """Map the StockDBError tree (stockdb.errors.http_status), validation, OS and other errors."""
    app.add_exception_handler(StockDBError, _on_stockdb_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(OSError, _on_os_error)
    app.add_exception_handler(Exception, _on_unexpected)
