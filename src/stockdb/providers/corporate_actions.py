"""Corporate-action sources: Alpaca's ``GET /v1/corporate-actions`` client and the protocol.

Alpaca answers ``{"corporate_actions": {"forward_splits": [...], "reverse_splits": [...],
"cash_dividends": [...]}, "next_page_token": ...}`` (see alpaca-market-data.md §6); the client
asks for forward splits, reverse splits and cash dividends of up to 100 symbols per request,
1,000 items per page, and follows ``page_token`` to the end. Calls go through the
:class:`~stockdb.providers.alpaca.AlpacaProvider`'s limiter, retry policy and call log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

import pyarrow as pa

from stockdb.corporate.model import CorporateAction, make_action
from stockdb.errors import DataIntegrityError, InvalidInput
from stockdb.providers.alpaca import AlpacaProvider

__all__ = [
    "ACTIONS_PATH",
    "ActionSource",
    "AlpacaActionSource",
    "parse_corporate_actions",
]

ACTIONS_PATH = "/v1/corporate-actions"
ACTION_TYPES_PARAM = "forward_split,reverse_split,cash_dividend"
_GROUPS = {
    "forward_splits": "forward_split",
    "reverse_splits": "reverse_split",
    "cash_dividends": "cash_dividend",
}
_ACTION_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("type", pa.string()),
        ("ex_date", pa.date32()),
        ("ratio", pa.float64()),
        ("cash", pa.float64()),
    ]
)
log = logging.getLogger("stockdb.alpaca")


class ActionSource(Protocol):
    """A source of corporate actions (Alpaca, synthetic)."""

    name: str

    def fetch_actions(
        self, symbols: Sequence[str], start: date, end: date
    ) -> list[CorporateAction]:
        """Splits and cash dividends of ``symbols`` the source dates within ``start..end``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _number(item: dict[str, Any], name: str) -> float:
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} is not a number")
    return float(value)


def _parse_item(group: str, item: Any) -> CorporateAction:
    if not isinstance(item, dict):
        raise ValueError("item is not an object")
    kind = _GROUPS[group]
    ex_date = date.fromisoformat(str(item.get("ex_date")))
    symbol = str(item.get("symbol") or "")
    if kind == "cash_dividend":
        return make_action(symbol, kind, ex_date, cash=_number(item, "rate"), source="alpaca")
    new, old = _number(item, "new_rate"), _number(item, "old_rate")
    if old <= 0:
        raise ValueError("old_rate is not positive")
    return make_action(symbol, kind, ex_date, ratio=new / old, source="alpaca")


def parse_corporate_actions(payload: Any) -> tuple[list[CorporateAction], int]:
    """The splits and cash dividends in one response body, and how many items were skipped
    as malformed. Groups of other action types are ignored.

    Raises DataIntegrityError when the body does not have Alpaca's shape.
    """
    if not isinstance(payload, dict) or "corporate_actions" not in payload:
        raise DataIntegrityError("Alpaca response has no 'corporate_actions' field")
    groups = payload["corporate_actions"]
    if groups is None:
        return [], 0
    if not isinstance(groups, dict):
        raise DataIntegrityError("Alpaca 'corporate_actions' is not an object keyed by type")
    actions: list[CorporateAction] = []
    skipped = 0
    for group, items in groups.items():
        if group not in _GROUPS or items is None:
            continue
        if not isinstance(items, list):
            raise DataIntegrityError(f"Alpaca corporate_actions.{group} is not a list")
        for item in items:
            try:
                actions.append(_parse_item(group, item))
            except (ValueError, InvalidInput) as exc:
                skipped += 1
                log.warning(
                    "skipped a malformed corporate action: %s",
                    exc,
                    extra={"group": group, "item": str(item)[:200]},
                )
    return actions, skipped


def _as_table(actions: list[CorporateAction]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "symbol": a.symbol,
                "type": a.type,
                "ex_date": a.ex_date,
                "ratio": a.ratio,
                "cash": a.cash,
            }
            for a in actions
        ],
        schema=_ACTION_SCHEMA,
    )


class AlpacaActionSource:
    """Alpaca's corporate actions over an :class:`AlpacaProvider` (shared limiter/retries)."""

    name = "alpaca"

    def __init__(
        self, provider: AlpacaProvider, page_limit: int = 1000, batch_size: int = 100
    ) -> None:
        if not 1 <= page_limit <= 1000:
            raise ValueError("page_limit must be 1..1000")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.provider = provider
        self.page_limit = page_limit
        self.batch_size = batch_size
        self.pages = 0
        self.skipped = 0

    def fetch_actions(
        self, symbols: Sequence[str], start: date, end: date
    ) -> list[CorporateAction]:
        """Splits and cash dividends of ``symbols`` processed within ``start..end``
        (Alpaca filters on ``process_date``), following every ``next_page_token``.

        Only actions of the requested symbols are returned. Raises InvalidInput when start is
        after end, DataIntegrityError on a malformed body or a repeated page token, and the
        provider's errors (AuthError, BadRequest, TransientError after retries).
        """
        if start > end:
            raise InvalidInput(f"start {start} is after end {end}")
        unique = list(dict.fromkeys(symbols))
        found: list[CorporateAction] = []
        for i in range(0, len(unique), self.batch_size):
            batch = unique[i : i + self.batch_size]
            found += self._batch(batch, start, end)
        wanted = set(unique)
        return [a for a in found if a.symbol in wanted]

    def _batch(self, symbols: list[str], start: date, end: date) -> list[CorporateAction]:
        params = {
            "symbols": ",".join(symbols),
            "types": ACTION_TYPES_PARAM,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "limit": str(self.page_limit),
            "sort": "asc",
        }
        out: list[CorporateAction] = []
        token: str | None = None
        parsed: list[list[CorporateAction]] = []

        def parse(payload: Any) -> pa.Table:
            actions, skipped = parse_corporate_actions(payload)
            self.skipped += skipped
            parsed.append(actions)
            return _as_table(actions)

        while True:
            page_params = params if token is None else {**params, "page_token": token}
            _, payload = self.provider.request(ACTIONS_PATH, page_params, parse)
            self.pages += 1
            out += parsed[-1]
            next_token = payload.get("next_page_token")
            if next_token is None:
                return out
            if not isinstance(next_token, str) or not next_token or next_token == token:
                raise DataIntegrityError(
                    f"Alpaca sent an unusable next_page_token on {ACTIONS_PATH}"
                )
            token = next_token

    def close(self) -> None:
        self.provider.close()
