"""CSV import parsing (all rows or none) and the deterministic synthetic actions."""

from __future__ import annotations

from datetime import date

import pytest

from stockdb.corporate.csvfile import parse_actions_csv, parse_ratio
from stockdb.corporate.synthetic import (
    SPLIT_YEARS,
    SyntheticActionSource,
    split_multiplier,
    synthetic_actions,
    synthetic_splits,
)
from stockdb.errors import InvalidInput


def test_csv_rows_become_actions() -> None:
    text = (
        "symbol,type,ex_date,ratio,cash\n"
        "aapl,forward_split,2020-08-31,4:1,\n"
        "GE,reverse_split,2021-08-02,1:8,\n"
        "MSFT,cash_dividend,2024-02-14,,0.75\n"
        "NVDA,forward_split,2024-06-10,10,\n"
    )
    actions = parse_actions_csv(text)
    assert [(a.symbol, a.type, a.ex_date, a.ratio, a.cash) for a in actions] == [
        ("AAPL", "forward_split", date(2020, 8, 31), 4.0, None),
        ("GE", "reverse_split", date(2021, 8, 2), 0.125, None),
        ("MSFT", "cash_dividend", date(2024, 2, 14), None, 0.75),
        ("NVDA", "forward_split", date(2024, 6, 10), 10.0, None),
    ]
    assert {a.source for a in actions} == {"file"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("symbol,type\nX,forward_split\n", "missing ex_date"),
        ("symbol,type,ex_date\nX,forward_split,2024-01-02\n", "ratio column"),
        (
            "symbol,type,ex_date,ratio\nX,forward_split,2024-01-02,4\nY,split,2024-01-02,2\n",
            "line 3",
        ),
        ("symbol,type,ex_date,ratio\nX,forward_split,2024-13-02,4\n", "line 2: ex_date"),
        ("symbol,type,ex_date,ratio\nX,forward_split,2024-01-02,four\n", "numbers"),
        ("symbol,type,ex_date,cash\nX,cash_dividend,2024-01-02,\n", "cash amount per share"),
        (
            "symbol,type,ex_date,ratio\nX,forward_split,2024-01-02,4\nX,forward_split,2024-01-02,2\n",
            "twice",
        ),
    ],
)
def test_bad_csv_is_refused_whole(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_actions_csv(text)


def test_ratio_notation() -> None:
    assert parse_ratio("3:2") == 1.5
    assert parse_ratio(" 1:10 ") == 0.1
    with pytest.raises(ValueError):
        parse_ratio("1:0")


def test_synthetic_actions_are_deterministic_and_plausible() -> None:
    assert synthetic_actions("AAPL") == synthetic_actions("AAPL")
    splits = synthetic_splits("AAPL")
    assert 1 <= len(splits) <= 3
    for split in splits:
        assert SPLIT_YEARS[0] <= split.ex_date.year <= SPLIT_YEARS[1]
        assert split.ex_date.weekday() < 5
    symbols = [f"S{i}" for i in range(40)]
    payers = [s for s in symbols if any(a.type == "cash_dividend" for a in synthetic_actions(s))]
    assert 10 <= len(payers) <= 38  # about two in three pay dividends
    dividends = [a for a in synthetic_actions(payers[0]) if a.type == "cash_dividend"]
    assert len(dividends) == 4 * (2035 - 2004 + 1)
    assert all(a.cash is not None and a.cash > 0 for a in dividends)


def test_split_multiplier_steps_down_by_each_ratio_at_its_ex_date() -> None:
    splits = synthetic_splits("MSFT")
    total = 1.0
    for split in splits:
        assert split.ratio is not None
        total *= split.ratio
    assert split_multiplier("MSFT", date(2000, 1, 3)) == pytest.approx(total)
    assert split_multiplier("MSFT", date(2024, 1, 2)) == 1.0
    first = splits[0]
    assert first.ratio is not None
    day_before = split_multiplier("MSFT", date.fromordinal(first.ex_date.toordinal() - 1))
    assert day_before / split_multiplier("MSFT", first.ex_date) == pytest.approx(first.ratio)


def test_synthetic_source_filters_by_ex_date() -> None:
    got = SyntheticActionSource().fetch_actions(
        ["AAPL", "AAPL"], date(2010, 1, 1), date(2012, 12, 31)
    )
    want = [
        a for a in synthetic_actions("AAPL") if date(2010, 1, 1) <= a.ex_date <= date(2012, 12, 31)
    ]
    assert got == want
