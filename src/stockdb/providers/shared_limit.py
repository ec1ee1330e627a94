"""One Alpaca rate budget for every process on every host: Redis, or PostgreSQL as fallback.

Alpaca's limit is per account, so workers sharing a key must draw from one budget. When the
queue is Redis, the budget (:mod:`stockdb.providers.budget`) lives in a Redis hash and a
sorted set of in-flight grants, changed only by one atomic Lua script; when the state store
is PostgreSQL (and the queue is not Redis), it lives in one row changed inside a
``SELECT ... FOR UPDATE`` transaction. Every process feeds the ``X-RateLimit-*`` headers it
sees into the same budget. The embedded default (SQLite, no Redis) keeps the in-process
:class:`~stockdb.providers.throttle.RateLimiter`.

A grant is in flight until its response (or failure) is recorded, and expires one window
after it was taken, so a worker killed with ``kill -9`` while holding one leaks it for at
most one window. Until a response names the quota, the fleet sends one request at a time;
a 429 empties the budget for everyone until its reset (``X-RateLimit-Reset`` or
``Retry-After``). If the shared store cannot be reached, a limiter logs one warning and paces
in-process until it can again: requests are never blocked by a broken budget store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from stockdb.clock import Clock, SystemClock
from stockdb.config import Settings
from stockdb.providers import budget as model
from stockdb.providers.budget import Budget, BudgetParams, BudgetUnavailable
from stockdb.providers.redis_budget import RedisBudgetStore
from stockdb.providers.throttle import (
    RateLimiter,
    RateLimitHeaders,
    RateLimitState,
    RequestPacer,
    parse_rate_limit_headers,
)
from stockdb.state.store import StateStore

__all__ = [
    "BudgetStore",
    "BudgetUnavailable",
    "PostgresBudgetStore",
    "SharedRateLimiter",
    "budget_key",
    "make_rate_limiter",
    "retry_after_s",
]

log = logging.getLogger("stockdb.alpaca.limit")
_T = TypeVar("_T")
_LOCAL = "<local>"  # a grant of the in-process fallback limiter
# Alpaca counts requests per fixed window: the fleet spends a window's quota as soon as its
# workers ask (a burst as large as any plan's quota), so a slow worker wastes no window
FLEET_BURST = 10_000


class BudgetStore(Protocol):
    """Atomic steps on one account's shared budget; each raises BudgetUnavailable."""

    def grant(self, now: float, grant_id: str, params: BudgetParams) -> tuple[float, int]:
        """0.0 (granted) or the seconds to wait, and the grants in flight."""
        ...

    def learn(
        self,
        now: float,
        grant_id: str | None,
        headers: RateLimitHeaders,
        rate_limited: bool,
        retry_after: float | None = None,
    ) -> None: ...

    def release(self, now: float, grant_id: str | None) -> None: ...

    def snapshot(self, params: BudgetParams) -> Budget: ...

    def close(self) -> None: ...


def budget_key(settings: Settings) -> str:
    """The account's budget name: a hash of the API base URL and key id (never the secret)."""
    key_id = settings.alpaca_key_id.get_secret_value() if settings.alpaca_key_id else ""
    raw = f"{settings.alpaca_base_url}\0{key_id}".encode()
    return "stockdb:ratelimit:" + hashlib.blake2b(raw, digest_size=12).hexdigest()


def retry_after_s(headers: Mapping[str, str], now: float) -> float | None:
    """A ``Retry-After`` header as seconds from ``now`` (delta-seconds or an HTTP date), or
    None when absent, malformed or not in the future."""
    raw = (headers.get("Retry-After") or "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() - now
    return seconds if math.isfinite(seconds) and seconds > 0 else None


class PostgresBudgetStore:
    """The budget as one JSON row of ``stockdb_rate_budgets``, changed under a row lock."""

    def __init__(self, engine: Engine, key: str) -> None:
        self._engine = engine
        self._key = key
        self._ready = False
        self._lock = threading.Lock()

    def _ensure_table(self) -> None:
        with self._lock:
            if self._ready:
                return
            with self._engine.begin() as conn:
                # one creator at a time: concurrent CREATE TABLE IF NOT EXISTS can collide
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('stockdb_rate_budgets'))"))
                conn.execute(
                    text(
                        "CREATE TABLE IF NOT EXISTS stockdb_rate_budgets "
                        "(key TEXT PRIMARY KEY, state TEXT NOT NULL)"
                    )
                )
            self._ready = True

    def _apply(self, params: BudgetParams, step: Callable[[Budget], _T], write: bool = True) -> _T:
        try:
            self._ensure_table()
            with self._engine.begin() as conn:
                fresh = json.dumps(Budget.fresh(params).to_json())
                conn.execute(
                    text(
                        "INSERT INTO stockdb_rate_budgets (key, state) VALUES (:k, :s) "
                        "ON CONFLICT (key) DO NOTHING"
                    ),
                    {"k": self._key, "s": fresh},
                )
                raw = conn.execute(
                    text("SELECT state FROM stockdb_rate_budgets WHERE key = :k FOR UPDATE"),
                    {"k": self._key},
                ).scalar_one()
                budget = Budget.from_json(json.loads(raw))
                result = step(budget)
                if write:
                    conn.execute(
                        text("UPDATE stockdb_rate_budgets SET state = :s WHERE key = :k"),
                        {"k": self._key, "s": json.dumps(budget.to_json())},
                    )
                return result
        except SQLAlchemyError as exc:
            raise BudgetUnavailable(f"PostgreSQL budget: {type(exc).__name__}") from exc

    def grant(self, now: float, grant_id: str, params: BudgetParams) -> tuple[float, int]:
        def step(b: Budget) -> tuple[float, int]:
            return model.grant(b, now, grant_id, params), len(b.grants)

        return self._apply(params, step)

    def learn(
        self,
        now: float,
        grant_id: str | None,
        headers: RateLimitHeaders,
        rate_limited: bool,
        retry_after: float | None = None,
    ) -> None:
        self._apply(
            BudgetParams(),
            lambda b: model.learn(
                b,
                now,
                grant_id,
                headers.limit,
                headers.remaining,
                headers.reset_at,
                rate_limited=rate_limited,
                retry_after=retry_after,
            ),
        )

    def release(self, now: float, grant_id: str | None) -> None:
        self._apply(BudgetParams(), lambda b: model.release(b, now, grant_id))

    def snapshot(self, params: BudgetParams) -> Budget:
        return self._apply(params, lambda b: b, write=False)

    def close(self) -> None:
        """The engine belongs to the state store."""


