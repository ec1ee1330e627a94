"""The fake Alpaca's request grammar and data: parameter checks, paging and JSON bar rows.

Pure apart from reading the calendar: given parsed query parameters and "now", it answers
what Alpaca would, using :func:`stockdb.providers.synthetic.generate_session` as the data, so
a test knows exactly which bars were served. Written independently of the client's parser
on purpose: the fake checks the client, not itself.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from stockdb.calendar import Session, TradingCalendar
from stockdb.providers.synthetic import generate_session

__all__ = [
    "BARS_PARAMS",
    "DEFAULT_LIMIT",
    "LATEST_PARAMS",
    "MAX_LIMIT",
    "BarBook",
    "BarsQuery",
    "FakeRequestError",
    "Page",
    "check_params",
    "parse_bars_query",
    "parse_time",
    "parse_symbols",
]

BARS_PARAMS = frozenset(
    {
        "symbols",
        "timeframe",
        "start",
        "end",
        "limit",
        "page_token",
        "sort",
        "adjustment",
        "feed",
        "asof",
        "currency",
    }
)
LATEST_PARAMS = frozenset({"symbols", "feed", "currency"})
_FEEDS_BARS = frozenset({"sip", "iex", "otc", "boats"})
_FEEDS_LATEST = frozenset({"sip", "iex", "delayed_sip", "boats", "overnight", "otc"})
_ADJUSTMENTS = frozenset({"raw", "split", "dividend", "spin-off", "all"})
_TIMEFRAME = re.compile(
    r"^(?:(?:[1-9]|[1-5][0-9])(?:Min|T)|(?:[1-9]|1[0-9]|2[0-3])(?:Hour|H)|1(?:Day|D)"
    r"|1(?:Week|W)|(?:1|2|3|4|6|12)(?:Month|M))$"
)
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")
_US_PER_MIN = 60_000_000
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000


class FakeRequestError(Exception):
    """A request the fake refuses: ``status`` and Alpaca-style ``message``."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def body(self) -> dict[str, Any]:
        return (
            {"code": self.code, "message": self.message} if self.code else {"message": self.message}
        )


def _bad(message: str) -> FakeRequestError:
    return FakeRequestError(400, message, 40010000)


def parse_time(value: str, name: str) -> datetime:
    """RFC-3339 (any offset, up to 9 fraction digits) or ``YYYY-MM-DD`` (UTC midnight).

    Raises FakeRequestError(400) otherwise.
    """
    if _DATE.match(value):
        try:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        except ValueError as exc:
            raise _bad(f"invalid {name}: {value}") from exc
    match = _RFC3339.match(value)
    if not match:
        raise _bad(f"invalid {name}: {value}")
    day, clock, fraction, offset = match.groups()
    micro = (fraction or "").ljust(6, "0")[:6]
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}")
    except ValueError as exc:
        raise _bad(f"invalid {name}: {value}") from exc
    return parsed.astimezone(UTC)


def parse_symbols(raw: str | None) -> list[str]:
    """The comma-separated ``symbols`` parameter, checked; raises FakeRequestError(400)."""
    if raw is None or not raw.strip():
        raise _bad("symbols is required")
    symbols = [s.strip() for s in raw.split(",") if s.strip()]
    for symbol in symbols:
        if not _SYMBOL.match(symbol):
            raise _bad(f"invalid symbol: {symbol}")
    return symbols


def check_params(params: Mapping[str, str], allowed: frozenset[str]) -> None:
    """Refuse unknown parameters the way Alpaca does."""
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise _bad(f"unexpected parameter(s): {', '.join(unknown)}")


@dataclass(frozen=True, slots=True)
class BarsQuery:
    """A checked bars request."""

    symbols: tuple[str, ...]
    start: datetime
    end: datetime
    limit: int
    feed: str
    descending: bool
    cursor: tuple[str, int] | None  # (symbol, ts in us) of the last bar already served


