"""The kernels writing whole lines with non-temporal stores (the partial lines at either
end with ordinary ones) equal a plain loop, wherever their output starts relative to a
cache line, also when that is not 8-byte aligned: session values, minutes from the open
and the relative distance."""

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


def placed(n: int, offset: int) -> np.ndarray:
    """``n`` float64 starting ``offset * 4`` bytes into a 64-byte line (8-byte aligned or
    not), filled with garbage."""
    raw = np.full((n + 16) * 8 + 64, 0xAB, dtype=np.uint8)
    base = (-raw.ctypes.data) % 64 + offset * 4
    return np.frombuffer(raw.data, dtype=np.float64, count=n, offset=base)


offsets = st.integers(0, 16)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 1500), offset=offsets)
def test_session_values_equal_a_plain_loop(seed: int, n: int, offset: int) -> None:
    starts, ends, values = sessions(seed, n)
    out = placed(n, offset)
    kernels._session_values(starts, ends, values, out)
    expected = reference(starts, ends, values, n)
    assert np.array_equal(out.view(np.int64), expected.view(np.int64))
    assert np.array_equal(kernels.session_values(starts, ends, values, n), expected, equal_nan=True)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 1500), offset=offsets)
def test_session_minutes_equal_a_plain_loop(seed: int, n: int, offset: int) -> None:
    starts, ends, _ = sessions(seed, n)
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(1, 10**8, n)).astype(np.int64)
    opens = rng.integers(0, 10**10, starts.shape[0]).astype(np.int64)
    out = placed(n, offset)
    kernels._session_minutes(ts, starts, ends, opens, 6e7, out)
    expected = np.full(n, np.nan)
    for a, b, o in zip(starts, ends, opens, strict=True):
        expected[a:b] = (ts[a:b].astype(np.float64) - float(o)) / 6e7
    assert np.array_equal(out.view(np.int64), expected.view(np.int64))


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 1500), offset=offsets)
def test_relative_distance_equals_numpy(seed: int, n: int, offset: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(100, 5, n)
    ref = rng.normal(100, 5, n) * rng.integers(-1, 2, n)  # some zero and negative
    out = placed(n, offset)
    kernels._relative_distance(x, ref, out)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(ref > 0, (x - ref) / ref, np.nan)
    assert np.array_equal(out.view(np.int64), expected.view(np.int64))
