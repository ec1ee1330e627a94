"""Pure rules of the jobs layer: dedupe keys, backoff, handler registry, the SIP delay."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from stockdb.errors import ConfigError, InvalidInput, RateLimited, UpstreamUnavailable
from stockdb.jobs.executor import JOB_RETRY
from stockdb.jobs.handlers import HandlerRegistry, json_safe
from stockdb.jobs.live import SIP_FREE_DELAY, live_delay
from stockdb.jobs.service import ingest_key
from stockdb.providers.base import ProviderStats

NOW = datetime(2024, 3, 5, 15, tzinfo=UTC)


def test_ingest_key_ignores_symbol_order() -> None:
    a = ingest_key(["SPY", "QQQ"], date(2024, 1, 2), date(2024, 1, 31))
    assert a == ingest_key(["QQQ", "SPY"], date(2024, 1, 2), date(2024, 1, 31))
    assert a == "ingest:QQQ,SPY:2024-01-02:2024-01-31"
    assert a != ingest_key(["SPY", "QQQ"], date(2024, 1, 2), date(2024, 2, 1))


@pytest.mark.parametrize("attempt", [1, 2, 3, 6, 20])
def test_job_backoff_grows_and_is_capped(attempt: int) -> None:
    rng = random.Random(attempt)
    ceiling = min(300.0, 2.0 * 2 ** (attempt - 1))
    for _ in range(50):
        delay = JOB_RETRY.delay_for(UpstreamUnavailable("503"), attempt, NOW, rng)
        assert ceiling / 2 <= delay <= ceiling


def test_job_backoff_waits_for_a_rate_limit_reset() -> None:
    error = RateLimited("429", reset_at=NOW + timedelta(seconds=42))
    delay = JOB_RETRY.delay_for(error, 1, NOW, random.Random(0))
    assert delay == pytest.approx(42.0, abs=0.1)


def test_registry_rejects_unknown_and_unavailable_kinds() -> None:
    registry = HandlerRegistry(lazy={"train": "stockdb.no_such_module:handle"})
    with pytest.raises(ConfigError, match="not available"):
        registry.get("train")
    with pytest.raises(ConfigError, match="no handler"):
        registry.get("nope")
    with pytest.raises(InvalidInput):
        registry.register("bad kind!", lambda *a: {})
    registry.register("custom", lambda *a: {"ok": 1})
    assert registry.get("custom")(None, {}, None, None) == {"ok": 1}  # type: ignore[arg-type]
    assert "custom" in registry.kinds() and "train" in registry.kinds()


def test_json_safe_turns_dates_and_dataclasses_into_json() -> None:
    value = {"when": date(2024, 1, 2), "stats": ProviderStats(requests=2), "s": {1}}
    assert json_safe(value) == {
        "when": "2024-01-02",
        "stats": {"requests": 2, "retries": 0, "rate_limited": 0, "wait_s": 0.0, "rows": 0},
        "s": [1],
    }


class Source:
    stats = ProviderStats()

    def __init__(self, name: str, feed: str) -> None:
        self.name, self.feed = name, feed


def test_only_alpaca_sip_on_a_free_plan_stays_behind() -> None:
    assert live_delay(Source("alpaca", "sip")) == SIP_FREE_DELAY == timedelta(minutes=15)  # type: ignore[arg-type]
    assert live_delay(Source("alpaca", "sip"), sip_realtime=True) == timedelta(0)  # type: ignore[arg-type]
    assert live_delay(Source("alpaca", "iex")) == timedelta(0)  # type: ignore[arg-type]
    assert live_delay(Source("synthetic", "synthetic")) == timedelta(0)  # type: ignore[arg-type]