class SharedRateLimiter:
    """A :class:`~stockdb.providers.throttle.RequestPacer` over a shared :class:`BudgetStore`.

    Thread-safe: each thread's grant is remembered until that thread records its response.
    """

    def __init__(
        self,
        store: BudgetStore,
        clock: Clock | None = None,
        *,
        params: BudgetParams | None = None,
        poll_s: float = 0.25,
    ) -> None:
        self._store = store
        self._clock: Clock = clock or SystemClock()
        self._params = params or BudgetParams(burst=FLEET_BURST)
        self._poll_s = poll_s
        self._local = threading.local()
        self._fallback = RateLimiter(
            self._clock,
            limit=self._params.limit,
            window_s=self._params.window_s,
            burst=self._params.burst,
            reset_margin_s=self._params.reset_margin_s,
        )
        self._warned = False

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _unavailable(self, exc: BudgetUnavailable) -> None:
        if not self._warned:
            self._warned = True
            log.warning("shared rate budget unavailable (%s); pacing in-process", exc)

    def acquire(self) -> float:
        """Block (on the clock) until the shared budget grants a request. Never raises."""
        waited = 0.0
        while True:
            grant_id = uuid.uuid4().hex
            try:
                delay, in_flight = self._store.grant(self._now(), grant_id, self._params)
            except BudgetUnavailable as exc:
                self._unavailable(exc)
                self._local.grant = _LOCAL
                return waited + self._fallback.acquire()
            if delay <= 0.0:
                self._local.grant = grant_id
                return waited
            if in_flight > 0:
                delay = min(delay, self._poll_s)  # an answer may change the picture
            self._clock.sleep(delay)
            waited += delay

    def _take_grant(self) -> str | None:
        grant: str | None = getattr(self._local, "grant", None)
        self._local.grant = None
        return grant

    def record_failure(self) -> None:
        grant = self._take_grant()
        if grant == _LOCAL:
            self._fallback.record_failure()
            return
        try:
            self._store.release(self._now(), grant)
        except BudgetUnavailable as exc:
            self._unavailable(exc)

    def record_response(self, headers: Mapping[str, str], *, rate_limited: bool = False) -> None:
        grant = self._take_grant()
        if grant == _LOCAL:
            self._fallback.record_response(headers, rate_limited=rate_limited)
            return
        now = self._now()
        retry_after = retry_after_s(headers, now) if rate_limited else None
        try:
            self._store.learn(
                now, grant, parse_rate_limit_headers(headers), rate_limited, retry_after
            )
        except BudgetUnavailable as exc:
            self._unavailable(exc)

    def state(self) -> RateLimitState:
        """The shared budget now (for logs and tests); raises BudgetUnavailable."""
        b = self._store.snapshot(self._params)
        return RateLimitState(b.limit, b.remaining, b.reset_at, b.window_s, len(b.grants))

    def close(self) -> None:
        self._store.close()


def make_rate_limiter(
    settings: Settings, clock: Clock, state: Callable[[], StateStore], **kwargs: Any
) -> RequestPacer:
    """Redis budget when the queue is Redis, PostgreSQL when the state store is, else the
    in-process limiter. ``state`` is called only for the PostgreSQL choice."""
    queue = settings.queue_url or ""
    if settings.queue_is_redis:
        return SharedRateLimiter(RedisBudgetStore(queue, budget_key(settings)), clock, **kwargs)
    if settings.state_database_url.startswith("postgresql"):
        store = PostgresBudgetStore(state().engine, budget_key(settings))
        return SharedRateLimiter(store, clock, **kwargs)
    return RateLimiter(clock=clock)
