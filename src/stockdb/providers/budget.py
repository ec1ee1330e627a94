"""The rate budget of one Alpaca account as plain data, and the two steps that change it.

This is the in-process :class:`~stockdb.providers.throttle.RateLimiter`'s schedule written as
pure functions over a :class:`Budget` record, so a budget can live outside the process: the
PostgreSQL limiter runs these functions inside a row-locked transaction, and the Redis
limiter's Lua script performs the same steps, operation for operation (the tests compare
the two). A budget knows the quota per window, how many requests are left until the reset,
the theoretical arrival time of the next request (a cell-rate schedule that spreads the
remaining quota to the reset and lets ``burst`` requests go back to back), and the grants
in flight: requests sent but not yet answered, each with an expiry, so a process killed
while holding one leaks it for at most one window.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Budget", "BudgetParams", "BudgetUnavailable", "grant", "learn", "release"]

SAME_WINDOW_S = 0.5  # resets this close together name the same quota window
EPSILON_S = 1e-6  # closer than this is "now"
MIN_SLEEP_S = 1e-3  # never spin on sleeps too short to move a clock
PROBE_POLL_S = 0.02  # look again this soon while the probe that names the quota is out


class BudgetUnavailable(Exception):
    """A shared budget store could not be read or written (carries no URL or secret)."""


@dataclass(frozen=True, slots=True)
class BudgetParams:
    """How a limiter paces: assumed quota before the first header, burst, reset margin."""

    limit: int = 200
    window_s: float = 60.0
    burst: int = 5
    reset_margin_s: float = 0.05


@dataclass(slots=True)
class Budget:
    """One account's shared budget (see the module docstring); ``last_header_reset`` is
    None until a response has named the quota."""

    limit: int
    window_s: float
    remaining: int
    reset_at: float | None = None
    known: bool = False  # reset_at came from a response header
    tat: float | None = None
    last_header_reset: float | None = None
    grants: dict[str, float] = field(default_factory=dict)  # grant id -> expiry

    @classmethod
    def fresh(cls, params: BudgetParams) -> Budget:
        return cls(limit=params.limit, window_s=params.window_s, remaining=params.limit)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Budget:
        return cls(
            limit=int(data["limit"]),
            window_s=float(data["window_s"]),
            remaining=int(data["remaining"]),
            reset_at=None if data.get("reset_at") is None else float(data["reset_at"]),
            known=bool(data.get("known", False)),
            tat=None if data.get("tat") is None else float(data["tat"]),
            last_header_reset=(
                None if data.get("last_header_reset") is None else float(data["last_header_reset"])
            ),
            grants={str(k): float(v) for k, v in dict(data.get("grants", {})).items()},
        )


def _purge(budget: Budget, now: float) -> None:
    """Forget grants whose holder never answered within their lease."""
    for gid in [g for g, expiry in budget.grants.items() if expiry <= now]:
        del budget.grants[gid]


def _roll(budget: Budget, now: float, margin: float) -> None:
    """Open a fresh window when the known or assumed reset has passed."""
    if budget.reset_at is None:
        budget.reset_at = now + budget.window_s
        budget.known = False
        return
    if now < budget.reset_at + (margin if budget.known else 0.0):
        return
    # grants still in flight may reach the server after its reset: count them in the new window
    budget.remaining = max(0, budget.limit - len(budget.grants))
    windows = max(1, math.ceil((now - budget.reset_at) / budget.window_s))
    budget.reset_at += windows * budget.window_s
    budget.known = False
    budget.tat = None  # the first request of a window goes at once


def grant(budget: Budget, now: float, grant_id: str, params: BudgetParams) -> float:
    """Take one request from ``budget`` at ``now`` and return 0.0, or return the seconds to
    wait before asking again (the budget is then unchanged but for expired grants and a
    window that rolled over). A taken request is held as ``grant_id`` for one window."""
    _purge(budget, now)
    _roll(budget, now, params.reset_margin_s)
    assert budget.reset_at is not None
    if budget.remaining <= 0:
        return max(budget.reset_at + params.reset_margin_s - now, MIN_SLEEP_S)
    if budget.last_header_reset is None and budget.grants:
        return PROBE_POLL_S  # the quota is unknown: its probe must answer first
    spacing = max(0.0, budget.reset_at - now) / budget.remaining
    tat = now if budget.tat is None else max(budget.tat, now)
    ahead = tat - now - (params.burst - 1) * spacing
    if ahead > EPSILON_S:
        return max(ahead, MIN_SLEEP_S)
    budget.remaining -= 1
    budget.tat = tat + spacing
    budget.grants[grant_id] = now + budget.window_s
    return 0.0


def release(budget: Budget, now: float, grant_id: str | None) -> None:
    """The request held as ``grant_id`` got no response: it is no longer in flight."""
    if grant_id is not None:
        budget.grants.pop(grant_id, None)
    _purge(budget, now)


def learn(
    budget: Budget,
    now: float,
    grant_id: str | None,
    limit: int | None,
    remaining: int | None,
    reset: float | None,
    *,
    rate_limited: bool = False,
    retry_after: float | None = None,
) -> None:
    """Learn from one response's X-RateLimit-* values (None when absent); ``rate_limited``
    marks a 429. A reset matching the budget's window can only lower the remaining count
    and makes the window known; a later (or, before the window is known, any other) one
    opens that window with the header's count less the grants in flight; an earlier one is
    stale and ignored. A 429 then holds the budget (see :func:`_hold`)."""
    release(budget, now, grant_id)
    if limit:
        budget.limit = limit
    if reset is not None:
        _learn_reset(budget, now, remaining, reset, rate_limited)
    if rate_limited:
        _hold(budget, now, reset, retry_after)


def _hold(budget: Budget, now: float, reset: float | None, retry_after: float | None) -> None:
    """A 429 empties the budget until the later of its reset, its ``retry_after`` (seconds)
    and the budget's own reset; one whose reset has passed is stale and changes nothing."""
    until = reset if reset is not None and reset > now else None
    if retry_after is not None and now + retry_after > now:
        resume = now + retry_after
        if until is None or resume > until:
            until = resume
    if reset is not None and until is None:
        return
    budget.remaining = 0
    if until is not None and (budget.reset_at is None or until > budget.reset_at):
        budget.reset_at = until


