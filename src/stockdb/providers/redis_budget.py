"""The shared Alpaca rate budget in Redis, changed only by one atomic Lua script.

The budget of :mod:`stockdb.providers.budget` is kept as a hash (``<key>``) plus a sorted set
of in-flight grants scored by their expiry (``<key>:grants``). The script below performs
:func:`~stockdb.providers.budget.grant`, :func:`~stockdb.providers.budget.learn` and
:func:`~stockdb.providers.budget.release` step for step; Redis runs a script atomically, so
any number of processes on any number of hosts see one consistent budget. Numbers are kept
as ``%.17g`` strings, which round-trip doubles exactly. Both keys expire after ten idle
windows, so an abandoned budget cleans itself up.
"""

from __future__ import annotations

from typing import Any

from stockdb.providers.budget import Budget, BudgetParams, BudgetUnavailable
from stockdb.providers.throttle import RateLimitHeaders

__all__ = ["BUDGET_SCRIPT", "RedisBudgetStore"]

BUDGET_SCRIPT = """
local h, z = KEYS[1], KEYS[2]
local op, now = ARGV[1], tonumber(ARGV[2])
local p_limit, p_window = tonumber(ARGV[3]), tonumber(ARGV[4])
local burst, margin, gid = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local SAME, EPS, MIN_SLEEP, PROBE = 0.5, 1e-6, 1e-3, 0.02

local function num(name)
  local v = redis.call('HGET', h, name)
  if v then return tonumber(v) end
  return nil
end
local function fmt(x)
  if x == nil then return '' end
  return string.format('%.17g', x)
end

local limit = num('limit') or p_limit
local window = num('window_s') or p_window
local remaining = num('remaining') or limit
local reset_at = num('reset_at')
local known = num('known') == 1
local tat = num('tat')
local last = num('last_header_reset')
local delay = 0

if gid ~= '' and op ~= 'grant' then redis.call('ZREM', z, gid) end
if op ~= 'read' then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end

if op == 'grant' then
  if reset_at == nil then
    reset_at = now + window
    known = false
  elseif now >= reset_at + (known and margin or 0) then
    remaining = math.max(0, limit - redis.call('ZCARD', z))
    local windows = math.max(1, math.ceil((now - reset_at) / window))
    reset_at = reset_at + windows * window
    known = false
    tat = nil
  end
  if remaining <= 0 then
    delay = math.max(reset_at + margin - now, MIN_SLEEP)
  elseif last == nil and redis.call('ZCARD', z) > 0 then
    delay = PROBE
  else
    local spacing = math.max(0, reset_at - now) / remaining
    local t = now
    if tat ~= nil and tat > now then t = tat end
    local ahead = t - now - (burst - 1) * spacing
    if ahead > EPS then
      delay = math.max(ahead, MIN_SLEEP)
    else
      remaining = remaining - 1
      tat = t + spacing
      redis.call('ZADD', z, now + window, gid)
    end
  end
elseif op == 'learn' then
  local h_limit, h_remaining = tonumber(ARGV[8]), tonumber(ARGV[9])
  local reset, limited, retry_after = tonumber(ARGV[10]), ARGV[11] == '1', tonumber(ARGV[12])
  if h_limit ~= nil and h_limit > 0 then limit = h_limit end
  if reset ~= nil then
    if last ~= nil and reset > last + SAME then
      window = math.min(window, math.max(reset - last, 1))
    end
    if last == nil or reset > last then last = reset end
    if h_remaining == nil then
      if limited then h_remaining = 0 else h_remaining = remaining end
    end
    if reset_at ~= nil and math.abs(reset - reset_at) <= SAME then
      remaining = math.min(remaining, h_remaining)
      reset_at = reset
      known = true
    elseif (not known) or reset_at == nil or reset > reset_at then
      local estimate = math.max(0, h_remaining - redis.call('ZCARD', z))
      if reset <= now then
        reset_at = reset + (math.floor((now - reset) / window) + 1) * window
        known = false
        remaining = math.max(0, limit - redis.call('ZCARD', z))
      else
        reset_at = reset
        known = true
        remaining = estimate
        tat = nil
      end
    end
  end
  if limited then
    local hold = nil
    if reset ~= nil and reset > now then hold = reset end
    if retry_after ~= nil and now + retry_after > now then
      if hold == nil or now + retry_after > hold then hold = now + retry_after end
    end
    if reset == nil or hold ~= nil then
      remaining = 0
      if hold ~= nil and (reset_at == nil or hold > reset_at) then reset_at = hold end
    end
  end
end

if op ~= 'read' then
  redis.call('HSET', h, 'limit', fmt(limit), 'window_s', fmt(window),
    'remaining', fmt(remaining), 'reset_at', fmt(reset_at), 'known', known and '1' or '0',
    'tat', fmt(tat), 'last_header_reset', fmt(last))
  local ttl = math.ceil(math.max(window * 10, 600) * 1000)
  redis.call('PEXPIRE', h, ttl)
  redis.call('PEXPIRE', z, ttl)
end
return {fmt(delay), redis.call('ZCARD', z), fmt(remaining), fmt(limit), fmt(reset_at),
  fmt(window), known and '1' or '0', fmt(tat), fmt(last)}
"""


