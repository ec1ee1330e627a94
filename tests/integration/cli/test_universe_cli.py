"""``stockdb universe`` and ``--universe`` / several symbols on bars, ingest, track and
features build, through the real CLI entry point on a temp data dir (the fake Alpaca serves
the assets list for ``--from-alpaca``)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import stockdb
from stockdb.calendar import TradingCalendar
from stockdb.cli.main import main
from stockdb.testing.fake_alpaca import FakeAlpacaServer
from stockdb.testing.fake_alpaca_assets import asset

from ...conftest import snapshot  # type: ignore[import-not-found]

RANGE = ("--start", "2024-03-04", "--end", "2024-03-06")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(code: int, err: str) -> str:
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def fake(calendar: TradingCalendar) -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(calendar=calendar) as server:
        yield server


def test_universe_lifecycle(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "universe", "create", "tech", "aapl", "MSFT,NVDA", "AAPL")
    assert code == 0, err
    assert "created universe tech: 3 symbols (source manual)" in out
    assert run(capsys, "universe", "show", "tech")[1].split() == ["AAPL", "MSFT", "NVDA"]
    code, out, _ = run(capsys, "universe", "add", "tech", "AMD", "MSFT")
    assert code == 0 and "4 symbols" in out
    code, out, _ = run(capsys, "universe", "remove", "tech", "NVDA")
    assert code == 0 and "3 symbols" in out
    assert run(capsys, "universe", "show", "tech")[1].split() == ["AAPL", "MSFT", "AMD"]
    code, out, _ = run(capsys, "universe", "list")
    assert code == 0 and "tech" in out and "AAPL MSFT AMD" in out
    code, out, _ = run(capsys, "universe", "delete", "tech")
    assert code == 0 and "deleted universe tech" in out
    line = one_error_line(*run(capsys, "universe", "show", "tech")[::2])
    assert "no universe named 'tech'" in line


def test_universe_from_a_file(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = tmp_path / "names.txt"
    listing.write_text("# my list\nspy, qqq\nIWM   # small caps\n\nDIA\n", encoding="utf-8")
    code, out, err = run(capsys, "universe", "create", "etfs", "--file", str(listing))
    assert code == 0, err
    assert "4 symbols (source file)" in out
    assert run(capsys, "universe", "show", "etfs")[1].split() == ["SPY", "QQQ", "IWM", "DIA"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("universe", "create", "bad name", "SPY"), "invalid universe name 'bad name'"),
        (("universe", "create", "x", "SPY", "a b", "../etc"), "invalid symbols 'a b', '../etc'"),
        (("universe", "create", "x"), "exactly one"),
        (("universe", "create", "x", "SPY", "--from-alpaca"), "exactly one"),
        (("universe", "create", "x", "--file", "nope.txt"), "no such file: nope.txt"),
        (("universe", "create", "x", "--from-alpaca"), "needs ALPACA_API_KEY_ID"),
        (("universe", "add", "ghost", "SPY"), "no universe named 'ghost'"),
        (("bars", "--universe", "ghost"), "no universe named 'ghost'"),
        (("bars", "SPY", "Q Q", "../x"), "invalid symbols 'Q Q', '../x'"),
        (("ingest", "--universe", "ghost"), "no universe named 'ghost'"),
        (("track", "--universe", "ghost"), "no universe named 'ghost'"),
        (("features", "build", "--universe", "ghost"), "no universe named 'ghost'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], needle: str
) -> None:
    assert run(capsys, "universe", "create", "keep", "SPY")[0] == 0
    before = snapshot(data_dir)
    line = one_error_line(*run(capsys, *argv)[::2])
    assert needle in line
    after = snapshot(data_dir)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert all("state" in k for k in changed)  # at most SQLite's WAL bookkeeping
    with stockdb.open(data_dir) as db:
        assert [(u.name, u.symbols) for u in db.universes.all()] == [("keep", ("SPY",))]


def test_remove_of_a_non_member_changes_nothing(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "universe", "create", "pair", "SPY", "QQQ")[0] == 0
    line = one_error_line(*run(capsys, "universe", "remove", "pair", "QQQ", "IWM", "DIA")[::2])
    assert line == "error: not in universe 'pair': IWM, DIA"
    assert run(capsys, "universe", "show", "pair")[1].split() == ["SPY", "QQQ"]
    line = one_error_line(*run(capsys, "universe", "create", "pair", "IWM")[::2])
    assert "exists" in line
    code, out, _ = run(capsys, "universe", "create", "pair", "IWM", "--replace")
    assert code == 0 and run(capsys, "universe", "show", "pair")[1].split() == ["IWM"]


def test_universe_drives_ingest_bars_track_and_features(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "universe", "create", "pair", "QQQ", "SPY")[0] == 0
    code, out, err = run(capsys, "ingest", "--universe", "pair", *RANGE)
    assert code == 0, err
    assert "sessions fetched 6" in out
    assert sorted(p.name for p in (data_dir / "parquet").iterdir()) == ["QQQ", "SPY"]

    code, out, _ = run(
        capsys, "bars", "--universe", "pair", "--timeframe", "1Day", "--format", "csv"
    )
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns[:2]) == ["symbol", "ts"]
    assert list(table["symbol"]) == ["QQQ"] * 3 + ["SPY"] * 3
    code, single, _ = run(capsys, "bars", "SPY", "--timeframe", "1Day", "--format", "csv")
    spy = pd.read_csv(io.StringIO(single))
    assert "symbol" not in spy.columns  # one symbol: the output as before
    pd.testing.assert_frame_equal(
        table[table["symbol"] == "SPY"].drop(columns="symbol").reset_index(drop=True), spy
    )

    code, out, _ = run(capsys, "bars", "SPY", "QQQ", "--limit", "2", "--format", "json")
    rows = json.loads(out)
    assert [r["symbol"] for r in rows] == ["SPY", "SPY", "QQQ", "QQQ"]
    dest = tmp_path / "pair.parquet"
    code, _, _ = run(
        capsys,
        "bars",
        "SPY,QQQ",
        "--timeframe",
        "1Hour",
        "--format",
        "parquet",
        "--output",
        str(dest),
    )
    with stockdb.open(data_dir) as db:
        want = db.bars(["SPY", "QQQ"], "1Hour", output="arrow")
    assert code == 0 and pq.read_table(dest).to_pandas().equals(want.to_pandas())

    code, out, _ = run(capsys, "track", "--universe", "pair")
    assert code == 0 and "tracked now: QQQ, SPY" in out
    code, out, err = run(capsys, "features", "build", "--universe", "pair", "--timeframe", "1Day")
    assert code == 0, err
    assert out.startswith("QQQ 1Day: wrote") and "SPY 1Day: wrote" in out
    line = one_error_line(*run(capsys, "bars", "SPY", "IWM", "DIA")[::2])
    assert line == "error: no bars stored for IWM, DIA"
    code, out, _ = run(
        capsys, "features", "show", "--universe", "pair", "--timeframe", "1Day", "--format", "csv"
    )
    rows = pd.read_csv(io.StringIO(out))
    assert code == 0 and list(rows["symbol"]) == ["QQQ"] * 3 + ["SPY"] * 3
    code, single, _ = run(
        capsys, "features", "show", "SPY", "--timeframe", "1Day", "--format", "csv"
    )
    spy = pd.read_csv(io.StringIO(single))
    assert "symbol" not in spy.columns
    pd.testing.assert_frame_equal(
        rows[rows["symbol"] == "SPY"].drop(columns="symbol").reset_index(drop=True), spy
    )
    code, out, _ = run(capsys, "features", "show", "SPY", "QQQ", "--timeframe", "1Day")
    assert code == 0 and "SPY" in out and "QQQ" in out


def test_universe_from_alpaca_keeps_active_tradable_equities(
    data_dir: Path,
    fake: FakeAlpacaServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ALPACA_API_KEY_ID", fake.key_id)
    monkeypatch.setenv("ALPACA_API_SECRET_KEY", fake.secret_key)
    monkeypatch.setenv("ALPACA_TRADING_BASE_URL", fake.url)
    fake.assets.items = [
        *fake.assets.items,
        asset("NEWCO", exchange="NYSE"),
        asset("OLDCO", status="inactive", tradable=False),
    ]
    code, out, err = run(capsys, "universe", "create", "us-equities", "--from-alpaca")
    assert code == 0, err
    assert "(source alpaca)" in out
    want = sorted(
        a["symbol"]
        for a in fake.assets.items
        if a["tradable"]
        and a["status"] == "active"
        and a["class"] == "us_equity"
        and "/" not in a["symbol"]
    )
    assert run(capsys, "universe", "show", "us-equities")[1].split() == want
    asked = [r for r in fake.requests if r.path == "/v2/assets"]
    assert len(asked) == 1 and asked[0].params == {"status": "active", "asset_class": "us_equity"}

    monkeypatch.setenv("ALPACA_API_SECRET_KEY", "wrong-secret-123")
    code, _, err = run(capsys, "universe", "create", "again", "--from-alpaca")
    line = one_error_line(code, err)
    assert "401" in line and "wrong-secret-123" not in line
