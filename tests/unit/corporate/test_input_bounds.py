"""Bad corporate-action and symbol input: ratios out of range or not finite, CSV damage, and
symbols that only look ASCII after Unicode case folding."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockdb.corporate.csvfile import parse_actions_csv, parse_ratio
from stockdb.corporate.model import MAX_CASH, MAX_SPLIT_FACTOR, make_action
from stockdb.errors import InvalidInput
from stockdb.symbols import normalize_symbol, normalize_symbols

HEADER = "symbol,type,ex_date,ratio\n"


@pytest.mark.parametrize(
    ("kind", "ratio"),
    [
        ("forward_split", 1e308),
        ("forward_split", MAX_SPLIT_FACTOR * 1.001),
        ("forward_split", float("inf")),
        ("forward_split", float("nan")),
        ("reverse_split", 1e-308),
        ("reverse_split", 1 / MAX_SPLIT_FACTOR / 1.001),
        ("reverse_split", float("nan")),
        ("reverse_split", -0.5),
    ],
)
def test_split_ratios_outside_the_range_are_refused(kind: str, ratio: float) -> None:
    with pytest.raises(InvalidInput, match="ratio"):
        make_action("SPY", kind, date(2024, 1, 2), ratio=ratio)


def test_split_ratios_at_the_limits_are_accepted() -> None:
    big = make_action("SPY", "forward_split", date(2024, 1, 2), ratio=MAX_SPLIT_FACTOR)
    small = make_action("SPY", "reverse_split", date(2024, 1, 2), ratio=1 / MAX_SPLIT_FACTOR)
    assert (big.ratio, small.ratio) == (10_000.0, 0.0001)


@pytest.mark.parametrize("cash", [float("nan"), float("inf"), 0.0, -1.0, MAX_CASH * 2])
def test_cash_outside_the_range_is_refused(cash: float) -> None:
    with pytest.raises(InvalidInput, match="cash amount"):
        make_action("SPY", "cash_dividend", date(2024, 1, 2), cash=cash)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e999", "1e308:1e-308", "NaN:1", "1:inf"])
def test_non_finite_ratio_text_is_malformed(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_ratio(raw)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("SPY,forward_split,2024-01-02,1e308", "at most 10000"),
        ("SPY,forward_split,2024-01-02,20000:1", "at most 10000"),
        ("SPY,reverse_split,2024-01-02,1:20000", "at least 1:10000"),
        ("SPY,forward_split,2024-01-02,nan", "finite"),
        ("SPY,forward_split,2024-01-02,Infinity", "finite"),
    ],
)
def test_csv_ratios_are_bounded(row: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=f"^line 3: .*{message}"):
        parse_actions_csv(HEADER + "QQQ,forward_split,2024-01-02,2\n" + row + "\n")


def test_a_huge_field_is_one_clear_error() -> None:
    text = HEADER + "SPY,forward_split,2024-01-02," + "9" * 5_000_000 + "\n"
    with pytest.raises(InvalidInput) as caught:
        parse_actions_csv(text)
    message = str(caught.value)
    assert message.startswith("line 2: a field is longer than") and len(message) < 200


def test_a_huge_field_on_the_header_line_is_one_clear_error() -> None:
    with pytest.raises(InvalidInput, match="^line 1: a field is longer than"):
        parse_actions_csv("symbol," + "x" * 200_000 + "\n")


@pytest.mark.parametrize("line", [2, 3, 4])
def test_an_unterminated_quote_names_the_line_it_opens_on(line: int) -> None:
    rows = [
        "SPY,forward_split,2024-01-02,2",
        "QQQ,forward_split,2024-01-03,2",
        "IWM,forward_split,2024-01-04,2",
    ]
    rows[line - 2] = '"' + rows[line - 2]
    with pytest.raises(InvalidInput) as caught:
        parse_actions_csv(HEADER + "\n".join(rows) + "\n")
    assert str(caught.value) == (
        f'line {line}: a quoted field opens here and is never closed (missing closing ")'
    )


def test_text_after_a_closing_quote_is_named() -> None:
    with pytest.raises(InvalidInput, match="^line 2: text follows a closing quote"):
        parse_actions_csv(HEADER + 'SPY,forward_split,2024-01-02,"2"x\n')


def test_quoted_fields_with_commas_and_newlines_still_parse() -> None:
    text = 'symbol,type,ex_date,ratio\n"SPY","forward_split","2024-01-02","2"\n'
    assert [a.ratio for a in parse_actions_csv(text)] == [2.0]


def test_long_echoed_values_are_clipped() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_actions_csv(HEADER + "SPY,forward_split," + "x" * 100_000 + ",2\n")
    assert len(str(caught.value)) < 200
    with pytest.raises(InvalidInput) as caught:
        parse_actions_csv(HEADER + "SPY," + "y" * 100_000 + ",2024-01-02,2\n")
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    "raw",
    [
        "\ufb00",  # LATIN SMALL LIGATURE FF: upper() gives "FF"
        "sp\u0131",  # dotless i: upper() gives "SPI"
        "stra\u00dfe",  # sharp s: upper() gives "STRASSE"
        "\uff33\uff30\uff39",  # fullwidth SPY
        "SPY\u200b",  # zero-width space
        "SPY\u3000",  # ideographic space
        "\u0405PY",  # Cyrillic DZE looks like S
        "-SPY",
        "SPY..B",
    ],
)
def test_symbols_are_ascii_as_typed(raw: str) -> None:
    with pytest.raises(InvalidInput, match="invalid symbol"):
        normalize_symbol(raw)
    with pytest.raises(InvalidInput):
        normalize_symbols(["SPY", raw])


@pytest.mark.parametrize(("raw", "expected"), [("brk-b", "BRK-B"), ("brk.b", "BRK.B")])
def test_dashes_and_dots_are_allowed(raw: str, expected: str) -> None:
    assert normalize_symbol(raw) == expected


_ACCEPTED = re.compile(r"[A-Z][A-Z0-9.-]{0,9}")


@given(st.text(max_size=12))
def test_an_accepted_symbol_is_the_ascii_text_upper_cased(raw: str) -> None:
    typed = raw.strip(" \t\r\n")
    try:
        symbol = normalize_symbol(raw)
    except InvalidInput:
        return
    assert typed.isascii()
    assert symbol == typed.upper()
    assert _ACCEPTED.fullmatch(symbol)


def test_alpaca_actions_out_of_range_are_skipped_not_stored() -> None:
    from stockdb.providers.corporate_actions import parse_corporate_actions

    def split(symbol: str, new: float) -> dict[str, object]:
        return {"symbol": symbol, "new_rate": new, "old_rate": 1, "ex_date": "2024-01-02"}

    payload = {"corporate_actions": {"forward_splits": [split("SPY", 1e308), split("QQQ", 4)]}}
    actions, skipped = parse_corporate_actions(payload)
    assert [(a.symbol, a.ratio) for a in actions] == [("QQQ", 4.0)]
    assert skipped == 1
