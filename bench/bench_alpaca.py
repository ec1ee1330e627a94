"""Alpaca client: page parsing speed vs orjson alone, and rate-limited backfill pace vs the floor.

1. Parsing: Alpaca-format pages of 10,000 bars (made from generate_session), parsed by the
   client (orjson + column extraction + Arrow) against ``orjson.loads`` alone, in bars/s;
   and parsed, validated, split by session and persisted like an ingest: one durable write
   round of the page's symbols, fsync'd files and their rollups (goal <= 3x ``orjson.loads``).
   Also a full fetch over loopback from the fake server (serialisation included).
2. Backfill: N requests against the fake limited to L requests per W-second window; prints
   the elapsed time against the minimum N/L windows and their ratio (goal <= 1.1x), and the
   429s the server had to send (goal 0).

Run: ``.venv/bin/python -m bench.bench_alpaca [--requests 100 --limit 20 --window 2]``
(or ``python -m bench alpaca`` with the defaults).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.common import median_time, print_table
from stockdb.bars import validate_bars
from stockdb.calendar import TradingCalendar
from stockdb.ingest.planning import split_by_session
from stockdb.lake.locks import FileSymbolLocks
from stockdb.lake.parquet_lake import Lineage, ParquetLake, SessionWrites
from stockdb.providers.alpaca import AlpacaProvider
from stockdb.providers.alpaca_wire import bars_table
from stockdb.providers.synthetic import generate_session
from stockdb.testing.fake_alpaca import FakeAlpacaServer

__all__ = ["main", "run"]

PAGE_BARS = 10_000


def _alpaca_page(calendar: TradingCalendar, symbols: list[str]) -> bytes:
    """A multi-symbol Alpaca page body holding exactly PAGE_BARS bars, symbol-major."""
    bars: dict[str, list[dict[str, object]]] = {}
    sessions = calendar.sessions(date(2024, 1, 2), date(2024, 6, 28))
    for k, symbol in enumerate(symbols):
        quota = PAGE_BARS // len(symbols) + (PAGE_BARS % len(symbols) if k == 0 else 0)
        rows: list[dict[str, object]] = []
        for session in sessions:
            cols = generate_session(symbol, session).to_pydict()
            rows += [
                {
                    "t": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "o": o,
                    "h": h,
                    "l": lo,
                    "c": c,
                    "v": v,
                    "n": n,
                    "vw": vw,
                }
                for t, o, h, lo, c, v, n, vw in zip(
                    cols["ts"],
                    cols["open"],
                    cols["high"],
                    cols["low"],
                    cols["close"],
                    cols["volume"],
                    cols["trade_count"],
                    cols["vwap"],
                    strict=True,
                )
            ]
            if len(rows) >= quota:
                break
        bars[symbol] = rows[:quota]
    return orjson.dumps({"bars": bars, "next_page_token": "QUFQTHxNfDIwMjQ="})


def _parse(body: bytes) -> pa.Table:
    payload = orjson.loads(body)
    return bars_table(list(payload["bars"].items()))


def _parsing(calendar: TradingCalendar) -> list[tuple[str, ...]]:
    body = _alpaca_page(calendar, ["AAPL", "MSFT", "SPY"])
    rows = _parse(body).num_rows
    assert rows == PAGE_BARS
    loads = median_time(lambda: orjson.loads(body), repeat=15)
    parse = median_time(lambda: _parse(body), repeat=15)
    prepare = median_time(lambda: _prepare(body, calendar), repeat=15)
    items = _prepare(body, calendar)
    files = sum(len(sessions) for sessions in items.values())
    encode = median_time(lambda: _encode_only(items), repeat=8)
    with tempfile.TemporaryDirectory() as tmp:
        # a fresh, empty lake per run (made and removed outside the timed part)
        lakes = iter([Path(tmp) / f"run{k}" for k in range(20)])
        persist = median_time(lambda: _parse_and_persist(body, calendar, next(lakes)), repeat=8)
        write = median_time(lambda: _write_round(items, calendar, next(lakes)), repeat=8)

    def row(name: str, seconds: float) -> tuple[str, ...]:
        return (name, f"{seconds * 1e3:.2f}", f"{rows / seconds:,.0f}", f"{seconds / loads:.2f}x")

    return [
        row("orjson.loads alone", loads),
        row("client parse to Arrow", parse),
        row("parse + validate + split by symbol and session", prepare),
        row("parse + validate + persist (fsync'd files; goal <= 3x)", persist),
        row(f"  of which the write round ({files} sessions + rollups)", write),
        row(f"  floor: pyarrow encoding the {files} session files (memory)", encode),
    ]


def _prepare(body: bytes, calendar: TradingCalendar) -> dict[str, SessionWrites]:
    """Parse, validate and split a page by symbol and session, as an ingest does."""
    table = validate_bars(_parse(body)).good
    items: dict[str, SessionWrites] = {}
    for symbol in pc.unique(table.column("symbol")).to_pylist():
        part = table.filter(pc.equal(table.column("symbol"), symbol))
        sessions = split_by_session(part, calendar).by_session
        items[symbol] = {d: (t, "merge") for d, t in sessions.items()}
    return items


def _write_round(items: dict[str, SessionWrites], calendar: TradingCalendar, root: Path) -> None:
    """Every session of every symbol in one durable round (fsync'd temp files, renames,
    rollups), as the backfill persists a month of its symbols. The lake shares the process's
    calendar, like the App's."""
    lake = ParquetLake(root / "parquet", FileSymbolLocks(root / "locks"), calendar=calendar)
    with lake.writers(items):
        lake.write_sessions_many(items, Lineage("alpaca", "iex"))


