"""A new split marks the right feature partitions, models and simulations stale and queues
the feature rebuild; a repeat or a dividend marks nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from stockdb.app import App
from stockdb.cli.main import main
from stockdb.clock import ManualClock
from stockdb.corporate.model import make_action
from stockdb.corporate.service import CorporateActionService
from stockdb.features.service import FeatureService
from stockdb.jobs.handlers import features_handler
from stockdb.state import tables

from .conftest import EX_DATE, FIRST, LAST, WriteFn  # type: ignore[import-not-found]

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def _model(model_id: str, tickers: list[str]) -> dict[str, object]:
    return {
        "id": model_id,
        "created_at": NOW,
        "kind": "logreg",
        "tickers": tickers,
        "target": "direction",
        "horizon": 1,
        "features": ["sma_5"],
        "feature_set_hash": "x" * 64,
        "params": {},
        "windows": {},
        "metrics": {},
        "library_versions": {},
        "sha256": "0" * 64,
        "path": f"/models/{model_id}.joblib",
        "stale": False,
    }


def _simulation(sim_id: str, model_id: str, symbol: str) -> dict[str, object]:
    return {
        "id": sim_id,
        "model_id": model_id,
        "symbol": symbol,
        "created_at": NOW,
        "params": {},
        "metrics": {},
        "benchmark_metrics": {},
        "overlaps_training": False,
        "equity_path": "/e.parquet",
        "trades_path": "/t.parquet",
        "stale": False,
    }


@pytest.fixture
def built(app: App, write_raw: WriteFn) -> tuple[App, FeatureService]:
    """AAA and BBB with bars and up-to-date features; three models and three simulations."""
    for symbol in ("AAA", "BBB"):
        write_raw(symbol, FIRST, LAST, None)
    service = app.feature_service()
    service.build(["AAA", "BBB"])
    with app.state.engine.begin() as conn:
        conn.execute(
            insert(tables.models),
            [_model("m-aaa", ["AAA"]), _model("m-bbb", ["BBB"]), _model("m-both", ["BBB", "AAA"])],
        )
        conn.execute(
            insert(tables.simulations),
            [
                _simulation("s-aaa", "m-aaa", "AAA"),
                _simulation("s-bbb", "m-bbb", "BBB"),
                _simulation("s-both-on-bbb", "m-both", "BBB"),
            ],
        )
    assert all(s.up_to_date for s in service.status())
    return app, service


def _stale_ids(app: App) -> tuple[set[str], set[str]]:
    with app.state.engine.connect() as conn:
        models = {
            r.id for r in conn.execute(select(tables.models.c.id).where(tables.models.c.stale))
        }
        sims = {
            r.id
            for r in conn.execute(select(tables.simulations.c.id).where(tables.simulations.c.stale))
        }
    return models, sims


def test_new_split_marks_features_models_simulations_and_queues_rebuild(
    built: tuple[App, FeatureService],
) -> None:
    app, service = built
    update = app.corporate.record([make_action("AAA", "forward_split", EX_DATE, ratio=4.0)])
    assert [a.symbol for a in update.recorded.new] == ["AAA"]
    assert update.stale_symbols == ["AAA"]
    assert update.marks.models == ["m-aaa", "m-both"]
    assert update.marks.simulations == ["s-aaa", "s-both-on-bbb"]
    assert _stale_ids(app) == ({"m-aaa", "m-both"}, {"s-aaa", "s-both-on-bbb"})
    status = {s.symbol: s for s in service.status()}
    assert status["BBB"].up_to_date
    stale = status["AAA"].stale
    assert {p.reason for p in stale} == {"corporate_action"}
    assert [p.day for p in stale] == [d for d in app.lake.sessions("AAA") if d < EX_DATE]
    job = app.jobs.get(update.rebuild_job or "")
    assert (job.kind, job.status) == ("features", "queued")
    assert job.params["symbols"] == ["AAA"]
    # the same action again changes nothing and queues nothing
    again = app.corporate.record([make_action("AAA", "forward_split", EX_DATE, ratio=4.0)])
    assert (again.recorded.unchanged, again.rebuild_job, again.stale_symbols) == (1, None, [])
    # running the rebuild brings the features up to date on the adjusted prices
    service.build(["AAA"])
    assert all(s.up_to_date for s in service.status())


def test_a_dividend_leaves_split_adjusted_data_fresh(built: tuple[App, FeatureService]) -> None:
    app, service = built
    update = app.corporate.record([make_action("AAA", "cash_dividend", EX_DATE, cash=0.3)])
    assert len(update.recorded.new) == 1
    assert (update.stale_symbols, update.rebuild_job) == ([], None)
    assert _stale_ids(app) == (set(), set())
    assert all(s.up_to_date for s in service.status())


def test_a_changed_ratio_counts_as_new(built: tuple[App, FeatureService]) -> None:
    app, _ = built
    app.corporate.record([make_action("BBB", "forward_split", EX_DATE, ratio=2.0)])
    update = app.corporate.record([make_action("BBB", "forward_split", EX_DATE, ratio=3.0)])
    assert [a.ratio for a in update.recorded.changed] == [3.0]
    assert update.stale_symbols == ["BBB"]
    assert [a.ratio for a in app.corporate.actions("BBB")] == [3.0]


def test_features_status_cli_says_corporate_action(
    built: tuple[App, FeatureService], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app, _ = built
    csv = tmp_path / "actions.csv"
    csv.write_text(f"symbol,type,ex_date,ratio\nAAA,forward_split,{EX_DATE},4:1\n")
    assert main(["import-actions", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "1 new" in out and "features of AAA" in out and "feature rebuild queued" in out
    assert main(["features", "status"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "AAA" in x)
    assert "corporate_action 3" in line  # 03-04, 03-05, 03-06 precede the ex-date
    assert _stale_ids(app)[0] == {"m-aaa", "m-both"}
    assert date(2024, 3, 4) in app.lake.sessions("AAA")


def _windowed(model_id: str, tickers: list[str], start: str) -> dict[str, object]:
    body = _model(model_id, tickers)
    body["windows"] = {
        "train": {"start": start, "end": "2024-03-12T20:00:00+00:00", "rows": 10},
        "validation": {"start": None, "end": None, "rows": 0},
        "gap_bars": 1,
    }
    return body


def _simulation_from(sim_id: str, model_id: str, symbol: str, first_ts: str) -> dict[str, object]:
    body = _simulation(sim_id, model_id, symbol)
    body["params"] = {"first_ts": first_ts, "start": None}
    return body


def test_a_split_before_the_first_bar_marks_nothing_and_queues_nothing(
    built: tuple[App, FeatureService], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The issue's scenario: a split dated before the symbol's first bar (as fetch-actions
    stored) marked two models and two simulations stale and queued a no-op rebuild."""
    app, service = built
    service.build(["AAA"], timeframe="1Day")
    for ex_date in (date(2023, 6, 1), FIRST):  # long before, and on the first session
        csv = tmp_path / f"{ex_date}.csv"
        csv.write_text(f"symbol,type,ex_date,ratio\nAAA,forward_split,{ex_date},4:1\n")
        assert main(["import-actions", str(csv)]) == 0
        out = capsys.readouterr().out
        assert "1 new" in out and "rebuild" not in out
    assert _stale_ids(app) == (set(), set())
    assert all(s.up_to_date for s in service.status())
    assert {s.timeframe for s in service.status(["AAA"])} == {"1Min", "1Day"}
    assert app.jobs.list(kind="features") == []


