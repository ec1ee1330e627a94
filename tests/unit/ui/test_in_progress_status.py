"""The dashboard knows every coverage status the API can answer, in_progress included."""

from __future__ import annotations

from stockdb.state.coverage import CoverageStatus
from stockdb.ui.charts import COVERAGE_COLORS, COVERAGE_STATUSES, coverage_grid
from stockdb.ui.data import coverage_counts, symbol_rows
from stockdb.ui.features import staleness_rows


def test_every_status_has_a_place_and_a_colour() -> None:
    assert set(COVERAGE_STATUSES) == {s.value for s in CoverageStatus}
    assert set(COVERAGE_COLORS) == set(COVERAGE_STATUSES)


def test_in_progress_sessions_are_drawn_counted_and_have_bars() -> None:
    rows = [
        {"session_date": "2024-03-04", "status": "complete", "rows": 900},
        {"session_date": "2024-03-05", "status": "in_progress", "rows": 40},
    ]
    _, _, z, text = coverage_grid(rows)
    assert z[1][0] == float(COVERAGE_STATUSES.index("in_progress"))
    assert text[1][0] == "2024-03-05: in_progress, 40 rows"
    assert coverage_counts(rows)["in_progress"] == 1
    symbols = [{"symbol": "SPY", "sessions": 2, "complete": 1, "in_progress": 1, "rows": 940}]
    assert symbol_rows(symbols)[0]["in_progress"] == 1
    overview = {"set_hash": "h", "builds": []}
    [row] = staleness_rows(overview, symbols)
    assert row["stale_partitions"] == 2  # both sessions hold bars; no build covers them