def _encode_token(symbol: str, ts_us: int) -> str:
    instant = datetime.fromtimestamp(ts_us // 1_000_000, tz=UTC)
    text = f"{symbol}|M|{instant.strftime('%Y-%m-%dT%H:%M:%S')}.{ts_us % 1_000_000:06d}000Z"
    return base64.b64encode(text.encode()).decode()


def _decode_token(token: str) -> tuple[str, int]:
    try:
        symbol, kind, stamp = base64.b64decode(token, validate=True).decode().split("|")
        instant = parse_time(stamp, "page_token")
    except (binascii.Error, UnicodeDecodeError, ValueError, FakeRequestError) as exc:
        raise _bad("invalid page token") from exc
    if kind != "M":
        raise _bad("invalid page token")
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    return symbol, (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_bars_query(
    params: Mapping[str, str], path_symbol: str | None, now: datetime
) -> BarsQuery:
    """Check a bars request like Alpaca: unknown params, timeframe, dates, limit, feed, sort.

    Only ``timeframe=1Min`` (or ``1T``) is served; other valid timeframes get a 400 saying
    so. Raises FakeRequestError(400) on anything wrong.
    """
    allowed = BARS_PARAMS if path_symbol is None else BARS_PARAMS - {"symbols"}
    check_params(params, allowed)
    if path_symbol is None:
        symbols = parse_symbols(params.get("symbols"))
    else:
        symbols = parse_symbols(path_symbol)
        if len(symbols) != 1:
            raise _bad(f"invalid symbol: {path_symbol}")
    timeframe = params.get("timeframe")
    if not timeframe:
        raise _bad("timeframe is required")
    if not _TIMEFRAME.match(timeframe):
        raise _bad(f"invalid timeframe: {timeframe}")
    if timeframe not in ("1Min", "1T"):
        raise _bad(f"the fake Alpaca serves only timeframe=1Min, not {timeframe}")
    start = (
        parse_time(params["start"], "start")
        if "start" in params
        else datetime(now.year, now.month, now.day, tzinfo=UTC)
    )
    end = parse_time(params["end"], "end") if "end" in params else now
    if end < start:
        raise _bad("end should not be before start")
    raw_limit = params.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise _bad(f"invalid limit: must be an integer between 1 and {MAX_LIMIT}")
    feed = params.get("feed", "sip")
    if feed not in _FEEDS_BARS:
        raise _bad(f"invalid feed: {feed}")
    sort = params.get("sort", "asc")
    if sort not in ("asc", "desc"):
        raise _bad(f"invalid sort: {sort}")
    adjustment = params.get("adjustment", "raw").split(",")
    if len(set(adjustment)) != len(adjustment) or not set(adjustment) <= _ADJUSTMENTS:
        raise _bad(f"invalid adjustment: {params.get('adjustment')}")
    cursor = _decode_token(params["page_token"]) if params.get("page_token") else None
    if cursor is not None and cursor[0] not in symbols:
        raise _bad("invalid page token")
    return BarsQuery(
        tuple(sorted(set(symbols))), start, end, int(raw_limit), feed, sort == "desc", cursor
    )


@dataclass(slots=True)
class Page:
    """One page of bars: JSON-ready rows per symbol (symbol-major) and the next token."""

    bars: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    next_page_token: str | None = None

    @property
    def rows(self) -> int:
        return sum(len(v) for v in self.bars.values())


def _json_rows(columns: Mapping[str, npt.NDArray[Any]]) -> list[dict[str, Any]]:
    seconds = columns["ts"] // 1_000_000
    stamps = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return [
        {"t": f"{t}Z", "o": o, "h": h, "l": lo, "c": c, "v": v, "n": n, "vw": vw}
        for t, o, h, lo, c, v, n, vw in zip(
            stamps.tolist(),
            columns["open"].tolist(),
            columns["high"].tolist(),
            columns["low"].tolist(),
            columns["close"].tolist(),
            columns["volume"].tolist(),
            columns["trade_count"].tolist(),
            columns["vwap"].tolist(),
            strict=True,
        )
    ]


class BarBook:
    """Bars the fake serves: synthetic sessions, minus symbols and sessions told to be empty."""

    def __init__(self, calendar: TradingCalendar) -> None:
        self.calendar = calendar

    def sessions(self, start: datetime, end: datetime) -> list[Session]:
        """Sessions whose extended hours overlap ``[start, end]`` (both inclusive)."""
        cal, day = self.calendar, timedelta(days=1)
        # a day of slack each side: extended hours of a New York date cross UTC midnight
        first = max(start.date(), cal.first_session + day) - day
        last = min(end.date(), cal.last_session - day) + day
        if first > last:
            return []
        return [
            s
            for s in self.calendar.sessions(first, last)
            if s.extended_close > start and s.extended_open <= end
        ]

    def session_columns(
        self, symbol: str, session: Session, now_us: int
    ) -> dict[str, npt.NDArray[Any]]:
        """The session's bars as numpy columns, without minutes that have not ended by now."""
        table = generate_session(symbol, session)
        ts = table.column("ts").cast("int64").to_numpy()
        keep = ts + _US_PER_MIN <= now_us
        columns = {"ts": ts[keep]}
        for name in ("open", "high", "low", "close", "volume", "trade_count", "vwap"):
            columns[name] = table.column(name).to_numpy()[keep]
        return columns

    def page(
        self,
        query: BarsQuery,
        now: datetime,
        rows: int,
        hidden: set[tuple[str, date]],
        no_data: frozenset[str],
    ) -> Page:
        """Up to ``rows`` bars after ``query.cursor`` in symbol-major order.

        A full page carries a token naming its last bar (the next page may then be empty).
        """
        now_us = _to_us(now)
        lo, hi = _to_us(query.start), _to_us(query.end)
        page = Page()
        left = rows
        sessions = self.sessions(query.start, query.end)
        if query.descending:
            sessions.reverse()
        for symbol in query.symbols:
            if query.cursor is not None and symbol < query.cursor[0]:
                continue
            if symbol in no_data:
                continue
            after = query.cursor[1] if query.cursor and query.cursor[0] == symbol else None
            for chunk in self._chunks(symbol, sessions, now_us, lo, hi, after, query, hidden):
                taken = {k: v[:left] for k, v in chunk.items()}
                page.bars.setdefault(symbol, []).extend(_json_rows(taken))
                left -= len(taken["ts"])
                if left == 0:
                    page.next_page_token = _encode_token(symbol, int(taken["ts"][-1]))
                    return page
        return page

    def _chunks(
        self,
        symbol: str,
        sessions: list[Session],
        now_us: int,
        lo: int,
        hi: int,
        after: int | None,
        query: BarsQuery,
        hidden: set[tuple[str, date]],
    ) -> Iterator[dict[str, npt.NDArray[Any]]]:
        for session in sessions:
            if (symbol, session.date) in hidden:
                continue
            if after is not None and (
                _to_us(session.extended_open) >= after
                if query.descending
                else _to_us(session.extended_close) <= after
            ):
                continue  # wholly on pages already served
            columns = self.session_columns(symbol, session, now_us)
            ts = columns["ts"]
            keep = (ts >= lo) & (ts <= hi)
            if after is not None:
                keep &= (ts < after) if query.descending else (ts > after)
            if not keep.any():
                continue
            chunk = {k: v[keep] for k, v in columns.items()}
            if query.descending:
                chunk = {k: v[::-1] for k, v in chunk.items()}
            yield chunk

    def latest(self, symbol: str, now: datetime) -> dict[str, Any] | None:
        """The last complete minute bar of ``symbol`` at ``now`` (looking back ten days)."""
        now_us = _to_us(now)
        for session in reversed(self.sessions(now - timedelta(days=10), now)):
            columns = self.session_columns(symbol, session, now_us)
            if len(columns["ts"]):
                return _json_rows({k: v[-1:] for k, v in columns.items()})[0]
        return None


def _to_us(instant: datetime) -> int:
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
