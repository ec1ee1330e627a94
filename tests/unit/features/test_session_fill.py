"""The session-value kernel (whole lines written with non-temporal stores, the partial
lines at either end with ordinary ones) equals a plain loop, wherever its output starts
relative to a cache line, also when that is not 8-byte aligned."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stockdb.features import kernels


def reference(starts: np.ndarray, ends: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    for a, b, v in zip(starts, ends, values, strict=True):
        out[a:b] = v
    return out


def sessions(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, n + 1, 2 * int(rng.integers(0, 12))))
    starts, ends = cuts[0::2].astype(np.int64), cuts[1::2].astype(np.int64)
    return starts, ends, rng.normal(0, 5, starts.shape[0])


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300), offset=st.integers(0, 16))
def test_session_values_equal_a_plain_loop(seed: int, n: int, offset: int) -> None:
    starts, ends, values = sessions(seed, n)
    raw = np.zeros((n + 16) * 8 + 64, dtype=np.uint8)
    # Start anywhere in a 64-byte line, in steps of a byte: 8-byte aligned or not.
    base = (-raw.ctypes.data) % 64 + offset * 4
    out = np.frombuffer(raw.data, dtype=np.float64, count=n, offset=base)
    kernels._session_values(starts, ends, values, out)
    expected = reference(starts, ends, values, n)
    assert np.array_equal(out.view(np.int64), expected.view(np.int64))
    assert np.array_equal(kernels.session_values(starts, ends, values, n), expected, equal_nan=True)
