"""A fleet limiter whose Redis cannot be reached paces in-process instead of failing, warns
once without the URL, and the embedded default stays the in-process limiter."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime

import pytest

from stockdb.clock import ManualClock
from stockdb.config import Settings
from stockdb.providers.budget import BudgetParams
from stockdb.providers.redis_budget import RedisBudgetStore
from stockdb.providers.shared_limit import SharedRateLimiter, make_rate_limiter
from stockdb.providers.throttle import RateLimiter


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def test_unreachable_redis_falls_back_to_in_process_pacing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(datetime(2024, 3, 5, 15, tzinfo=UTC))
    url = f"redis://:s3cret@127.0.0.1:{closed_port()}/0"
    limiter = SharedRateLimiter(
        RedisBudgetStore(url, "k"), clock, params=BudgetParams(limit=3, window_s=60.0, burst=3)
    )
    with caplog.at_level(logging.WARNING, logger="stockdb.alpaca.limit"):
        for _ in range(3):
            assert limiter.acquire() == 0.0
            limiter.record_response({"X-RateLimit-Limit": "3"})
        waited = limiter.acquire()  # the local fallback's quota of 3 is spent: it waits
        limiter.record_failure()
    assert waited > 0.0
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "in-process" in warnings[0]
    assert "s3cret" not in warnings[0] and "127.0.0.1" not in warnings[0]
    limiter.close()


def test_embedded_settings_keep_the_in_process_limiter(tmp_path: object) -> None:
    settings = Settings(data_dir=tmp_path)  # type: ignore[arg-type]
    clock = ManualClock(datetime(2024, 3, 5, tzinfo=UTC))

    def no_state() -> object:
        raise AssertionError("the embedded default must not open the state store")

    assert isinstance(make_rate_limiter(settings, clock, no_state), RateLimiter)  # type: ignore[arg-type]
