"""The fake Alpaca server speaks the wire format: raw HTTP requests, literal expectations."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import httpx
import orjson
import pytest

from stockdb.calendar import TradingCalendar
from stockdb.clock import ManualClock
from stockdb.providers.synthetic import generate_session
from stockdb.testing.fake_alpaca import FAKE_KEY_ID, FAKE_SECRET_KEY, FakeAlpacaServer

AUTH = {"APCA-API-KEY-ID": FAKE_KEY_ID, "APCA-API-SECRET-KEY": FAKE_SECRET_KEY}
NOW = datetime(2025, 6, 2, 15, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def fake(calendar: TradingCalendar, clock: ManualClock) -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(calendar=calendar, clock=clock, rate_limit=50, window_s=60) as server:
        yield server


@pytest.fixture
def http(fake: FakeAlpacaServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, headers=AUTH, timeout=5.0) as client:
        yield client


def bar_times(body: dict, symbol: str) -> list[str]:
    return [bar["t"] for bar in body["bars"].get(symbol) or []]


def test_multi_symbol_paging_counts_limit_across_symbols(
    http: httpx.Client, calendar: TradingCalendar
) -> None:
    session = calendar.session(date(2024, 4, 2))
    aapl = generate_session("AAPL", session)
    params = {
        "symbols": "MSFT,AAPL",
        "timeframe": "1Min",
        "start": "2024-04-02T00:00:00Z",
        "end": "2024-04-03T00:00:00Z",
        "limit": str(aapl.num_rows + 5),
    }
    first = http.get("/v2/stocks/bars", params=params).json()
    # symbol-major: all of AAPL first, then the first 5 MSFT bars, then a token
    assert list(first["bars"]) == ["AAPL", "MSFT"]
    assert len(first["bars"]["AAPL"]) == aapl.num_rows
    assert len(first["bars"]["MSFT"]) == 5
    assert first["next_page_token"]
    assert b"MSFT|M|" in base64.b64decode(first["next_page_token"])
    second = http.get(
        "/v2/stocks/bars", params={**params, "page_token": first["next_page_token"]}
    ).json()
    assert list(second["bars"]) == ["MSFT"]
    assert second["next_page_token"] is None
    msft = generate_session("MSFT", session)
    assert len(first["bars"]["MSFT"]) + len(second["bars"]["MSFT"]) == msft.num_rows
    bar = first["bars"]["AAPL"][0]
    assert set(bar) == {"t", "o", "h", "l", "c", "v", "n", "vw"}
    assert bar["t"].endswith("Z") and isinstance(bar["v"], int)
    assert bar["o"] == aapl.column("open")[0].as_py()


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_start_and_end_are_inclusive_in_every_time_format(
    http: httpx.Client, calendar: TradingCalendar
) -> None:
    session = calendar.session(date(2024, 4, 2))
    ts = generate_session("AAPL", session).column("ts").to_pylist()
    a, b = ts[300], ts[305]
    edt = timezone(timedelta(hours=-4))
    for start, end in [
        (_stamp(a), _stamp(b)),
        (a.isoformat(), b.isoformat()),  # +00:00
        (a.strftime("%Y-%m-%dT%H:%M:%S.000000000Z"), b.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
        (a.astimezone(edt).isoformat(), b.astimezone(edt).isoformat()),  # -04:00
    ]:
        body = http.get(
            "/v2/stocks/AAPL/bars", params={"timeframe": "1Min", "start": start, "end": end}
        ).json()
        assert [bar["t"] for bar in body["bars"]] == [_stamp(t) for t in ts[300:306]]
        assert body["symbol"] == "AAPL"
    whole_day = http.get(  # date-only: UTC midnights, both inclusive
        "/v2/stocks/AAPL/bars",
        params={"timeframe": "1Min", "start": "2024-04-02", "end": "2024-04-03"},
    ).json()
    assert [bar["t"] for bar in whole_day["bars"]] == [_stamp(t) for t in ts]
    nothing = http.get(
        "/v2/stocks/AAPL/bars",
        params={"timeframe": "1Min", "start": "2024-04-06", "end": "2024-04-07"},
    ).json()
    assert nothing["bars"] is None and nothing["next_page_token"] is None  # a weekend


def test_descending_sort_reverses_time_within_a_symbol(
    http: httpx.Client, calendar: TradingCalendar
) -> None:
    ts = generate_session("AAPL", calendar.session(date(2024, 4, 2))).column("ts").to_pylist()
    params = {
        "timeframe": "1Min",
        "start": _stamp(ts[200]),
        "end": _stamp(ts[209]),
        "sort": "desc",
        "limit": "4",
    }
    times: list[str] = []
    token = None
    while True:
        extra = {"page_token": token} if token else {}
        body = http.get("/v2/stocks/AAPL/bars", params={**params, **extra}).json()
        times += [b["t"] for b in body["bars"] or []]
        token = body["next_page_token"]
        if token is None:
            break
    assert times == [_stamp(t) for t in reversed(ts[200:210])]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"timeframe": "1Minute"}, "invalid timeframe: 1Minute"),
        ({"timeframe": "5Min"}, "serves only timeframe=1Min"),
        ({"timeframe": "1Min", "start": "2024-13-01"}, "invalid start"),
        ({"timeframe": "1Min", "start": "2024-04-02T10:00:00"}, "invalid start"),
        ({"timeframe": "1Min", "end": "yesterday"}, "invalid end"),
        ({"timeframe": "1Min", "start": "2024-04-03", "end": "2024-04-02"}, "before start"),
        ({"timeframe": "1Min", "limit": "10001"}, "invalid limit"),
        ({"timeframe": "1Min", "limit": "0"}, "invalid limit"),
        ({"timeframe": "1Min", "foo": "1"}, "unexpected parameter(s): foo"),
        ({"timeframe": "1Min", "adjustment": "raw,raw"}, "invalid adjustment"),
        ({"timeframe": "1Min", "feed": "nasdaq"}, "invalid feed"),
        ({"timeframe": "1Min", "page_token": "%%%"}, "invalid page token"),
    ],
)
def test_bad_parameters_get_400_with_a_message(
    http: httpx.Client, params: dict[str, str], message: str
) -> None:
    response = http.get("/v2/stocks/bars", params={"symbols": "AAPL", **params})
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_wrong_or_missing_keys_get_401(fake: FakeAlpacaServer) -> None:
    for headers in ({}, {**AUTH, "APCA-API-SECRET-KEY": "nope"}):
        response = httpx.get(f"{fake.url}/v2/stocks/bars/latest?symbols=AAPL", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"message": "unauthorized"}
    assert all("apca-api-secret-key" not in r.headers for r in fake.requests)
    assert fake.requests[0].headers.get("apca-api-key-id") is None
    assert fake.requests[1].headers["apca-api-key-id"] == FAKE_KEY_ID


def test_rate_limit_headers_and_429_when_the_window_is_spent(
    calendar: TradingCalendar, clock: ManualClock
) -> None:
    with (
        FakeAlpacaServer(calendar=calendar, clock=clock, rate_limit=3, window_s=10) as fake,
        httpx.Client(base_url=fake.url, headers=AUTH) as http,
    ):
        window_end = str((int(NOW.timestamp()) // 10 + 1) * 10)
        seen = []
        for _ in range(4):
            response = http.get("/v2/stocks/bars/latest", params={"symbols": "AAPL"})
            seen.append((response.status_code, response.headers["X-RateLimit-Remaining"]))
            assert response.headers["X-RateLimit-Limit"] == "3"
            assert response.headers["X-RateLimit-Reset"] == window_end
        assert seen == [(200, "2"), (200, "1"), (200, "0"), (429, "0")]
        clock.advance(10)  # the next window refills the quota
        assert http.get("/v2/stocks/bars/latest", params={"symbols": "AAPL"}).status_code == 200
        assert (fake.limit_429s, fake.injected_429s) == (1, 0)


def test_latest_endpoints(http: httpx.Client, fake: FakeAlpacaServer) -> None:
    fake.faults.no_data_for("ZZZZ")
    many = http.get("/v2/stocks/bars/latest", params={"symbols": "AAPL,ZZZZ", "feed": "iex"})
    assert set(many.json()["bars"]) == {"AAPL"}
    assert isinstance(many.json()["bars"]["AAPL"], dict)
    # NOW is a Monday 11:00 New York: the latest bar is one of today's, minutes already over
    assert "2025-06-02T13:30:00Z" <= many.json()["bars"]["AAPL"]["t"] <= "2025-06-02T14:59:00Z"
    one = http.get("/v2/stocks/AAPL/bars/latest").json()
    assert one["symbol"] == "AAPL" and one["bar"] == many.json()["bars"]["AAPL"]


def test_injected_faults_each_spoil_one_request(http: httpx.Client, fake: FakeAlpacaServer) -> None:
    fake.faults.server_error(status=502)
    fake.faults.rate_limit(reset_in_s=5)
    fake.faults.garbage()
    fake.faults.drop_connection()
    url = "/v2/stocks/bars/latest"
    assert http.get(url, params={"symbols": "AAPL"}).status_code == 502
    limited = http.get(url, params={"symbols": "AAPL"})
    assert limited.status_code == 429 and limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) == int(NOW.timestamp()) + 5
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(http.get(url, params={"symbols": "AAPL"}).content)
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(url, params={"symbols": "AAPL"})
    assert http.get(url, params={"symbols": "AAPL"}).status_code == 200
    assert [r.injected for r in fake.requests] == [
        "server_error",
        "rate_limit",
        "garbage",
        "drop",
        None,
    ]
    assert fake.faults.pending == 0


def test_short_page_waits_for_a_bars_request(http: httpx.Client, fake: FakeAlpacaServer) -> None:
    fake.faults.short_page(rows=3)
    assert http.get("/v2/stocks/bars/latest", params={"symbols": "AAPL"}).status_code == 200
    body = http.get(
        "/v2/stocks/bars",
        params={"symbols": "AAPL", "timeframe": "1Min", "start": "2024-04-02", "end": "2024-04-03"},
    ).json()
    assert len(body["bars"]["AAPL"]) == 3 and body["next_page_token"]


def test_a_session_can_be_served_empty_to_its_first_query_only(
    http: httpx.Client, fake: FakeAlpacaServer
) -> None:
    fake.faults.empty_once("AAPL", date(2024, 4, 2))
    params = {
        "symbols": "AAPL",
        "timeframe": "1Min",
        "start": "2024-04-01T00:00:00Z",
        "end": "2024-04-04T00:00:00Z",
        "limit": "500",
    }

    def days() -> set[str]:
        found: set[str] = set()
        token = None
        while True:
            extra = {"page_token": token} if token else {}
            body = http.get("/v2/stocks/bars", params={**params, **extra}).json()
            found |= {t[:10] for t in bar_times(body, "AAPL")}
            token = body["next_page_token"]
            if token is None:
                return found

    assert "2024-04-02" not in days()  # the gap, on every page of that first query
    assert "2024-04-02" in days()  # repaired on the next query


def test_recent_sip_is_refused_with_403(http: httpx.Client, fake: FakeAlpacaServer) -> None:
    fake.faults.forbid_recent_sip()
    recent = http.get(
        "/v2/stocks/bars",
        params={"symbols": "AAPL", "timeframe": "1Min", "feed": "sip", "start": "2025-06-02"},
    )
    assert recent.status_code == 403
    assert recent.json()["message"] == "subscription does not permit querying recent SIP data"
    old = http.get(
        "/v2/stocks/bars",
        params={
            "symbols": "AAPL",
            "timeframe": "1Min",
            "feed": "sip",
            "start": "2025-06-02T13:00:00Z",
            "end": "2025-06-02T14:40:00Z",
        },
    )
    assert old.status_code == 200
    assert http.get("/v2/stocks/bars/latest?symbols=AAPL&feed=sip").status_code == 403


def test_runs_from_the_command_line() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "stockdb.testing.fake_alpaca", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" on ")[1].split()[0]
        response = httpx.get(f"{url}/v2/stocks/bars/latest?symbols=AAPL", headers=AUTH)
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
