"""The fake Alpaca's ``GET /v2/assets`` (trading API): a small asset list in Alpaca's shape.

Filters by ``status`` (active|inactive) and ``asset_class`` (us_equity|us_option|crypto) as
Alpaca does, and answers one JSON array. The default list mixes what a real one holds:
tradable equities, a non-tradable one, an inactive one, a crypto pair and a symbol with a
slash; tests replace or extend :attr:`AssetBook.items`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from typing import Any

from stockdb.testing.fake_alpaca_book import FakeRequestError

__all__ = ["ASSETS_PARAMS", "DEFAULT_TRADABLE", "AssetBook", "asset"]

ASSETS_PARAMS = frozenset({"status", "asset_class", "exchange", "attributes"})
DEFAULT_TRADABLE = ("AAPL", "AMZN", "BRK.B", "MSFT", "QQQ", "SPY")
_CLASSES = frozenset({"us_equity", "us_option", "crypto"})


def asset(
    symbol: str,
    *,
    tradable: bool = True,
    status: str = "active",
    asset_class: str = "us_equity",
    exchange: str = "NASDAQ",
) -> dict[str, Any]:
    """One asset object as Alpaca serves it."""
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{symbol}.assets.fake")),
        "class": asset_class,
        "exchange": exchange,
        "symbol": symbol,
        "name": f"{symbol} Fake Holdings",
        "status": status,
        "tradable": tradable,
        "marginable": tradable,
        "shortable": tradable,
        "easy_to_borrow": tradable,
        "fractionable": tradable,
        "attributes": [],
    }


def _default_items() -> list[dict[str, Any]]:
    items = [asset(s) for s in DEFAULT_TRADABLE]
    items.append(asset("HALTD", tradable=False))
    items.append(asset("GONE", status="inactive", tradable=False))
    items.append(asset("BTC/USD", asset_class="crypto", exchange="CRYPTO"))
    items.append(asset("ABC/WS", exchange="NYSE"))  # tradable, but not a lake symbol
    return items


class AssetBook:
    """The assets the fake lists; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items = _default_items()

    @property
    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._items)

    @items.setter
    def items(self, value: list[dict[str, Any]]) -> None:
        with self._lock:
            self._items = list(value)

    def answer(self, params: Mapping[str, str]) -> tuple[list[dict[str, Any]], int]:
        """The filtered list and its length; FakeRequestError(422) for bad parameters."""
        unknown = sorted(set(params) - ASSETS_PARAMS)
        if unknown:
            raise FakeRequestError(422, f"unexpected parameter {unknown[0]}")
        status = params.get("status")
        if status not in (None, "active", "inactive"):
            raise FakeRequestError(422, f"invalid status {status}")
        asset_class = params.get("asset_class")
        if asset_class is not None and asset_class not in _CLASSES:
            raise FakeRequestError(422, f"invalid asset_class {asset_class}")
        chosen = [
            item
            for item in self.items
            if (status is None or item["status"] == status)
            and (asset_class is None or item["class"] == asset_class)
        ]
        return chosen, len(chosen)
