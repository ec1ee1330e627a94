"""Pure helpers of the many-symbol views: search, the month grid and the compare frame."""

from __future__ import annotations

import pandas as pd
import pytest

from stockdb.ui.universe import compare_frame, filter_symbols, month_grid


def test_filter_symbols_puts_prefix_matches_first_and_accepts_several_terms() -> None:
    names = ["AAPL", "MSFT", "BAA", "AA", "SPY"]
    assert filter_symbols(names, "") == names
    assert filter_symbols(names, "aa") == ["AA", "AAPL", "BAA"]
    assert filter_symbols(names, "spy, ms") == ["MSFT", "SPY"]
    assert filter_symbols(names, "zz") == []


def test_month_grid_shares_and_gaps() -> None:
    rows = [
        {"symbol": "A", "month": "2024-02", "sessions": 4, "complete": 3, "partial": 1,
         "empty": 0, "error": 0},
        {"symbol": "B", "month": "2024-01", "sessions": 2, "complete": 0, "partial": 0,
         "empty": 1, "error": 1},
        {"symbol": "C", "month": "2023-12", "sessions": 1, "complete": 1, "partial": 0,
         "empty": 0, "error": 0},
    ]  # fmt: skip
    x, y, z, text = month_grid(rows, ["B", "A"])
    assert x == ["2024-01", "2024-02"] and y == ["B", "A"]  # C not asked for: no column
    assert z == [[0.0, None], [None, 0.75]]
    assert text[0][0] == "B 2024-01: 2 sessions (1 empty, 1 error)"


def test_compare_frame_rebases_at_the_first_common_session() -> None:
    def bars(days: list[str], closes: list[float]) -> list[dict[str, object]]:
        # daily bars stamped at the session's extended open, 04:00 New York (09:00 UTC)
        return [{"ts": f"{d}T09:00:00Z", "close": c} for d, c in zip(days, closes, strict=True)]

    closes = {
        "A": bars(["2024-03-04", "2024-03-05", "2024-03-06"], [10.0, 11.0, 12.0]),
        "B": bars(["2024-03-05", "2024-03-06"], [50.0, 40.0]),
        "C": [],
    }
    raw = compare_frame(closes, rebase=False)
    assert list(raw.columns) == ["A", "B"]
    assert list(raw.index) == list(pd.to_datetime(["2024-03-04", "2024-03-05", "2024-03-06"]))
    rebased = compare_frame(closes, rebase=True)
    assert rebased["A"].tolist() == pytest.approx([10 / 11 * 100, 100.0, 12 / 11 * 100])
    assert rebased["B"].iloc[1:].tolist() == pytest.approx([100.0, 80.0])
    assert pd.isna(rebased["B"].iloc[0])
