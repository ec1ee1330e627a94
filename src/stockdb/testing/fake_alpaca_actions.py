"""The fake Alpaca's ``GET /v1/corporate-actions``: synthetic actions in Alpaca's wire shape.

Serves :func:`stockdb.corporate.synthetic.synthetic_actions` plus any a test adds with
:meth:`ActionBook.add` (an action Alpaca "announces" later). ``start``/``end`` filter on
``process_date`` (inclusive, default today) as Alpaca does: a split is processed on its
ex-date, a cash dividend on its payable date (ex-date + 14 days). Items are paged in
``(process_date, symbol, type, ex_date)`` order with an opaque ``page_token``.
"""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from stockdb.corporate.model import CorporateAction
from stockdb.corporate.synthetic import synthetic_actions
from stockdb.testing.fake_alpaca_book import FakeRequestError, check_params, parse_symbols

__all__ = ["ACTIONS_PARAMS", "ActionBook", "process_date"]

ACTIONS_PARAMS = frozenset(
    {"symbols", "cusips", "types", "start", "end", "ids", "limit", "page_token", "sort", "region"}
)
_KNOWN_TYPES = frozenset(
    {
        "forward_split",
        "reverse_split",
        "unit_split",
        "cash_dividend",
        "stock_dividend",
        "spin_off",
        "cash_merger",
        "stock_merger",
        "stock_and_cash_merger",
        "redemption",
        "name_change",
        "worthless_removal",
        "rights_distribution",
        "partial_call",
        "reorganization",
    }
)
_GROUP = {
    "forward_split": "forward_splits",
    "reverse_split": "reverse_splits",
    "cash_dividend": "cash_dividends",
}
_PAYABLE_AFTER = timedelta(days=14)


def _bad(message: str) -> FakeRequestError:
    return FakeRequestError(400, message, 40010000)


def process_date(action: CorporateAction) -> date:
    """When the fake says Alpaca processed ``action``: splits on the ex-date, dividends on
    the payable date."""
    if action.type == "cash_dividend":
        return action.ex_date + _PAYABLE_AFTER
    return action.ex_date


def _day(params: Mapping[str, str], name: str, default: date) -> date:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise _bad(f"invalid {name}: {raw}") from exc


def _item(action: CorporateAction) -> dict[str, Any]:
    ident = str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join(map(str, action.key))))
    processed = process_date(action).isoformat()
    if action.type == "cash_dividend":
        return {
            "id": ident,
            "symbol": action.symbol,
            "cusip": "000000000",
            "rate": action.cash,
            "special": False,
            "foreign": False,
            "process_date": processed,
            "ex_date": action.ex_date.isoformat(),
            "record_date": action.ex_date.isoformat(),
            "payable_date": processed,
        }
    ratio = action.ratio or 1.0
    new, old = (ratio, 1.0) if ratio >= 1 else (1.0, round(1.0 / ratio, 6))
    body: dict[str, Any] = {
        "id": ident,
        "symbol": action.symbol,
        "new_rate": new,
        "old_rate": old,
        "process_date": processed,
        "ex_date": action.ex_date.isoformat(),
        "record_date": action.ex_date.isoformat(),
        "payable_date": action.ex_date.isoformat(),
    }
    if action.type == "reverse_split":
        body.update({"old_cusip": "000000000", "new_cusip": "000000001"})
    else:
        body["cusip"] = "000000000"
    return body


@dataclass(frozen=True, slots=True)
class _Query:
    symbols: tuple[str, ...]
    types: frozenset[str]
    start: date
    end: date
    limit: int
    offset: int
    descending: bool


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"ca:{offset}".encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not text.startswith("ca:"):
            raise ValueError(text)
        return int(text[3:])
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise _bad("invalid page_token") from exc


def _parse(params: Mapping[str, str], today: date) -> _Query:
    check_params(params, ACTIONS_PARAMS)
    symbols = tuple(parse_symbols(params.get("symbols")))
    raw_types = params.get("types")
    types = frozenset(t.strip() for t in raw_types.split(",")) if raw_types else _KNOWN_TYPES
    unknown = sorted(types - _KNOWN_TYPES)
    if unknown:
        raise _bad(f"invalid types: {', '.join(unknown)}")
    start, end = _day(params, "start", today), _day(params, "end", today)
    if start > end:
        raise _bad("start must be before end")
    raw_limit = params.get("limit", "100")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise _bad(f"invalid limit: {raw_limit}")
    sort = params.get("sort", "asc")
    if sort not in ("asc", "desc"):
        raise _bad(f"invalid sort: {sort}")
    token = params.get("page_token")
    offset = _offset(token) if token else 0
    return _Query(symbols, types, start, end, int(raw_limit), offset, sort == "desc")


class ActionBook:
    """The actions the fake knows: synthetic ones plus those a test adds."""

    def __init__(self) -> None:
        self._added: dict[tuple[str, str, date], CorporateAction] = {}
        self._lock = threading.Lock()

    def add(self, *actions: CorporateAction) -> None:
        """Serve ``actions`` too (replacing a synthetic one with the same key)."""
        with self._lock:
            for action in actions:
                self._added[action.key] = action

    def for_symbol(self, symbol: str) -> list[CorporateAction]:
        """Everything served for ``symbol``, by ex-date then type."""
        with self._lock:
            added = [a for a in self._added.values() if a.symbol == symbol]
        merged = {a.key: a for a in synthetic_actions(symbol)}
        merged.update({a.key: a for a in added})
        return sorted(merged.values(), key=lambda a: (a.ex_date, a.type))

    def answer(self, params: Mapping[str, str], now: datetime) -> tuple[dict[str, Any], int]:
        """The response body for ``params`` and how many items it holds; raises
        FakeRequestError(400) for bad parameters."""
        query = _parse(params, now.date())
        matching = [
            a
            for symbol in dict.fromkeys(query.symbols)
            for a in self.for_symbol(symbol)
            if a.type in query.types and query.start <= process_date(a) <= query.end
        ]
        matching.sort(key=lambda a: (process_date(a), a.symbol, a.type, a.ex_date))
        if query.descending:
            matching.reverse()
        page = matching[query.offset : query.offset + query.limit]
        more = query.offset + query.limit < len(matching)
        groups: dict[str, list[dict[str, Any]]] = {}
        for action in page:
            groups.setdefault(_GROUP[action.type], []).append(_item(action))
        body = {
            "corporate_actions": groups,
            "next_page_token": _token(query.offset + query.limit) if more else None,
        }
        return body, len(page)
