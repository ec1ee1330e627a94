"""JSON logging set up once per process: one formatter, stderr plus the state-store sink.

Every record becomes one JSON line with ``timestamp, level, logger, agent, symbol, stage,
message, job_id`` and any extras. Secrets never leave the process: values under keys that
look secret are masked, and the configured key values are masked wherever they appear.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

import orjson

from stockdb.config import Settings

if TYPE_CHECKING:
    from stockdb.state.store import StateStore

__all__ = [
    "CONTEXT_FIELDS",
    "JsonFormatter",
    "LoggingHandle",
    "Scrubber",
    "log_context",
    "record_fields",
    "setup_logging",
]

CONTEXT_FIELDS = ("agent", "symbol", "stage", "job_id")
_SECRET_KEY_PARTS = ("secret", "key_id", "token", "authorization", "password", "api_key")
_MASK = "***"
_MARKER = "_stockdb_handler"
# Attributes every LogRecord has; anything else on a record is an "extra".
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_NOISY = ("huey", "huey.consumer", "httpx", "httpcore", "urllib3", "asyncio")

_context: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "stockdb_log_context", default=None
)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Attach ``fields`` (agent, symbol, stage, job_id, ...) to every record logged inside."""
    token = _context.set(
        {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    )
    try:
        yield
    finally:
        _context.reset(token)


@dataclass(frozen=True, slots=True)
class Scrubber:
    """Masks secret-looking keys and the configured secret values in any JSON-able value."""

    secrets: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Scrubber:
        values = [
            s.get_secret_value()
            for s in (
                settings.alpaca_key_id,
                settings.alpaca_secret_key,
                settings.api_token,
                settings.iex_token,
            )
            if s is not None
        ]
        # Short values would mask ordinary words; real keys are long.
        return cls(tuple(v for v in values if len(v) >= 6))

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, _MASK)
        return value

    def value(self, value: Any, key: str = "") -> Any:
        lowered = key.lower()
        if lowered and any(part in lowered for part in _SECRET_KEY_PARTS) and value:
            return _MASK
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {str(k): self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [self.value(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.text(str(value))


def record_fields(record: logging.LogRecord, scrubber: Scrubber, agent: str | None) -> dict:
    """The JSON fields of ``record``: required fields first, then scrubbed extras."""
    extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}
    context = dict(_context.get() or {})
    fields: dict[str, Any] = {
        "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
            timespec="milliseconds"
        ),
        "level": record.levelname,
        "logger": record.name,
    }
    for name in CONTEXT_FIELDS:
        fields[name] = extras.pop(name, None) or context.pop(name, None)
    if fields["agent"] is None:
        fields["agent"] = agent
    fields["message"] = scrubber.text(record.getMessage())
    for key, value in {**context, **extras}.items():
        fields[key] = scrubber.value(value, key)
    if record.exc_info and record.exc_info[0] is not None:
        fields["exception"] = scrubber.text(logging.Formatter().formatException(record.exc_info))
    for name in CONTEXT_FIELDS:
        if fields[name] is not None:
            fields[name] = scrubber.value(fields[name], name if name != "job_id" else "")
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line (orjson; non-JSON values become strings)."""

    def __init__(self, scrubber: Scrubber, agent: str | None = None) -> None:
        super().__init__()
        self.scrubber = scrubber
        self.agent = agent

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record, self.scrubber, self.agent)
        return orjson.dumps(fields, default=str).decode()


@dataclass(slots=True)
class LoggingHandle:
    """What :func:`setup_logging` installed; ``close()`` flushes and removes it."""

    handlers: list[logging.Handler] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)
    previous_level: int = logging.WARNING

    def flush(self) -> None:
        for handler in self.handlers:
            handler.flush()
        for closer in self.closers:
            flush = getattr(closer, "flush", None)
            if flush is not None:
                flush()

    def close(self) -> None:
        root = logging.getLogger()
        for handler in self.handlers:
            root.removeHandler(handler)
            handler.close()
        for closer in self.closers:
            closer.close()
        self.handlers.clear()
        self.closers.clear()
        root.setLevel(self.previous_level)


def _otel_handler(endpoint: str) -> logging.Handler | None:
    """An OpenTelemetry log handler exporting to ``endpoint``; None when the extra is absent."""
    try:
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    except ImportError:
        print(
            "warning: OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed; "
            "install it with: pip install 'stockdb[otel]'",
            file=sys.stderr,
        )
        return None
    provider = LoggerProvider()
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    set_logger_provider(provider)
    handler: logging.Handler = LoggingHandler(logger_provider=provider)
    handler.set_name(f"otel:{endpoint}")
    return handler


def setup_logging(
    settings: Settings,
    agent: str | None = None,
    state: StateStore | None = None,
    stream: IO[str] | None = None,
    level: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoggingHandle:
    """Install the JSON formatter on stderr (or ``stream``) and, given the App's ``state``
    store, the sink that writes records into its ``logs`` table.

    Replaces handlers a previous call installed, quiets noisy libraries, and adds an
    OpenTelemetry exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (with a warning when
    the ``otel`` extra is missing). Returns a handle whose ``close()`` flushes everything.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARKER, False)]:
        root.removeHandler(old)
        old.close()
    scrubber = Scrubber.from_settings(settings)
    formatter = JsonFormatter(scrubber, agent)
    handle = LoggingHandle(previous_level=root.level)
    console = logging.StreamHandler(stream or sys.stderr)
    console.setFormatter(formatter)
    handle.handlers.append(console)
    if state is not None:
        from stockdb.obs.sink import StateLogSink

        sink = StateLogSink(state, scrubber, agent)
        handle.handlers.append(sink.handler)
        handle.closers.append(sink)
    endpoint = (
        settings.otel_endpoint if environ is None else environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    if endpoint:
        otel = _otel_handler(endpoint)
        if otel is not None:
            handle.handlers.append(otel)
    for handler in handle.handlers:
        setattr(handler, _MARKER, True)
        root.addHandler(handler)
    root.setLevel((level or settings.log_level).upper())
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handle
