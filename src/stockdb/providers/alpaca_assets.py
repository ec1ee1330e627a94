"""Alpaca's trading-API assets list: the active, tradable US equities a universe starts from.

``GET {trading_base}/v2/assets?status=active&asset_class=us_equity`` answers one JSON array
(no paging). The trading base URL is its own setting (``ALPACA_TRADING_BASE_URL``, the paper
endpoint by default); the key pair is the market-data one. Errors are translated here into
the project's tree; the key halves never appear in a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from stockdb.config import Settings
from stockdb.errors import (
    AuthError,
    BadRequest,
    ConfigError,
    DataIntegrityError,
    RateLimited,
    StockDBError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from stockdb.symbols import SYMBOL_PATTERN

__all__ = ["ASSETS_PATH", "AssetList", "fetch_tradable_equities", "tradable_symbols"]

ASSETS_PATH = "/v2/assets"


@dataclass(frozen=True, slots=True)
class AssetList:
    """Tradable symbols (sorted) and how many listed assets were left out and why."""

    symbols: tuple[str, ...]
    listed: int
    not_tradable: int
    unusable: int  # tradable, but a name the lake cannot store (e.g. ``BRK/B``)


def tradable_symbols(assets: Sequence[Any]) -> AssetList:
    """The active, tradable US-equity symbols of an assets payload (pure; raises
    DataIntegrityError when an item is not an asset object)."""
    keep: set[str] = set()
    not_tradable = unusable = 0
    for item in assets:
        if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
            raise DataIntegrityError("Alpaca sent an asset without a symbol")
        if (
            item.get("tradable") is not True
            or item.get("status", "active") != "active"
            or item.get("class", "us_equity") != "us_equity"
        ):
            not_tradable += 1
            continue
        symbol = item["symbol"].strip().upper()
        if not SYMBOL_PATTERN.fullmatch(symbol) or ".." in symbol:
            unusable += 1
            continue
        keep.add(symbol)
    return AssetList(tuple(sorted(keep)), len(assets), not_tradable, unusable)


def _redact(text: str, settings: Settings) -> str:
    for secret in (settings.alpaca_secret_key, settings.alpaca_key_id):
        value = secret.get_secret_value() if secret is not None else ""
        if value:
            text = text.replace(value, "***")
    return text


def _error(response: httpx.Response, settings: Settings) -> StockDBError:
    status = response.status_code
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    text = _redact(str(message or response.reason_phrase or status)[:200], settings)
    where = f"Alpaca assets ({status} {text})"
    if status in (401, 403):
        return AuthError(f"{where}: check ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY")
    if status == 429:
        return RateLimited(f"{where}: try again in a minute")
    if status >= 500:
        return UpstreamUnavailable(where)
    return BadRequest(f"{where}: check ALPACA_TRADING_BASE_URL")


def fetch_tradable_equities(settings: Settings, client: httpx.Client) -> AssetList:
    """The active, tradable US equities Alpaca lists. Raises ConfigError without keys,
    AuthError, RateLimited, UpstreamUnavailable/UpstreamTimeout, DataIntegrityError."""
    key, secret = settings.alpaca_key_id, settings.alpaca_secret_key
    if not settings.has_alpaca_keys or key is None or secret is None:
        raise ConfigError(
            "--from-alpaca needs ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY in the "
            "environment or .env"
        )
    url = settings.alpaca_trading_url.rstrip("/") + ASSETS_PATH
    headers = {
        "APCA-API-KEY-ID": key.get_secret_value(),
        "APCA-API-SECRET-KEY": secret.get_secret_value(),
        "Accept": "application/json",
    }
    params = {"status": "active", "asset_class": "us_equity"}
    try:
        response = client.get(
            url, params=params, headers=headers, timeout=settings.alpaca_timeout_s
        )
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(
            f"Alpaca assets did not answer within {settings.alpaca_timeout_s:g}s"
        ) from exc
    except httpx.HTTPError as exc:
        detail = _redact(str(exc), settings) or type(exc).__name__
        raise UpstreamUnavailable(f"connection to Alpaca assets failed: {detail}") from exc
    if response.status_code != 200:
        raise _error(response, settings)
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise DataIntegrityError("Alpaca assets answered with a body that is not JSON") from exc
    if not isinstance(payload, list):
        raise DataIntegrityError("Alpaca assets answered with something other than a list")
    return tradable_symbols(payload)
