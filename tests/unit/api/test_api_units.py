"""Pure pieces of the API: token check, Parquet streaming, error text, default range, agents."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stockdb.api.context import check_token
from stockdb.api.errors import validation_detail
from stockdb.api.tables import iter_parquet
from stockdb.calendar import TradingCalendar
from stockdb.errors import InvalidInput
from stockdb.usecases.ingest import default_range
from stockdb.usecases.operations import agents_view


def test_check_token() -> None:
    assert check_token(None, None) is True
    assert check_token("", "anything") is True
    assert check_token("abc", None) is False
    assert check_token("abc", "abd") is False
    assert check_token("abc", "abc ") is False
    assert check_token("abc", "abc") is True
    assert check_token("ünï", "ünï") is True


@pytest.mark.parametrize("rows", [0, 1, 10, 25_000])
def test_parquet_chunks_concatenate_to_the_table(rows: int) -> None:
    table = pa.table(
        {
            "ts": pa.array(range(rows), pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "close": pa.array([float(i) / 3 for i in range(rows)], pa.float64()),
        }
    )
    chunks = list(iter_parquet(table, row_group=10_000))
    assert len(chunks) >= (rows // 10_000) + 1
    back = pq.read_table(io.BytesIO(b"".join(chunks)))
    assert back.equals(table)
    assert pq.ParquetFile(io.BytesIO(b"".join(chunks))).metadata.num_row_groups == max(
        1, -(-rows // 10_000)
    )


def test_validation_detail_names_parameters_without_echoing_input() -> None:
    errors = [
        {
            "loc": ("query", "limit"),
            "msg": "Input should be less than or equal to 5",
            "input": "9" * 50,
        },
        {"loc": ("path", "symbol"), "msg": "String should have at most 40 characters"},
        {"loc": ("body",), "msg": "Field required"},
    ]
    text = validation_detail(errors)
    assert text == (
        "limit: Input should be less than or equal to 5; "
        "symbol: String should have at most 40 characters; request: Field required"
    )
    assert "9" * 50 not in text


@pytest.fixture(scope="module")
def calendar() -> TradingCalendar:
    return TradingCalendar()


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Friday during the session: that session and the four before it
        (datetime(2024, 3, 8, 15, 0, tzinfo=UTC), (date(2024, 3, 4), date(2024, 3, 8))),
        # Saturday: the week just ended
        (datetime(2024, 3, 9, 12, 0, tzinfo=UTC), (date(2024, 3, 4), date(2024, 3, 8))),
        # Friday 5 July 2024: the 4th is a holiday, so the window reaches back to 28 June
        (datetime(2024, 7, 5, 18, 0, tzinfo=UTC), (date(2024, 6, 28), date(2024, 7, 5))),
        # Monday 02:00 New York (before the 04:00 pre-market): the previous week
        (datetime(2024, 3, 11, 6, 0, tzinfo=UTC), (date(2024, 3, 4), date(2024, 3, 8))),
    ],
)
def test_default_ingest_range_is_the_latest_five_sessions(
    calendar: TradingCalendar, now: datetime, expected: tuple[date, date]
) -> None:
    assert default_range(calendar, now, None, None) == expected


def test_default_range_fills_only_what_is_missing(calendar: TradingCalendar) -> None:
    now = datetime(2024, 3, 8, 15, 0, tzinfo=UTC)
    assert default_range(calendar, now, date(2024, 1, 2), None) == (
        date(2024, 1, 2),
        date(2024, 3, 8),
    )
    assert default_range(calendar, now, None, date(2024, 3, 1)) == (
        date(2024, 2, 26),
        date(2024, 3, 1),
    )
    with pytest.raises(InvalidInput):
        default_range(calendar, now, date(2024, 3, 8), date(2024, 3, 1))


def _beat(agent: str, worker: str, state: str, stalled: bool) -> dict[str, object]:
    return {
        "agent": agent,
        "worker": worker,
        "state": "stalled" if stalled else state,
        "stalled": stalled,
    }


def test_agents_view_derives_one_state_per_agent() -> None:
    status = {
        "now": "2024-03-08T15:00:00+00:00",
        "controls": {"backfill": True, "live": False, "features": True},
        "agents": [
            _beat("backfill", "w1", "idle", False),
            _beat("backfill", "w2", "working", False),
            _beat("features", "w1", "idle", True),
            _beat("worker", "w1", "idle", False),
        ],
        "alerts": [],
        "queue": {"pending": 0},
        "running": [],
    }
    view = agents_view(status)
    states = {a["name"]: (a["state"], a["enabled"], a["stalled"]) for a in view["agents"]}
    assert states == {
        "backfill": ("working", True, False),
        "live": ("stopped", False, False),
        "features": ("stalled", True, True),
        "worker": ("idle", True, False),
    }
    assert [a["name"] for a in view["agents"]] == ["backfill", "live", "features", "worker"]
