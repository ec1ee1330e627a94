"""A wire-faithful fake of Alpaca's market-data REST API: a real HTTP server on loopback.

Serves ``/v2/stocks/bars``, ``/v2/stocks/{symbol}/bars``, ``/v2/stocks/bars/latest`` and
``/v2/stocks/{symbol}/bars/latest`` from :func:`stockdb.providers.synthetic.generate_session`
and ``/v1/corporate-actions`` from the synthetic actions (:mod:`.fake_alpaca_actions`)
(timeframe 1Min only; other valid timeframes get a 400 saying so), with symbol-major paging,
opaque page tokens, inclusive start/end, X-RateLimit headers over fixed windows aligned to
the epoch (429 when exhausted), 401 on wrong keys, and injectable faults (:class:`FaultPlan`).
Every request is recorded without its secret header.

In a test::

    with FakeAlpacaServer(rate_limit=20, window_s=2) as fake:
        fake.faults.server_error(count=2)
        provider = AlpacaProvider(fake.settings())

From a shell: ``python -m stockdb.testing.fake_alpaca --port 8765``.
"""

from __future__ import annotations

import argparse
import math
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from stockdb.calendar import TradingCalendar
from stockdb.clock import Clock, SystemClock
from stockdb.config import Settings
from stockdb.testing.fake_alpaca_actions import ActionBook
from stockdb.testing.fake_alpaca_assets import AssetBook
from stockdb.testing.fake_alpaca_book import (
    LATEST_PARAMS,
    BarBook,
    FakeRequestError,
    check_params,
    parse_bars_query,
    parse_symbols,
)
from stockdb.testing.fake_alpaca_faults import FaultPlan, Injected

__all__ = ["FAKE_KEY_ID", "FAKE_SECRET_KEY", "FakeAlpacaServer", "RecordedRequest", "main"]

FAKE_KEY_ID = "FAKEKEYID0000"
FAKE_SECRET_KEY = "fake-secret-key-0000"  # noqa: S105 - a test credential, never real
_SECRET_HEADER = "apca-api-secret-key"  # noqa: S105 - a header name
_SIP_MESSAGE = "subscription does not permit querying recent SIP data"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake saw it (the secret header is never recorded)."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int  # 0 when the connection was dropped on purpose
    rows: int
    injected: str | None  # the fault served, if any
    at: float = 0.0  # when it was answered, in epoch seconds of the server's clock


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeAlpacaServer) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, dropped connections) are expected here."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake records requests instead of printing them."""

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    def send_json(self, status: int, body: Any, headers: dict[str, str]) -> None:
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


