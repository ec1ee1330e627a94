"""A set's compute fuses its EMA, MACD, RSI and ATR definitions into shared passes, and the
result equals each definition's own (TA-Lib) function bit for bit, whatever the mix."""

from __future__ import annotations

import numpy as np

from stockdb.features import fusion, indicators
from stockdb.features.definitions import FeatureDef, FeatureSet, default_feature_set
from stockdb.features.frame import BarFrame


def ema(n: int) -> FeatureDef:
    return FeatureDef(f"ema_{n}", 1, indicators.ema, (f"ema_{n}",), max(n - 1, 0), {"period": n})


def macd(name: str, fast: int, slow: int, signal: int) -> FeatureDef:
    params = {"fast": fast, "slow": slow, "signal": signal}
    outputs = (f"{name}_line", f"{name}_signal", f"{name}_hist")
    return FeatureDef(name, 1, indicators.macd, outputs, max(fast, slow) + signal - 2, params)


def test_many_recursions_equal_their_own_functions(frame: BarFrame) -> None:
    defs = (
        ema(3),
        ema(12),
        ema(50),  # a third EMA needs a second pass
        ema(1),  # outside the fused range: its own function
        FeatureDef(
            "m", 1, indicators.macd, ("a", "b", "c"), 40, {"fast": 30, "slow": 7, "signal": 4}
        ),
        FeatureDef(
            "m2", 1, indicators.macd, ("d", "e", "f"), 33, {"fast": 12, "slow": 26, "signal": 9}
        ),
        FeatureDef(  # a 1-bar signal: left to TA-Lib (its last value can differ by an ulp)
            "m1", 1, indicators.macd, ("g", "h", "i"), 3, {"fast": 2, "slow": 4, "signal": 1}
        ),
        FeatureDef("r", 1, indicators.rsi, ("r",), 5, {"period": 5}),
        FeatureDef("t", 1, indicators.atr, ("t",), 1, {"period": 1}),
        FeatureDef("s", 1, indicators.sma, ("s",), 4, {"period": 5}),
    )
    fs = FeatureSet(defs)
    fused = fusion.fused_recursions(frame, defs)
    assert set(fused) == {"ema_3", "ema_12", "ema_50", "m", "m2", "r", "t"}
    values = fs.compute(frame)
    assert list(values) == list(fs.columns)
    for d in defs:
        for name, expected in d.compute(frame).items():
            assert np.array_equal(values[name], expected, equal_nan=True), name


def test_default_set_fuses_one_pass(frame: BarFrame) -> None:
    fs = default_feature_set()
    fused = fusion.fused_recursions(frame, fs.definitions)
    assert set(fused) == {"ema_12", "ema_26", "rsi_14", "macd", "atr_14"}
    # Each array belongs to one column.
    arrays = [a for outs in fused.values() for a in outs]
    assert len({id(a) for a in arrays}) == 7
    assert not any(np.shares_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1 :])


def test_empty_history(frame: BarFrame) -> None:
    empty = BarFrame(
        frame.ts_us[:0], *(getattr(frame, k)[:0] for k in ("open", "high", "low", "close")),
        frame.volume[:0], frame.trade_count[:0], frame.vwap[:0], frame.calendar,
    )  # fmt: skip
    values = default_feature_set().compute(empty)
    assert all(v.shape == (0,) for v in values.values())


def test_sma_of_a_bollinger_period_is_its_middle_band(frame: BarFrame) -> None:
    fs = default_feature_set()
    values = fs.compute(frame)
    assert values["sma_20"] is values["bb_middle"]
    assert np.array_equal(
        values["sma_20"], fs.get("sma_20").compute(frame)["sma_20"], equal_nan=True
    )
    only_sma = fs.select(["sma_20"]).compute(frame)["sma_20"]
    assert np.array_equal(only_sma, values["sma_20"], equal_nan=True)


def test_volatilities_two_per_pass_with_a_zscore_equal_their_own_functions(
    frame: BarFrame,
) -> None:
    defs = tuple(
        FeatureDef(f"v{n}", 1, indicators.rolling_volatility, (f"v{n}",), n, {"period": n})
        for n in (60, 5, 20)  # 5 and 20 share a pass; 60 has one alone
    ) + tuple(
        FeatureDef(f"z{n}", 1, indicators.volume_zscore, (f"z{n}",), n - 1, {"period": n})
        for n in (20, 30, 7)  # z7 has a pass without volatilities
    )
    assert set(fusion.volatility_passes(frame, defs)) == {d.name for d in defs}
    values = FeatureSet(defs).compute(frame)
    for d in defs:
        own = d.compute(frame)[d.name]
        assert np.array_equal(values[d.name], own, equal_nan=True), d.name
