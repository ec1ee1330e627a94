"""The one-pass window kernels equal TA-Lib bit for bit: SMA, STDDEV (its cancellation-free
variance with re-anchoring), the volume z-score built from SMA and STDDEV, and BBANDS with
%B and bandwidth; on random walks, integer volumes, log returns with their leading NaN,
flat stretches, 1e-8 ticks and a NaN inside, long and short."""

from __future__ import annotations

import math

import numpy as np
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from stockdb.features import windows

FloatArray = np.ndarray


def series(seed: int, n: int, kind: int) -> FloatArray:
    rng = np.random.default_rng(seed)
    x = np.round(100 + np.cumsum(rng.normal(0, 1, n)), 2)
    if kind == 1:
        x = rng.gamma(2.0, 400.0, n).astype(np.int64) + 1.0
    elif kind == 2:
        x = np.concatenate(([np.nan], np.diff(np.log(np.abs(x) + 1))))[:n]
    elif kind == 3:
        x = np.repeat(x[: n // 10 + 1], 10)[:n]
    elif kind == 4:
        x = 100 + np.cumsum(rng.integers(-2, 3, n)) * 1e-8
    elif kind == 5 and n > 50:
        x[int(rng.integers(0, n))] = np.nan
    elif kind == 6:  # a large outlier passing through the window
        x[n // 2 : n // 2 + 1] = 1e9
    return x


def same(actual: FloatArray, expected: FloatArray) -> bool:
    return bool(np.array_equal(actual, expected, equal_nan=True))


def stats(x: FloatArray, period: int, nbdev: float, mode: int, count: int) -> list[FloatArray]:
    out = [np.full(x.shape[0], -3.0) for _ in range(count)]
    windows.window_stats(x, period, nbdev, mode, (*out, *[np.empty(0)] * (5 - count)))
    return out


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.one_of(st.integers(0, 80), st.integers(81, 4000)),
    kind=st.integers(0, 6),
    period=st.integers(2, 120),
    nbdev=st.sampled_from([1.0, 2.0, 0.5]),
)
def test_windows_equal_talib(seed: int, n: int, kind: int, period: int, nbdev: float) -> None:
    x = series(seed, n, kind)
    sample = math.sqrt(period / (period - 1))
    [std] = stats(x, period, sample, windows.STDDEV, 1)
    assert same(std, talib.STDDEV(x, period, sample))
    mean, ref_std = talib.SMA(x, period), talib.STDDEV(x, period, sample)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected_z = np.where(ref_std > 0, (x - mean) / ref_std, np.nan)
    [z] = stats(x, period, sample, windows.ZSCORE, 1)
    assert same(z, expected_z)
    sma = np.full(n, -3.0)
    windows.sma(x, period, sma)
    assert same(sma, mean)
    upper, middle, lower = talib.BBANDS(x, period, nbdev, nbdev, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        width = upper - lower
        pctb = np.where(width > 0, (x - lower) / width, np.nan)
        bandwidth = np.where(middle != 0, width / middle, np.nan)
    for got, want in zip(
        stats(x, period, nbdev, windows.BBANDS, 5),
        (upper, middle, lower, pctb, bandwidth),
        strict=True,
    ):
        assert same(got, want)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 50))
def test_sma_of_period_one_is_the_input(seed: int, n: int) -> None:
    x = series(seed, n, 0)
    out = np.full(n, -3.0)
    windows.sma(x, 1, out)
    assert same(out, talib.SMA(x, 1))


def sample(period: int) -> float:
    return math.sqrt(period / (period - 1))


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.one_of(st.integers(0, 80), st.integers(81, 4000)),
    kinds=st.tuples(st.integers(0, 6), st.integers(0, 6)),
    periods=st.tuples(st.integers(2, 120), st.integers(2, 120), st.integers(2, 120)),
    skip=st.sampled_from(["", "a", "b", "ab", "z", "bz"]),
)
def test_stddevs_and_zscore_in_one_pass_equal_talib(
    seed: int, n: int, kinds: tuple[int, int], periods: tuple[int, int, int], skip: str
) -> None:
    x, y = series(seed, n, kinds[0]), series(seed + 1, n, kinds[1])
    pa, pb, pz = (0 if key in skip else p for key, p in zip("abz", periods, strict=True))
    oa, ob, oz = (np.full(n, -3.0) if p else np.empty(0) for p in (pa, pb, pz))
    windows.stddevs_zscore(
        x if pa or pb else np.empty(0), pa, pb, sample(pa) if pa else 1.0,
        sample(pb) if pb else 1.0, oa, ob,
        y if pz else np.empty(0), pz, sample(pz) if pz else 1.0, oz,
    )  # fmt: skip
    if pa:
        assert same(oa, talib.STDDEV(x, pa, sample(pa)))
    if pb:
        assert same(ob, talib.STDDEV(x, pb, sample(pb)))
    if pz:
        mean, std = talib.SMA(y, pz), talib.STDDEV(y, pz, sample(pz))
        with np.errstate(invalid="ignore", divide="ignore"):
            assert same(oz, np.where(std > 0, (y - mean) / std, np.nan))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.one_of(st.integers(0, 80), st.integers(81, 3000)),
    period=st.integers(2, 120),
    scale=st.sampled_from([1, 1_000, 10**9, 2**55]),
)
def test_zscore_of_int64_volumes_equals_the_float64_one(
    seed: int, n: int, period: int, scale: int
) -> None:
    """Volumes as stored (int64, up to past 2**53 where the conversion rounds) give the
    z-score of the same volumes as float64, bit for bit."""
    rng = np.random.default_rng(seed)
    volumes = rng.integers(0, 4, n) * scale + rng.integers(0, 1000, n)
    if n > 10:
        volumes[n // 3 : n // 3 + 5] = volumes[n // 3]  # a flat stretch: std 0
    as_float = volumes.astype(np.float64)
    got, want = np.full(n, -3.0), np.full(n, -3.0)
    none = np.empty(0)
    windows.stddevs_zscore(none, 0, 0, 1.0, 1.0, none, none, volumes, period, sample(period), got)
    windows.stddevs_zscore(none, 0, 0, 1.0, 1.0, none, none, as_float, period, sample(period), want)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))
    mean, std = talib.SMA(as_float, period), talib.STDDEV(as_float, period, sample(period))
    with np.errstate(invalid="ignore", divide="ignore"):
        assert same(got, np.where(std > 0, (as_float - mean) / std, np.nan))
