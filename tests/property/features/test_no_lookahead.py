"""No look-ahead: changing or deleting every bar after t leaves every feature at or before t."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockdb.calendar import TradingCalendar
from stockdb.features.definitions import default_feature_set
from stockdb.features.frame import BarFrame
from stockdb.providers.synthetic import generate_session


@pytest.fixture(scope="module")
def history(calendar: TradingCalendar) -> pa.Table:
    sessions = calendar.sessions(date(2024, 5, 1), date(2024, 5, 3))
    return pa.concat_tables([generate_session("QQQ", s) for s in sessions])


@pytest.fixture(scope="module")
def full(history: pa.Table, calendar: TradingCalendar) -> dict[str, np.ndarray]:
    return default_feature_set().compute(BarFrame.from_table(history, calendar))


def _altered(table: pa.Table, cut: int, seed: int) -> pa.Table:
    """Rows after ``cut`` get scrambled prices and volumes (still sorted, same ts)."""
    rng = np.random.default_rng(seed)
    tail = table.num_rows - cut - 1
    columns = {}
    for name in table.column_names:
        col = table.column(name).to_numpy()
        if name in ("open", "high", "low", "close", "vwap"):
            col = col.copy()
            col[cut + 1 :] = rng.uniform(1.0, 1000.0, tail)
        elif name in ("volume", "trade_count"):
            col = col.copy()
            col[cut + 1 :] = rng.integers(1, 10**6, tail)
        columns[name] = col
    return pa.Table.from_pydict(columns, schema=table.schema)


@settings(max_examples=25, deadline=None)
@given(fraction=st.floats(0.0, 0.999), seed=st.integers(0, 2**16), delete=st.booleans())
def test_features_up_to_t_ignore_the_future(history, full, calendar, fraction, seed, delete):
    cut = int(fraction * (history.num_rows - 1))
    changed = history.slice(0, cut + 1) if delete else _altered(history, cut, seed)
    values = default_feature_set().compute(BarFrame.from_table(changed, calendar))
    for name, array in values.items():
        np.testing.assert_array_equal(array[: cut + 1], full[name][: cut + 1], err_msg=name)
