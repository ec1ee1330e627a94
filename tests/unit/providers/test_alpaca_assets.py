"""The assets client: which listed assets a universe keeps, and how failures are translated
(through an httpx MockTransport; the fake server's happy path is in the CLI and API tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from stockdb.config import DEFAULT_ALPACA_TRADING_URL, Settings
from stockdb.errors import (
    AuthError,
    ConfigError,
    DataIntegrityError,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from stockdb.providers.alpaca_assets import fetch_tradable_equities, tradable_symbols
from stockdb.testing.fake_alpaca_assets import asset

SECRET = "s3cr3t-value-xyz"


def _settings(tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "alpaca_key_id": "KEYID123",
        "alpaca_secret_key": SECRET,
        "alpaca_trading_url": "https://trading.example/",
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_only_active_tradable_us_equities_with_lake_names_are_kept() -> None:
    assets = [
        asset("MSFT"),
        asset("aapl"),
        asset("MSFT"),  # listed twice: kept once
        asset("HALT", tradable=False),
        asset("OLD", status="inactive"),
        asset("ETH/USD", asset_class="crypto"),
        asset("ABC/WS"),
        asset("BRK.B"),
    ]
    listed = tradable_symbols(assets)
    assert listed.symbols == ("AAPL", "BRK.B", "MSFT")
    assert (listed.listed, listed.not_tradable, listed.unusable) == (8, 3, 1)
    with pytest.raises(DataIntegrityError):
        tradable_symbols([{"name": "no symbol"}])


def test_the_request_goes_to_the_trading_base_url_with_the_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ALPACA_TRADING_BASE_URL", "APCA_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=orjson.dumps([asset("SPY")]))

    listed = fetch_tradable_equities(_settings(tmp_path), _client(handler))
    assert listed.symbols == ("SPY",)
    (request,) = seen
    assert str(request.url).startswith("https://trading.example/v2/assets?")
    assert dict(request.url.params) == {"status": "active", "asset_class": "us_equity"}
    assert request.headers["APCA-API-SECRET-KEY"] == SECRET
    assert Settings(data_dir=tmp_path).alpaca_trading_url == DEFAULT_ALPACA_TRADING_URL


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"message": f"bad key {SECRET}"}, AuthError),
        (403, {"message": "forbidden"}, AuthError),
        (429, {"message": "slow down"}, RateLimited),
        (500, b"oops", UpstreamUnavailable),
        (200, b"not json", DataIntegrityError),
        (200, {"not": "a list"}, DataIntegrityError),
    ],
)
def test_failures_are_translated_without_the_secret(
    tmp_path: Path, status: int, body: object, error: type[Exception]
) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    client = _client(lambda _r: httpx.Response(status, content=content))
    with pytest.raises(error) as raised:
        fetch_tradable_equities(_settings(tmp_path), client)
    assert SECRET not in str(raised.value)


def test_timeouts_connection_errors_and_missing_keys(tmp_path: Path) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused for {SECRET}", request=request)

    with pytest.raises(UpstreamTimeout):
        fetch_tradable_equities(_settings(tmp_path), _client(timeout))
    with pytest.raises(UpstreamUnavailable) as raised:
        fetch_tradable_equities(_settings(tmp_path), _client(refused))
    assert SECRET not in str(raised.value)
    with pytest.raises(ConfigError, match="needs ALPACA_API_KEY_ID"):
        fetch_tradable_equities(
            _settings(tmp_path, alpaca_key_id=None, alpaca_secret_key=None), _client(refused)
        )