def _arg(value: float | int | None) -> str:
    return "" if value is None else repr(value)


def _opt(raw: Any) -> float | None:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return float(text) if text else None


class RedisBudgetStore:
    """One account's budget in Redis at ``url`` under ``key`` (connects on first use)."""

    def __init__(self, url: str, key: str) -> None:
        import redis

        self._redis = redis
        self._client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
        self._script = self._client.register_script(BUDGET_SCRIPT)
        self._keys = [key, f"{key}:grants"]

    def _run(self, op: str, now: float, params: BudgetParams, gid: str | None, *extra: str) -> Any:
        args = [
            op,
            repr(now),
            str(params.limit),
            repr(float(params.window_s)),
            str(params.burst),
            repr(float(params.reset_margin_s)),
            gid or "",
            *extra,
        ]
        try:
            return self._script(keys=self._keys, args=args)
        except self._redis.RedisError as exc:
            raise BudgetUnavailable(f"Redis budget: {type(exc).__name__}") from exc

    def grant(self, now: float, grant_id: str, params: BudgetParams) -> tuple[float, int]:
        reply = self._run("grant", now, params, grant_id)
        return float(reply[0]), int(reply[1])

    def learn(
        self,
        now: float,
        grant_id: str | None,
        headers: RateLimitHeaders,
        rate_limited: bool,
        retry_after: float | None = None,
    ) -> None:
        self._run(
            "learn",
            now,
            BudgetParams(),
            grant_id,
            _arg(headers.limit),
            _arg(headers.remaining),
            _arg(headers.reset_at),
            "1" if rate_limited else "0",
            _arg(retry_after),
        )

    def release(self, now: float, grant_id: str | None) -> None:
        self._run("release", now, BudgetParams(), grant_id)

    def snapshot(self, params: BudgetParams) -> Budget:
        """The budget as stored (expired grants are not purged by a read)."""
        reply = self._run("read", 0.0, params, None)
        try:
            pairs: Any = self._client.zrange(self._keys[1], 0, -1, withscores=True)
        except self._redis.RedisError as exc:
            raise BudgetUnavailable(f"Redis budget: {type(exc).__name__}") from exc
        return Budget(
            limit=int(float(reply[3])),
            window_s=float(reply[5]),
            remaining=int(float(reply[2])),
            reset_at=_opt(reply[4]),
            known=reply[6] in (b"1", "1"),
            tat=_opt(reply[7]),
            last_header_reset=_opt(reply[8]),
            grants={(m.decode() if isinstance(m, bytes) else str(m)): float(s) for m, s in pairs},
        )

    def close(self) -> None:
        self._client.close()
