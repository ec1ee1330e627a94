"""Multi-timeframe features through the Python API and the training CLI."""

from __future__ import annotations

import pytest

import stockdb
from stockdb.cli.main import main


def test_python_api_builds_reads_and_trains_on_timeframes(app, sessions, write_bars):
    write_bars("SPY", sessions)
    with stockdb.open(app.settings.data_dir) as db:
        db.build_features(["SPY"])
        [daily] = db.build_features(["SPY"], timeframe="1Day")
        assert (daily.timeframe, daily.partitions_written) == ("1Day", len(sessions))
        frame = db.features("SPY", columns=["close", "sma_5"], timeframe="1Day")
        assert len(frame) == len(sessions)
        assert frame["sma_5"].iloc[4:].tolist() == pytest.approx(
            frame["close"].rolling(5).mean().iloc[4:].tolist(), rel=1e-12
        )
        # a later plain build keeps the daily features current too
        assert [(r.timeframe, r.up_to_date) for r in db.build_features(["SPY"])] == [
            ("1Min", True),
            ("1Day", True),
        ]
        record = db.train(["SPY"], model="ridge", target="return", timeframes=["1D"])
        assert any(f.endswith("_1Day") for f in record.features)


def test_cli_train_with_timeframes(app, sessions, write_bars, capsys):
    write_bars("SPY", sessions)
    app.features.build(["SPY"])
    app.features.build(["SPY"], timeframe="1Hour")
    code = main(
        ["train", "--tickers", "SPY", "--features", "rsi_14,rsi_14_1Hour", "--timeframes", "1Hour"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    [model] = app.training.list()
    assert set(model.features) == {"rsi_14", "rsi_14_1Hour"}
    assert main(["train", "--tickers", "SPY", "--timeframes", "1Day"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--timeframe 1Day" in err
