"""The JSON formatter: required fields, context, extras, and secrets that never appear."""

from __future__ import annotations

import logging

import orjson
from pydantic import SecretStr

from stockdb.config import Settings
from stockdb.obs.logging import JsonFormatter, Scrubber, log_context

KEY, SECRET = "AKTESTKEY12345", "s3cr3t-value-abcdef"


def record(msg: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("stockdb.test", level, __file__, 1, msg, None, None)
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def formatter() -> JsonFormatter:
    settings = Settings(alpaca_key_id=SecretStr(KEY), alpaca_secret_key=SecretStr(SECRET))
    return JsonFormatter(Scrubber.from_settings(settings), agent="worker")


def test_required_fields_context_and_extras() -> None:
    with log_context(job_id="j1", stage="ingest"):
        line = formatter().format(record("persisted", symbol="SPY", rows=390))
    data = orjson.loads(line)
    assert list(data)[:8] == [
        "timestamp",
        "level",
        "logger",
        "agent",
        "symbol",
        "stage",
        "job_id",
        "message",
    ]
    assert data["timestamp"].endswith("+00:00")
    assert (data["level"], data["agent"], data["symbol"], data["stage"], data["job_id"]) == (
        "INFO",
        "worker",
        "SPY",
        "ingest",
        "j1",
    )
    assert (data["message"], data["rows"]) == ("persisted", 390)
    outside = orjson.loads(formatter().format(record("later")))
    assert outside["job_id"] is None and outside["stage"] is None


def test_secrets_never_appear() -> None:
    lines = [
        formatter().format(
            record(f"calling with key {KEY}", headers={"Authorization": "Bearer x"})
        ),
        formatter().format(record("params", api_secret_key="abc", params={"token": "t0k"})),
        formatter().format(record("nested", detail=[f"secret is {SECRET}"])),
    ]
    for line in lines:
        assert (
            KEY not in line and SECRET not in line and "Bearer x" not in line and "t0k" not in line
        )
        orjson.loads(line)
    assert orjson.loads(lines[1])["api_secret_key"] == "***"


def test_exceptions_are_one_json_line() -> None:
    try:
        raise ValueError(f"boom {SECRET}")
    except ValueError:
        import sys

        rec = record("failed", level=logging.ERROR)
        rec.exc_info = sys.exc_info()
    line = formatter().format(rec)
    assert "\n" not in line and SECRET not in line
    assert "ValueError" in orjson.loads(line)["exception"]