class FakeAlpacaServer:
    """The fake Alpaca data API on ``127.0.0.1`` (``port=0`` picks a free port).

    ``rate_limit`` requests per ``window_s``-second window, windows aligned to multiples of
    ``window_s`` since the epoch, so ``X-RateLimit-Reset`` is an exact epoch second. ``clock``
    drives the rate windows and "now" (only minutes that ended before now are served); share
    a :class:`~stockdb.clock.ManualClock` with the client to run in virtual time.
    """

    def __init__(
        self,
        *,
        key_id: str = FAKE_KEY_ID,
        secret_key: str = FAKE_SECRET_KEY,
        rate_limit: int = 200,
        window_s: int = 60,
        host: str = "127.0.0.1",
        port: int = 0,
        calendar: TradingCalendar | None = None,
        clock: Clock | None = None,
    ) -> None:
        if rate_limit < 1 or window_s < 1:
            raise ValueError("rate_limit and window_s must be >= 1")
        self.key_id = key_id
        self.secret_key = secret_key
        self.rate_limit = rate_limit
        self.window_s = int(window_s)
        self.faults = FaultPlan()
        self.clock = clock or SystemClock()
        self._book = BarBook(calendar or TradingCalendar())
        self.actions = ActionBook()
        self.assets = AssetBook()
        self._address = (host, port)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._window = -1
        self._used = 0
        self._limit_429s = 0
        self._open: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeAlpacaServer:
        """Bind and serve in a daemon thread; returns self. Raises OSError if the port is taken."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, hang up on open connections and release the port; idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            open_connections = list(self._open)
        for conn in open_connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeAlpacaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake Alpaca server is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL to put in ``ALPACA_API_BASE_URL``."""
        return f"http://{self._address[0]}:{self.port}"

    def settings(self, **overrides: Any) -> Settings:
        """Settings pointing at this server with its key pair (``overrides`` win)."""
        values: dict[str, Any] = {
            "alpaca_key_id": self.key_id,
            "alpaca_secret_key": self.secret_key,
            "alpaca_base_url": self.url,
            "alpaca_trading_url": self.url,
            "alpaca_feed": "iex",
            "alpaca_timeout_s": 5.0,
        }
        values.update(overrides)
        return Settings(**values)

    # -- what happened ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def limit_429s(self) -> int:
        """429s sent because the rate limit was exhausted (not injected ones)."""
        with self._lock:
            return self._limit_429s

    @property
    def injected_429s(self) -> int:
        """429s sent because a test injected them."""
        with self._lock:
            return sum(1 for r in self._requests if r.injected == "rate_limit")

    @property
    def total_429s(self) -> int:
        return self.limit_429s + self.injected_429s

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._open.add(conn)
            else:
                self._open.discard(conn)

    # -- serving ----------------------------------------------------------------------------

    def _record(
        self,
        handler: _Handler,
        path: str,
        params: dict[str, str],
        status: int,
        rows: int,
        injected: str | None,
    ) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items() if k.lower() != _SECRET_HEADER}
        at = self.clock.now().timestamp()
        with self._lock:
            self._requests.append(
                RecordedRequest(path, params, headers, status, rows, injected, at)
            )

    def _quota(self, consume: bool) -> tuple[dict[str, str], bool]:
        """Rate-limit headers for a response now, and whether the quota allowed it."""
        now = self.clock.now().timestamp()
        window = int(now // self.window_s)
        with self._lock:
            if window != self._window:
                self._window, self._used = window, 0
            allowed = self._used < self.rate_limit
            if allowed and consume:
                self._used += 1
            elif not allowed:
                self._limit_429s += 1
            remaining = self.rate_limit - self._used
        reset = (window + 1) * self.window_s
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
        }, allowed

    def _handle(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        path = split.path
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        fault = self.faults.take(path)
        kind = fault.kind if fault is not None else None
        if fault is not None and fault.kind == "drop":
            handler.close_connection = True
            self._record(handler, path, params, 0, 0, kind)
            return
        if fault is not None and fault.kind == "slow":
            self._stopping.wait(fault.delay_s)
        answer = self._injected(fault)
        if answer is None:
            headers, allowed = self._quota(consume=True)
            if allowed:
                status, body, rows = self._answer(handler, path, params, fault)
            else:
                status, body, rows = 429, {"message": "too many requests"}, 0
        else:
            status, body, headers = answer
            rows = 0
        # record before answering, so a client that got its answer sees the record
        self._record(handler, path, params, status, rows, kind)
        try:
            handler.send_json(status, body, headers)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True

    def _injected(self, fault: Injected | None) -> tuple[int, Any, dict[str, str]] | None:
        """The answer a queued fault dictates, or None to answer normally."""
        if fault is None:
            return None
        if fault.kind == "rate_limit":
            headers, _ = self._quota(consume=False)
            reset = math.ceil(self.clock.now().timestamp() + fault.delay_s)
            headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
            return 429, {"message": "too many requests"}, headers
        if fault.kind == "server_error":
            headers, _ = self._quota(consume=False)
            return fault.status, {"message": "internal server error"}, headers
        if fault.kind == "garbage":
            headers, _ = self._quota(consume=True)
            return 200, b'{"bars": {"AAPL": [{"t": "2024-', headers
        return None

    def _answer(
        self, handler: _Handler, path: str, params: dict[str, str], fault: Injected | None
    ) -> tuple[int, Any, int]:
        """Status, JSON body and row count for an authorised, in-quota request."""
        if (
            handler.headers.get("APCA-API-KEY-ID") != self.key_id
            or handler.headers.get("APCA-API-SECRET-KEY") != self.secret_key
        ):
            return 401, {"message": "unauthorized"}, 0
        parts = [unquote(p) for p in path.strip("/").split("/")]
        try:
            if parts == ["v2", "assets"]:
                assets, count = self.assets.answer(params)
                return 200, assets, count
            if parts == ["v1", "corporate-actions"]:
                body, count = self.actions.answer(params, self.clock.now())
                return 200, body, count
            if parts[:3] == ["v2", "stocks", "bars"] and len(parts) in (3, 4):
                if len(parts) == 4:
                    if parts[3] != "latest":
                        raise FakeRequestError(404, "endpoint not found")
                    return self._latest(params, None)
                return self._bars(params, None, path, fault)
            if parts[:2] == ["v2", "stocks"] and len(parts) in (4, 5) and parts[3] == "bars":
                if len(parts) == 5:
                    if parts[4] != "latest":
                        raise FakeRequestError(404, "endpoint not found")
                    return self._latest(params, parts[2])
                return self._bars(params, parts[2], path, fault)
            raise FakeRequestError(404, "endpoint not found")
        except FakeRequestError as exc:
            return exc.status, exc.body(), 0

    def _sip_refused(self, feed: str, end_ts: float) -> bool:
        now = self.clock.now().timestamp()
        cutoff = self.faults.recent_sip_cutoff_s()
        return feed == "sip" and cutoff is not None and end_ts > now - cutoff

    def _bars(
        self, params: dict[str, str], symbol: str | None, path: str, fault: Injected | None
    ) -> tuple[int, Any, int]:
        now = self.clock.now()
        query = parse_bars_query(params, symbol, now)
        if self._sip_refused(query.feed, query.end.timestamp()):
            raise FakeRequestError(403, _SIP_MESSAGE)
        key = (path, tuple(sorted((k, v) for k, v in params.items() if k != "page_token")))
        hidden = self.faults.hidden_sessions(
            key,
            first=query.cursor is None,
            symbols=query.symbols,
            days=lambda: {s.date for s in self._book.sessions(query.start, query.end)},
        )
        rows = fault.rows if fault is not None and fault.kind == "short_page" else query.limit
        page = self._book.page(query, now, rows, hidden, self.faults.no_data())
        if symbol is None:
            body: dict[str, Any] = {"bars": page.bars, "next_page_token": page.next_page_token}
        else:
            single = page.bars.get(query.symbols[0])
            body = {
                "bars": single or None,
                "symbol": query.symbols[0],
                "next_page_token": page.next_page_token,
            }
        return 200, body, page.rows

    def _latest(self, params: dict[str, str], symbol: str | None) -> tuple[int, Any, int]:
        allowed = LATEST_PARAMS if symbol is None else LATEST_PARAMS - {"symbols"}
        check_params(params, allowed)
        symbols = parse_symbols(params.get("symbols") if symbol is None else symbol)
        feed = params.get("feed", "sip")
        if feed not in ("sip", "iex", "delayed_sip", "boats", "overnight", "otc"):
            raise FakeRequestError(400, f"invalid feed: {feed}", 40010000)
        if self.faults.recent_sip_cutoff_s() is not None and feed == "sip":
            raise FakeRequestError(403, _SIP_MESSAGE)
        now = self.clock.now()
        no_data = self.faults.no_data()
        bars = {
            s: bar
            for s in dict.fromkeys(symbols)
            if s not in no_data and (bar := self._book.latest(s, now)) is not None
        }
        if symbol is not None:
            if not bars:
                raise FakeRequestError(404, f"no bar found for {symbol}")
            return 200, {"symbol": symbol, "bar": bars[symbol]}, 1
        return 200, {"bars": bars}, len(bars)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the fake until interrupted: ``python -m stockdb.testing.fake_alpaca --port N``."""
    parser = argparse.ArgumentParser(description="A fake Alpaca market-data server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--key-id", default=FAKE_KEY_ID)
    parser.add_argument("--secret-key", default=FAKE_SECRET_KEY)
    parser.add_argument("--rate-limit", type=int, default=200, help="requests per window")
    parser.add_argument("--window", type=int, default=60, help="window length in seconds")
    args = parser.parse_args(argv)
    fake = FakeAlpacaServer(
        key_id=args.key_id,
        secret_key=args.secret_key,
        rate_limit=args.rate_limit,
        window_s=args.window,
        host=args.host,
        port=args.port,
    ).start()
    print(f"fake Alpaca serving on {fake.url} (key id {fake.key_id})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
