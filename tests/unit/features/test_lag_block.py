"""The log-return lags are read-only views of one buffer, equal bit for bit to a plain
shift loop, one contiguous row per lag."""

from __future__ import annotations

import numpy as np
import pytest

from stockdb.features import kernels
from stockdb.features.frame import BarFrame


def shifted_loop(values: np.ndarray, lag: int) -> np.ndarray:
    out = np.full(values.shape[0], np.nan)
    for i in range(lag, values.shape[0]):
        out[i] = values[i - lag]
    return out


@pytest.mark.parametrize("n", [0, 1, 3, 5, 6, 1000])
def test_lagged_rows_equal_a_shift_loop(n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.normal(0, 1e-3, n)
    values[rng.random(n) < 0.05] = np.nan
    rows = kernels.lagged(values, 5)
    assert len(rows) == 5
    for lag, row in enumerate(rows):
        assert row.flags.c_contiguous and row.shape == (n,)
        np.testing.assert_array_equal(row, shifted_loop(values, lag))


def test_lag_rows_do_not_alias_the_input_and_are_read_only() -> None:
    values = np.arange(8, dtype=np.float64)
    rows = kernels.lagged(values, 3)
    values[:] = -1.0
    np.testing.assert_array_equal(rows[0], np.arange(8, dtype=np.float64))
    np.testing.assert_array_equal(rows[2][2:], np.arange(6, dtype=np.float64))
    for row in rows:
        assert not row.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            row[0] = 0.0


def test_lag_rows_share_one_buffer() -> None:
    rows = kernels.lagged(np.arange(1000, dtype=np.float64), 5)
    assert all(np.shares_memory(rows[0], row) for row in rows[1:])


@pytest.mark.parametrize("count", [1, 5, 16, 17, 30])
def test_frame_lags_equal_a_shift_loop_and_are_read_only(frame: BarFrame, count: int) -> None:
    lags = frame.log_return_lags(count)
    base = frame.log_returns
    assert not base.flags.writeable
    for lag, row in enumerate(lags):
        assert not row.flags.writeable and row.shape == base.shape
        np.testing.assert_array_equal(row, shifted_loop(base, lag))
    # Up to 16 lags share the log returns' buffer; more are one copy of it.
    assert np.shares_memory(lags[-1], base) == (count <= 16)
