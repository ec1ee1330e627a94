"""The Alpaca market-data client: 1-minute bars over httpx, paced, retried, logged, as Arrow pages.

Wire facts (endpoints, paging, errors, rate-limit headers) are in
``alpaca-market-data.md``. Requests go through one shared
:class:`~stockdb.providers.throttle.RateLimiter` and a
:class:`~stockdb.providers.retry.RetryPolicy`; responses become tables with
:data:`stockdb.bars.BAR_SCHEMA`; failures become the :mod:`stockdb.errors` tree. The secret
key is sent in a header and never written to a log line, an error message or a repr.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pyarrow as pa

from stockdb.bars import BAR_SCHEMA
from stockdb.clock import Clock, SystemClock
from stockdb.config import Settings
from stockdb.errors import (
    AuthError,
    BadRequest,
    DataIntegrityError,
    InvalidInput,
    RateLimited,
    StockDBError,
    UnknownSymbol,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from stockdb.providers.alpaca_wire import bars_table, format_rfc3339
from stockdb.providers.base import ProviderStats
from stockdb.providers.retry import RetryEvent, RetryPolicy
from stockdb.providers.throttle import RateLimiter, RequestPacer, parse_rate_limit_headers

__all__ = ["LOGGER_NAME", "PAGE_LIMIT", "AlpacaProvider"]

LOGGER_NAME = "stockdb.alpaca"
PAGE_LIMIT = 10_000
_ONE_US = timedelta(microseconds=1)
_KEYS_HINT = "check ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY"
_SIP_HINT = (
    "the subscription does not permit recent SIP data: set ALPACA_FEED=iex, "
    "or request an end at least 15 minutes in the past"
)

_Parse = Callable[[Any], pa.Table]


class AlpacaProvider:
    """A :class:`~stockdb.providers.base.BarSource` over Alpaca's market-data REST API."""

    name = "alpaca"

    def __init__(
        self,
        settings: Settings,
        limiter: RequestPacer | None = None,
        client: httpx.Client | None = None,
        clock: Clock | None = None,
        batch_size: int = 100,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        """Raises AuthError when the settings carry no key pair, ValueError on batch_size < 1."""
        if not settings.has_alpaca_keys or not (
            settings.alpaca_key_id and settings.alpaca_secret_key
        ):
            raise AuthError(f"Alpaca API keys are not set: {_KEYS_HINT}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.feed: str = settings.alpaca_feed
        self.stats = ProviderStats()
        self._base = settings.alpaca_base_url.rstrip("/")
        self._key_id = settings.alpaca_key_id
        self._secret = settings.alpaca_secret_key
        self._timeout_s = settings.alpaca_timeout_s
        self._clock = clock or SystemClock()
        self._limiter: RequestPacer = limiter or RateLimiter(self._clock)
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=settings.alpaca_timeout_s)
        self._retry = retry or RetryPolicy()
        self._batch_size = batch_size
        self._log = logging.getLogger(LOGGER_NAME)
        self._stats_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AlpacaProvider(base_url={self._base!r}, feed={self.feed!r})"

    # -- public API -------------------------------------------------------------------------

    def fetch_bars(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> Iterator[pa.Table]:
        """Yield pages of 1-minute bars with ``start <= ts < end``, one page per Alpaca page.

        Follows ``next_page_token`` to the end of every batch of ``batch_size`` symbols.
        Raises InvalidInput for naive datetimes, AuthError/BadRequest/UnknownSymbol at once,
        DataIntegrityError on a malformed body, and a TransientError once retries run out.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidInput("start and end must be timezone-aware")
        unique = list(dict.fromkeys(symbols))
        if not unique or start >= end:
            return
        lo, hi = start.astimezone(UTC), end.astimezone(UTC)
        base_params = {
            "timeframe": "1Min",
            "start": format_rfc3339(lo),
            "end": format_rfc3339(hi - _ONE_US),  # Alpaca's end is inclusive, ours is not
            "limit": str(PAGE_LIMIT),
            "adjustment": "raw",
            "feed": self.feed,
            "sort": "asc",
        }
        for i in range(0, len(unique), self._batch_size):
            batch = unique[i : i + self._batch_size]
            if len(batch) == 1:
                path = f"/v2/stocks/{quote(batch[0], safe='')}/bars"
                params = dict(base_params)
                single = batch[0]
            else:
                path = "/v2/stocks/bars"
                params = {"symbols": ",".join(batch), **base_params}
                single = None
            yield from self._pages(path, params, single, lo, hi)

    def latest_bars(self, symbols: Sequence[str]) -> pa.Table:
        """The latest 1-minute bar of each symbol; symbols Alpaca has none for are absent.

        Raises like :meth:`fetch_bars`.
        """
        unique = list(dict.fromkeys(symbols))
        tables: list[pa.Table] = []
        for i in range(0, len(unique), self._batch_size):
            batch = unique[i : i + self._batch_size]
            params = {"symbols": ",".join(batch), "feed": self.feed}
            table, _ = self._get("/v2/stocks/bars/latest", params, _parse_latest)
            tables.append(table)
        return pa.concat_tables(tables) if tables else BAR_SCHEMA.empty_table()

    def request(
        self, path: str, params: dict[str, str], parse: Callable[[Any], pa.Table]
    ) -> tuple[pa.Table, Any]:
        """One GET of ``path`` (e.g. ``/v1/corporate-actions``) through the shared limiter and
        the retry policy, logged like every call; ``parse`` turns the JSON object into a table
        (its row count goes into the stats). Raises like :meth:`fetch_bars`."""
        return self._get(path, params, parse)

    def close(self) -> None:
        """Close the HTTP client if this provider created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> AlpacaProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paging -----------------------------------------------------------------------------

    def _pages(
        self,
        path: str,
        params: dict[str, str],
        single: str | None,
        lo: datetime,
        hi: datetime,
    ) -> Iterator[pa.Table]:
        parse: _Parse = _parse_multi if single is None else _single_parser(single)
        token: str | None = None
        while True:
            page_params = dict(params) if token is None else {**params, "page_token": token}
            table, payload = self._get(path, page_params, parse)
            # Bars outside lo..hi are passed on: the caller's validation counts them as
            # rejected and logs them (dropping them here would hide a misbehaving upstream).
            if table.num_rows:
                yield table
            next_token = payload.get("next_page_token")
            if next_token is None:
                return
            if not isinstance(next_token, str) or not next_token or next_token == token:
                raise DataIntegrityError(f"Alpaca sent an unusable next_page_token on {path}")
            token = next_token

    # -- one request, retried ---------------------------------------------------------------

    def _get(self, path: str, params: dict[str, str], parse: _Parse) -> tuple[pa.Table, Any]:
        def attempt(number: int) -> tuple[pa.Table, Any]:
            return self._attempt(number, path, params, parse)

        return self._retry.run(attempt, self._clock, on_retry=self._on_retry)

    def _on_retry(self, event: RetryEvent) -> None:
        with self._stats_lock:
            self.stats.retries += 1
            if event.rate_limited:
                self.stats.wait_s += event.delay_s
        self._log.warning(
            "alpaca retry after attempt %d in %.2fs: %s",
            event.attempt,
            event.delay_s,
            event.error,
            extra={"attempt": event.attempt, "delay_s": round(event.delay_s, 3)},
        )

    def _attempt(
        self, number: int, path: str, params: dict[str, str], parse: _Parse
    ) -> tuple[pa.Table, Any]:
        waited = self._limiter.acquire()
        with self._stats_lock:
            self.stats.requests += 1
            self.stats.wait_s += waited
        started = time.perf_counter()
        try:
            response = self._client.get(
                self._base + path, params=params, headers=self._auth_headers()
            )
        except httpx.TimeoutException as exc:
            self._limiter.record_failure()
            error: StockDBError = UpstreamTimeout(
                f"Alpaca did not answer {path} within {self._timeout_s:g}s"
            )
            self._log_call(path, params, None, 0, started, None, number, error)
            raise error from exc
        except httpx.HTTPError as exc:
            self._limiter.record_failure()
            detail = self._redact(str(exc)) or type(exc).__name__
            error = UpstreamUnavailable(f"connection to Alpaca failed on {path}: {detail}")
            self._log_call(path, params, None, 0, started, None, number, error)
            raise error from exc
        except BaseException:
            self._limiter.record_failure()  # keep the shared limiter's in-flight count true
            raise
        status = response.status_code
        self._limiter.record_response(response.headers, rate_limited=status == 429)
        remaining = parse_rate_limit_headers(response.headers).remaining
        if status != 200:
            error = self._error_for(response, path)
            if status == 429:
                with self._stats_lock:
                    self.stats.rate_limited += 1
            self._log_call(path, params, status, 0, started, remaining, number, error)
            raise error
        try:
            payload = orjson.loads(response.content)
            if not isinstance(payload, dict):
                raise DataIntegrityError(f"Alpaca sent a non-object body on {path}")
            table = parse(payload)
        except orjson.JSONDecodeError as exc:
            error = DataIntegrityError(f"Alpaca sent a body that is not JSON on {path}")
            self._log_call(path, params, status, 0, started, remaining, number, error)
            raise error from exc
        except DataIntegrityError as exc:
            self._log_call(path, params, status, 0, started, remaining, number, exc)
            raise
        with self._stats_lock:
            self.stats.rows += table.num_rows
        self._log_call(path, params, status, table.num_rows, started, remaining, number, None)
        return table, payload

    def _auth_headers(self) -> dict[str, str]:
        assert self._key_id is not None and self._secret is not None
        return {
            "APCA-API-KEY-ID": self._key_id.get_secret_value(),
            "APCA-API-SECRET-KEY": self._secret.get_secret_value(),
            "Accept": "application/json",
        }

    def _redact(self, text: str) -> str:
        """``text`` with both key halves blanked out (belt and braces: never echo a secret)."""
        for secret in (self._secret, self._key_id):
            value = secret.get_secret_value() if secret is not None else ""
            if value:
                text = text.replace(value, "***")
        return text

    def _message(self, response: httpx.Response) -> str:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            text: str = body["message"]
        else:
            text = response.text[:200].strip() or response.reason_phrase
        return self._redact(text)

    def _error_for(self, response: httpx.Response, path: str) -> StockDBError:
        status = response.status_code
        message = self._message(response)
        if status == 429:
            reset = parse_rate_limit_headers(response.headers).reset_at
            reset_at = datetime.fromtimestamp(reset, tz=UTC) if reset is not None else None
            return RateLimited(f"Alpaca rate limit reached on {path} (429): {message}", reset_at)
        if status == 401:
            return AuthError(f"Alpaca rejected the API keys (401 {message}): {_KEYS_HINT}")
        if status == 403:
            if "sip" in message.lower():
                return AuthError(f"Alpaca refused {path} (403 {message}): {_SIP_HINT}")
            return AuthError(
                f"Alpaca refused {path} (403 {message}): {_KEYS_HINT}, "
                f"and that the subscription permits feed={self.feed}"
            )
        if status >= 500:
            return UpstreamUnavailable(f"Alpaca answered {status} on {path}: {message}")
        if "invalid symbol" in message.lower():
            return UnknownSymbol(f"Alpaca does not know the symbol ({status}): {message}")
        return BadRequest(f"Alpaca rejected the request to {path} ({status}): {message}")

    def _log_call(
        self,
        path: str,
        params: dict[str, str],
        status: int | None,
        rows: int,
        started: float,
        remaining: int | None,
        attempt: int,
        error: StockDBError | None,
    ) -> None:
        latency_ms = round((time.perf_counter() - started) * 1000.0, 1)
        extra = {
            "endpoint": path,
            "params": dict(params),
            "status": status,
            "rows": rows,
            "latency_ms": latency_ms,
            "remaining": remaining,
            "attempt": attempt,
        }
        if error is None:
            self._log.info("alpaca GET %s -> %s (%d rows)", path, status, rows, extra=extra)
        else:
            extra["error"] = str(error)
            self._log.warning("alpaca GET %s -> %s: %s", path, status, error, extra=extra)


def _parse_multi(payload: Any) -> pa.Table:
    """``{"bars": {"SYM": [bar, ...] | null, ...} | null}`` to a bar table."""
    if "bars" not in payload:
        raise DataIntegrityError("Alpaca response has no 'bars' field")
    bars = payload["bars"]
    if bars is None:
        return BAR_SCHEMA.empty_table()
    if not isinstance(bars, dict):
        raise DataIntegrityError("Alpaca 'bars' is not an object keyed by symbol")
    groups: list[tuple[str, list[Any]]] = []
    for symbol, rows in bars.items():
        if rows is None:
            continue
        if not isinstance(rows, list):
            raise DataIntegrityError(f"Alpaca bars of {symbol} are not a list")
        groups.append((symbol, rows))
    return bars_table(groups)


def _single_parser(symbol: str) -> _Parse:
    def parse(payload: Any) -> pa.Table:
        if "bars" not in payload:
            raise DataIntegrityError("Alpaca response has no 'bars' field")
        rows = payload["bars"]
        if rows is None:
            return BAR_SCHEMA.empty_table()
        if not isinstance(rows, list):
            raise DataIntegrityError(f"Alpaca bars of {symbol} are not a list")
        return bars_table([(symbol, rows)])

    return parse


def _parse_latest(payload: Any) -> pa.Table:
    """``{"bars": {"SYM": bar, ...}}`` to a bar table (one row per symbol)."""
    bars = payload.get("bars")
    if bars is None:
        if "bars" not in payload:
            raise DataIntegrityError("Alpaca response has no 'bars' field")
        return BAR_SCHEMA.empty_table()
    if not isinstance(bars, dict):
        raise DataIntegrityError("Alpaca latest 'bars' is not an object keyed by symbol")
    return bars_table([(symbol, [bar]) for symbol, bar in bars.items() if bar is not None])
