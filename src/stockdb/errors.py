"""The error tree: each class encodes what the caller should do about it.

    StockDBError
     ├── TransientError            retry later (with backoff)
     │    ├── RateLimited          wait until reset_at
     │    ├── UpstreamUnavailable  5xx, connection refused or dropped
     │    └── UpstreamTimeout      no answer in time
     ├── PermanentError            retrying will not help
     │    ├── AuthError            wrong keys or insufficient subscription
     │    ├── BadRequest           the upstream refused our parameters
     │    └── UnknownSymbol
     ├── InvalidInput              the user's input is malformed (CLI exit 2, HTTP 422/400)
     ├── NotFound                  the thing asked for does not exist (HTTP 404)
     ├── Conflict                  the request contradicts stored state (HTTP 409)
     ├── DataIntegrityError        stored or served data breaks an invariant
     │    └── DamagedPartition     a stored file is unreadable or fails its checksum
     ├── StorageError              the disk refused a write (full, read-only, permissions)
     └── ConfigError               the configuration is unusable

Library errors are translated at the adapter (``raise ... from exc``); only transient ones are
retried; :func:`exit_code` and :func:`http_status` map the tree for the CLI and the API.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "AuthError",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "DamagedPartition",
    "DataIntegrityError",
    "InvalidInput",
    "NotFound",
    "PermanentError",
    "RateLimited",
    "StockDBError",
    "StorageError",
    "TransientError",
    "UnknownSymbol",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "exit_code",
    "http_status",
]


class StockDBError(Exception):
    """Base of every error stockdb raises on purpose; its message is safe to show a user."""


class TransientError(StockDBError):
    """A failure that may go away by itself; retry with backoff."""


class RateLimited(TransientError):
    """The upstream said 429; ``reset_at`` is when the quota refills, if it said."""

    def __init__(self, message: str, reset_at: datetime | None = None) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class UpstreamUnavailable(TransientError):
    """The upstream answered 5xx or the connection failed."""


class UpstreamTimeout(TransientError):
    """The upstream did not answer within the timeout."""


class PermanentError(StockDBError):
    """A failure that retrying cannot fix."""


class AuthError(PermanentError):
    """Credentials are missing, wrong, or do not permit the request."""


class BadRequest(PermanentError):
    """The upstream rejected the request's parameters."""


class UnknownSymbol(PermanentError):
    """The symbol is not known to the provider or the lake."""


class InvalidInput(StockDBError):
    """User input is malformed: a bad symbol, date, timeframe or limit."""


class NotFound(StockDBError):
    """The requested object does not exist."""


class Conflict(StockDBError):
    """The request contradicts stored state (e.g. mixing providers in one symbol)."""


class DataIntegrityError(StockDBError):
    """Data breaks an invariant (bad bars, hash mismatch, corrupt file)."""


class DamagedPartition(DataIntegrityError):
    """A stored partition file is unreadable, truncated or differs from its ledger checksum.

    The message names the partition and the repair command; ``path`` is the damaged file.
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class StorageError(StockDBError):
    """The filesystem refused a write: disk full, read-only or permission denied."""


class ConfigError(StockDBError):
    """The configuration cannot be used as given."""


_EXIT_CODES: tuple[tuple[type[StockDBError], int], ...] = (
    (InvalidInput, 2),
    (NotFound, 3),
    (Conflict, 4),
    (AuthError, 5),
    (ConfigError, 6),
    (StorageError, 7),
    (DataIntegrityError, 8),
    (TransientError, 9),
    (PermanentError, 10),
)

_HTTP_STATUS: tuple[tuple[type[StockDBError], int], ...] = (
    (InvalidInput, 422),
    (UnknownSymbol, 404),
    (NotFound, 404),
    (Conflict, 409),
    (AuthError, 502),
    (BadRequest, 502),
    (RateLimited, 503),
    (TransientError, 503),
    (StorageError, 507),
    (ConfigError, 500),
    (DataIntegrityError, 500),
)


def exit_code(error: StockDBError) -> int:
    """The CLI exit status for ``error`` (always non-zero)."""
    for cls, code in _EXIT_CODES:
        if isinstance(error, cls):
            return code
    return 1


def http_status(error: StockDBError) -> int:
    """The HTTP status the API answers ``error`` with."""
    for cls, code in _HTTP_STATUS:
        if isinstance(error, cls):
            return code
    return 500