def _encode_only(items: dict[str, SessionWrites]) -> None:
    """The CPU floor of any Parquet persist: the session files encoded in memory, one thread."""
    for sessions in items.values():
        for table, _ in sessions.values():
            pq.write_table(table, pa.BufferOutputStream(), compression="zstd")


def _parse_and_persist(body: bytes, calendar: TradingCalendar, root: Path) -> None:
    """What an ingest does with a page: parse, validate, split, then one write round."""
    _write_round(_prepare(body, calendar), calendar, root)


def _loopback(calendar: TradingCalendar) -> tuple[str, ...]:
    start, end = datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    with FakeAlpacaServer(calendar=calendar, rate_limit=10_000) as fake:
        with AlpacaProvider(fake.settings()) as provider:
            began = time.perf_counter()
            rows = sum(page.num_rows for page in provider.fetch_bars(["AAPL", "SPY"], start, end))
            elapsed = time.perf_counter() - began
    return (
        "fetch over loopback (fake serialises)",
        f"{elapsed * 1e3:.0f}",
        f"{rows / elapsed:,.0f}",
        "-",
    )


def _backfill(
    calendar: TradingCalendar, requests: int, limit: int, window: int
) -> list[tuple[str, ...]]:
    start, end = datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 31, tzinfo=UTC)
    with FakeAlpacaServer(calendar=calendar, rate_limit=limit, window_s=window) as fake:
        fake.faults.short_page(count=requests - 1, rows=20)
        with AlpacaProvider(fake.settings()) as provider:
            # start on a window boundary, so the first window is a whole one
            time.sleep(window - time.time() % window)
            began = time.perf_counter()
            for _ in provider.fetch_bars(["SPY"], start, end):
                if len(fake.requests) >= requests:
                    break
            elapsed = time.perf_counter() - began
            sent = len(fake.requests)
            waited = provider.stats.wait_s
        too_many = fake.total_429s
    floor = sent / limit * window
    return [
        ("requests sent", str(sent)),
        ("limit", f"{limit} per {window} s (start on a window boundary)"),
        ("elapsed (s)", f"{elapsed:.2f}"),
        ("minimum N/L windows (s)", f"{floor:.2f}"),
        ("ratio (goal <= 1.1x)", f"{elapsed / floor:.2f}x"),
        ("limiter wait (s)", f"{waited:.2f}"),
        ("429s from the server (goal 0)", str(too_many)),
    ]


def run(requests: int = 100, limit: int = 20, window: int = 2) -> None:
    """Run both benchmarks and print their tables."""
    calendar = TradingCalendar()
    rows = _parsing(calendar)
    rows.append(_loopback(calendar))
    print_table(
        f"Alpaca page parsing ({PAGE_BARS:,} bars per page)",
        rows,
        ("step", "ms per page", "bars/s", "vs loads"),
    )
    print_table(
        "Rate-limited backfill against the fake",
        _backfill(calendar, requests, limit, window),
        ("measure", "value"),
    )


def main() -> None:
    """Benchmark entry point (``python -m bench alpaca``): defaults, no arguments read."""
    run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--window", type=int, default=2)
    args = parser.parse_args()
    run(args.requests, args.limit, args.window)