def _learn_reset(
    budget: Budget, now: float, remaining: int | None, reset: float, rate_limited: bool
) -> None:
    """The X-RateLimit-Reset part of :func:`learn`."""
    last = budget.last_header_reset
    if last is not None and reset > last + SAME_WINDOW_S:
        budget.window_s = min(budget.window_s, max(reset - last, 1.0))
    budget.last_header_reset = reset if last is None else max(last, reset)
    if remaining is None:
        remaining = 0 if rate_limited else budget.remaining
    if budget.reset_at is not None and abs(reset - budget.reset_at) <= SAME_WINDOW_S:
        # our own window: every grant of it is already counted, so the header can only
        # lower the count (use from elsewhere); subtracting the grants in flight again
        # would count twice those the server has seen but whose answers are not learnt yet
        budget.remaining = min(budget.remaining, remaining)
        budget.reset_at = reset
        budget.known = True
    elif not budget.known or budget.reset_at is None or reset > budget.reset_at:
        # a window we did not count ourselves: trust the header, less what is in flight
        _adopt(budget, reset, max(0, remaining - len(budget.grants)), now)


def _adopt(budget: Budget, reset: float, remaining: int, now: float) -> None:
    """Take a header's window as the truth."""
    if reset <= now:
        # the header's window already ended: the server's next one is on the same grid, and
        # requests still in flight may land in it, so they are not ours to spend again
        passed = math.floor((now - reset) / budget.window_s) + 1
        budget.reset_at = reset + passed * budget.window_s
        budget.known = False
        budget.remaining = max(0, budget.limit - len(budget.grants))
        return
    budget.reset_at = reset
    budget.known = True
    budget.remaining = remaining
    budget.tat = None
