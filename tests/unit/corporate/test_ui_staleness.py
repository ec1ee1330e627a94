"""The dashboard's Features page shows the stale partitions the API reports (with reasons)."""

from __future__ import annotations

from stockdb.ui.features import corporate_action_stale, staleness_rows

SYMBOLS = [
    {"symbol": "AAA", "complete": 7, "partial": 0, "last_fetched_at": "2024-03-09T00:00:00Z"},
    {"symbol": "BBB", "complete": 5, "partial": 0, "last_fetched_at": "2024-03-09T00:00:00Z"},
]
BUILDS = [
    {"symbol": s, "set_hash": "h", "partitions": n, "built_at": "2024-03-10T00:00:00Z"}
    for s, n in (("AAA", 7), ("BBB", 5))
]


def test_reported_stale_partitions_and_reasons_are_shown() -> None:
    overview = {
        "set_hash": "h",
        "builds": BUILDS,
        "stale": [
            {
                "symbol": "AAA",
                "bar_partitions": 7,
                "stale_partitions": 3,
                "reasons": {"corporate_action": 3},
                "first_stale": "2024-03-04",
            }
        ],
    }
    rows = {r["symbol"]: r for r in staleness_rows(overview, SYMBOLS)}
    assert (rows["AAA"]["stale_partitions"], rows["AAA"]["stale_reasons"]) == (
        3,
        "corporate action 3",
    )
    assert (rows["BBB"]["stale_partitions"], rows["BBB"]["stale_reasons"]) == (0, "")
    assert corporate_action_stale(overview) == "AAA (3 partitions)"


def test_without_a_report_the_page_estimates_from_builds() -> None:
    overview = {"set_hash": "h", "builds": BUILDS}
    rows = staleness_rows(overview, SYMBOLS)
    assert [r["stale_partitions"] for r in rows] == [0, 0]
    assert corporate_action_stale(overview) == ""