def test_an_announced_split_marks_nothing_until_it_is_in_effect(
    built: tuple[App, FeatureService],
) -> None:
    app, service = built
    clock = ManualClock(datetime(2024, 3, 1, 15, tzinfo=UTC))  # before the ex-date
    early = CorporateActionService(app.state, app.lake, app.calendar, clock, "split")
    update = early.record([make_action("AAA", "forward_split", EX_DATE, ratio=4.0)])
    assert (update.stale_symbols, update.marks.models, update.rebuild_job) == ([], [], None)
    assert _stale_ids(app) == (set(), set())
    clock.set(datetime(2024, 3, 7, 12, tzinfo=UTC))  # the ex-date: the live agent's due run
    stored = early.actions("AAA")
    due = early.record([], due=stored)
    assert due.stale_symbols == ["AAA"] and "m-aaa" in due.marks.models


def test_only_rows_whose_data_precede_the_ex_date_are_marked(
    built: tuple[App, FeatureService],
) -> None:
    app, service = built
    with app.state.engine.begin() as conn:
        conn.execute(
            insert(tables.models),
            [
                _windowed("m-before", ["AAA"], "2024-03-04T14:30:00+00:00"),
                # the ex-date and the next session are in a 1-minute feature's look-back
                _windowed("m-lookback", ["AAA"], "2024-03-08T14:30:00+00:00"),
                _windowed("m-after", ["AAA"], "2024-03-11T13:30:00+00:00"),
                _windowed("m-after-ctx", ["BBB", "AAA"], "2024-03-11T13:30:00+00:00"),
                {
                    **_windowed("m-daily", ["AAA"], "2024-03-11T13:30:00+00:00"),
                    "features": ["rsi_14_1Day"],
                },
            ],
        )
        conn.execute(
            insert(tables.simulations),
            [
                _simulation_from("s-after", "m-after", "AAA", "2024-03-12T13:30:00+00:00"),
                _simulation_from("s-before", "m-after", "AAA", "2024-03-05T13:30:00+00:00"),
                _simulation_from("s-of-hit", "m-before", "AAA", "2024-03-11T13:30:00+00:00"),
            ],
        )
    update = app.corporate.record([make_action("AAA", "forward_split", EX_DATE, ratio=4.0)])
    models, sims = _stale_ids(app)
    assert {"m-before", "m-lookback", "m-daily"} <= models
    assert not {"m-after", "m-after-ctx"} & models
    assert {"s-before", "s-of-hit"} <= sims and "s-after" not in sims
    assert set(update.marks.models) == models


def test_the_queued_rebuild_clears_every_stale_partition_it_rebuilt(
    built: tuple[App, FeatureService],
) -> None:
    app, service = built
    service.build(["AAA"], timeframe="1Hour")
    update = app.corporate.record([make_action("AAA", "forward_split", EX_DATE, ratio=4.0)])
    before = {s.timeframe: [p.day for p in s.stale] for s in service.status(["AAA"])}
    expected = [d for d in app.lake.sessions("AAA") if d < EX_DATE]
    assert before == {"1Min": expected, "1Hour": expected}
    job = app.jobs.get(update.rebuild_job or "")
    result = app.bind(features_handler)(job.params, lambda *_: None, lambda: False)
    written = {(b["symbol"], b["timeframe"]): b["partitions_written"] for b in result["builds"]}
    # from the first stale session on: later sessions' indicators look back across the split
    rewritten = len([d for d in app.lake.sessions("AAA") if d >= expected[0]])
    assert written == {("AAA", "1Min"): rewritten, ("AAA", "1Hour"): rewritten}
    assert all(s.up_to_date for s in service.status())
