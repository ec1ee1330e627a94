"""GET /bars, /symbols and gaps through the API, checked against the Parquet files on disk."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stockdb.app import App


def lake_table(app: App, symbol: str = "SPY") -> pa.Table:
    """Every stored bar of ``symbol``, read straight from its partition files."""
    files = sorted((app.settings.parquet_dir / symbol).glob("dt=*/bars.parquet"))
    assert files
    return pa.concat_tables([pq.read_table(f) for f in files]).sort_by("ts")


def iso(table: pa.Table) -> list[str]:
    seconds = pc.cast(table.column("ts"), pa.timestamp("s", tz="UTC"))
    return [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in seconds.to_pylist()]


def test_latest_five_bars_equal_the_last_rows_on_disk(seeded: App, client: Any) -> None:
    response = client.get("/bars/SPY?limit=5")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    tail = lake_table(seeded).slice(lake_table(seeded).num_rows - 5)
    assert [b["ts"] for b in body] == iso(tail)
    for name in ("open", "high", "low", "close", "volume", "trade_count", "vwap"):
        assert [b[name] for b in body] == tail.column(name).to_pylist()
    assert set(body[0]) == {"ts", "open", "high", "low", "close", "volume", "trade_count", "vwap"}


def test_lower_case_symbol_and_one_session_range(seeded: App, client: Any) -> None:
    body = client.get("/bars/spy?start=2024-03-06&end=2024-03-06").json()
    on_disk = pq.read_table(seeded.settings.parquet_dir / "SPY/dt=2024-03-06/bars.parquet")
    assert [b["ts"] for b in body] == iso(on_disk)


def test_csv_and_parquet_carry_the_same_bars(seeded: App, client: Any) -> None:
    csv = client.get("/bars/SPY?limit=3&format=csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].replace('"', "") == "ts,open,high,low,close,volume,trade_count,vwap"
    assert len(lines) == 4
    whole = lake_table(seeded)
    assert [line.split(",")[0].strip('"') for line in lines[1:]] == iso(
        whole.slice(whole.num_rows - 3)
    )

    parquet = client.get("/bars/SPY?format=parquet")
    assert parquet.status_code == 200
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    assert "attachment" in parquet.headers["content-disposition"]
    served = pq.read_table(io.BytesIO(parquet.content))
    assert served.num_rows == whole.num_rows  # parquet without a range: the whole history
    assert served.column("ts").equals(whole.column("ts"))
    assert served.column("close").equals(whole.column("close"))


def test_daily_bars_aggregate_the_regular_session(seeded: App, client: Any) -> None:
    body = client.get("/bars/SPY?timeframe=1Day").json()
    assert len(body) == 5
    day = pq.read_table(seeded.settings.parquet_dir / "SPY/dt=2024-03-05/bars.parquet")
    session = seeded.calendar.session(date(2024, 3, 5))
    ts = day.column("ts").cast(pa.int64()).to_numpy()
    lo, hi = int(session.open.timestamp() * 1e6), int(session.close.timestamp() * 1e6)
    regular = day.filter(pa.array((ts >= lo) & (ts < hi)))
    bar = body[1]
    assert bar["open"] == regular.column("open")[0].as_py()
    assert bar["close"] == regular.column("close")[-1].as_py()
    assert bar["high"] == max(regular.column("high").to_pylist())
    assert bar["volume"] == sum(regular.column("volume").to_pylist())


def test_unknown_symbol_is_404_with_a_detail(seeded: App, client: Any) -> None:
    response = client.get("/bars/QQQ")
    assert response.status_code == 404
    assert response.json() == {"detail": "no bars stored for QQQ"}


def test_symbols_and_gaps(seeded: App, client: Any) -> None:
    symbols = client.get("/symbols").json()
    assert [s["symbol"] for s in symbols] == ["SPY"]
    assert symbols[0]["complete"] == 5 and symbols[0]["provider"] == "synthetic"
    assert symbols[0]["rows"] == lake_table(seeded).num_rows
    gaps = client.get("/symbols/SPY/gaps?start=2024-03-01&end=2024-03-12").json()
    statuses = {g["session_date"]: g["status"] for g in gaps}
    assert statuses == {
        "2024-03-01": "missing",
        "2024-03-04": "complete",
        "2024-03-05": "complete",
        "2024-03-06": "complete",
        "2024-03-07": "complete",
        "2024-03-08": "complete",
        "2024-03-11": "missing",
        "2024-03-12": "missing",
    }
    only = client.get("/symbols/SPY/gaps?start=2024-03-01&end=2024-03-12&only_gaps=true").json()
    assert [g["session_date"] for g in only] == ["2024-03-01", "2024-03-11", "2024-03-12"]
    assert client.get("/symbols/QQQ/gaps").status_code == 404
