"""Fixtures: a lake holding raw bars of a symbol with a 4:1 split in the middle of its history."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from stockdb.api import create_app
from stockdb.app import App
from stockdb.calendar import Session
from stockdb.lake.parquet_lake import Lineage
from stockdb.providers.synthetic import generate_session

SPLIT_SYMBOL = "SPLT"
EX_DATE = date(2024, 3, 7)  # a Thursday: sessions 03-04..03-06 are before the split
FIRST, LAST = date(2024, 3, 4), date(2024, 3, 12)


def raw_session(symbol: str, session: Session, ex_date: date | None) -> pa.Table:
    """Synthetic bars as a real raw feed shows them around a 4:1 split: before the ex-date
    prices are 4 times higher and volume a quarter (whole shares)."""
    bars = generate_session(symbol, session)
    if ex_date is None or session.date >= ex_date:
        return bars
    for name in ("open", "high", "low", "close", "vwap"):
        i = bars.column_names.index(name)
        bars = bars.set_column(i, name, pc.multiply(bars.column(name), 4.0))
    i = bars.column_names.index("volume")
    quarter = pc.max_element_wise(pc.divide(bars.column("volume"), 4), 1)
    return bars.set_column(i, "volume", quarter)


WriteFn = Callable[[str, date, date, "date | None"], list[Session]]


@pytest.fixture
def write_raw(app: App) -> WriteFn:
    """Write raw bars of ``symbol`` for sessions ``first..last`` (split at ``ex_date``)."""

    def write(symbol: str, first: date, last: date, ex_date: date | None) -> list[Session]:
        sessions = app.calendar.sessions(first, last)
        with app.lake.writer(symbol):
            for s in sessions:
                app.lake.write_session(
                    symbol,
                    s.date,
                    raw_session(symbol, s, ex_date),
                    Lineage("synthetic", "synthetic"),
                )
        return sessions

    return write


@pytest.fixture
def split_app(app: App, write_raw: WriteFn) -> App:
    """The App with SPLT's raw bars 2024-03-04..03-12 and no actions recorded yet."""
    write_raw(SPLIT_SYMBOL, FIRST, LAST, EX_DATE)
    return app


@pytest.fixture
def make_client(app: App) -> Iterator[Callable[..., Any]]:
    """TestClients over ``create_app(app=app, run_runtime=False)``; all closed at the end."""
    with warnings.catch_warnings():  # starlette warns at import when httpx2 is missing
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    clients: list[Any] = []

    def make(**kwargs: Any) -> Any:
        client = TestClient(create_app(app=app, run_runtime=False), **kwargs)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
