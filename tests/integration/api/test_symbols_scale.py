"""GET /symbols with 500 symbols: a fixed number of SQL round trips, counts as a plain loop."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from stockdb.api import create_app
from stockdb.app import App
from stockdb.testing.coverage_rows import SeededCoverage, seed_coverage

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@contextmanager
def counted(app: App) -> Iterator[list[str]]:
    """Every SQL statement the state store's engine runs inside the block."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(app.state.engine, "before_cursor_execute", seen)


def _expected(seeded: SeededCoverage) -> dict[str, Counter[str]]:
    """Plain loop: each coverage row's status, or error when its bars file is damaged."""
    damaged = set(seeded.damaged)
    out: dict[str, Counter[str]] = {}
    for symbol, day, status, rows in seeded.coverage:
        counts = out.setdefault(symbol, Counter())
        counts["error" if (symbol, day) in damaged else status] += 1
        counts["sessions"] += 1
        counts["rows"] += rows
    return out


def _statements_for(app: App, client: TestClient) -> tuple[list[dict[str, Any]], int]:
    with counted(app) as statements:
        response = client.get("/symbols")
    assert response.status_code == 200, response.text
    return response.json(), len(statements)


@pytest.mark.parametrize("symbols", [500])
def test_symbols_list_at_500_symbols(app: App, symbols: int) -> None:
    with TestClient(create_app(app=app, run_runtime=False)) as client:
        _, empty_trips = _statements_for(app, client)
        seeded = seed_coverage(app.state, symbols, 40)
        body, trips = _statements_for(app, client)
    assert trips == empty_trips <= 3  # O(1) round trips, not one per symbol or damaged file
    assert len(body) == symbols and [r["symbol"] for r in body] == sorted(r["symbol"] for r in body)
    expected = _expected(seeded)
    for row in body:
        want = expected[row["symbol"]]
        got = {k: row[k] for k in ("complete", "partial", "empty", "error", "sessions", "rows")}
        assert got == {k: want[k] for k in got}, row["symbol"]
    assert sum(r["error"] for r in body) > sum(1 for *_, s, _ in seeded.coverage if s == "error")


def test_cli_symbols_csv_and_json_at_500_symbols(
    app: App, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    import csv
    import io
    import json

    from stockdb.cli.main import main

    seeded = seed_coverage(app.state, 500, 10)
    assert main(["symbols", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsysbinary.readouterr().out.decode())))
    expected = _expected(seeded)
    assert len(rows) == 500
    for row in rows:
        assert int(row["error"]) == expected[row["symbol"]]["error"]
        assert int(row["rows"]) == expected[row["symbol"]]["rows"]
    assert main(["symbols", "--format", "json"]) == 0
    body = json.loads(capsysbinary.readouterr().out)
    assert [r["symbol"] for r in body] == [r["symbol"] for r in rows]
    assert main(["symbols", "--format", "xml"]) == 2
    err = capsysbinary.readouterr().err.decode()
    assert len(err.strip().splitlines()) == 1 and "unknown format" in err


def test_month_coverage_at_500_symbols_in_one_query(app: App) -> None:
    with TestClient(create_app(app=app, run_runtime=False)) as client:
        seeded = seed_coverage(app.state, 500, 45)  # 2024-01-02 .. 2024-02-15: two months
        with counted(app) as statements:
            response = client.get("/coverage/months")
    assert response.status_code == 200, response.text
    assert len(statements) == 1
    damaged = set(seeded.damaged)
    expected: dict[tuple[str, str], Counter[str]] = {}
    for symbol, day, status, _ in seeded.coverage:  # plain loop reference
        cell = expected.setdefault((symbol, f"{day:%Y-%m}"), Counter())
        cell["error" if (symbol, day) in damaged else status] += 1
    body = response.json()
    assert len(body) == len(expected) == 1000
    for row in body:
        want = expected[(row["symbol"], row["month"])]
        assert row["sessions"] == sum(want.values())
        assert {s: row[s] for s in ("complete", "partial", "empty", "error")} == {
            s: want[s] for s in ("complete", "partial", "empty", "error")
        }
