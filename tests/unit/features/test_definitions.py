"""Feature sets are data: their hash follows names, versions, params, code and adjustment."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from stockdb.errors import DataIntegrityError, InvalidInput
from stockdb.features.definitions import FeatureDef, FeatureSet, default_feature_set
from stockdb.features.frame import BarFrame


def test_set_hash_is_stable_and_hex():
    assert default_feature_set().set_hash == default_feature_set().set_hash
    assert re.fullmatch(r"[0-9a-f]{64}", default_feature_set().set_hash)


def test_set_hash_changes_with_version_params_code_and_adjustment():
    base = default_feature_set()
    first = base.definitions[0]
    bumped = FeatureSet((dataclasses.replace(first, version=2), *base.definitions[1:]))
    reparam = FeatureSet((dataclasses.replace(first, params={"period": 6}), *base.definitions[1:]))
    recode = FeatureSet((dataclasses.replace(first, function=_other_sma), *base.definitions[1:]))
    raw = default_feature_set("raw")
    hashes = {base.set_hash, bumped.set_hash, reparam.set_hash, recode.set_hash, raw.set_hash}
    assert len(hashes) == 5


def _other_sma(bars: BarFrame, *, period: int) -> list[np.ndarray]:
    return [bars.close * 0 + period]


def test_code_ref_names_module_function_and_source_hash():
    d = default_feature_set().get("rsi_14")
    assert re.fullmatch(r"stockdb\.features\.indicators:rsi#[0-9a-f]{12}", d.code_ref)
    assert d.code_sha256.startswith(d.code_ref[-12:])


def test_default_set_names_and_columns():
    fs = default_feature_set()
    assert fs.columns[:5] == ("sma_5", "sma_10", "sma_20", "sma_50", "sma_200")
    for name in (
        "ema_12",
        "ema_26",
        "rsi_14",
        "macd_hist",
        "bb_pctb",
        "bb_bandwidth",
        "atr_14",
        "log_ret_5",
        "volatility_60",
        "volume_zscore_20",
        "vwap_distance",
        "minute_of_session",
        "day_of_week",
    ):
        assert name in fs.columns
    assert fs.warmup == 199


def test_unknown_feature_and_adjustment_are_invalid_input():
    with pytest.raises(InvalidInput, match="nope"):
        default_feature_set().get("nope")
    with pytest.raises(InvalidInput, match="price_adjustment"):
        default_feature_set("dividends")  # type: ignore[arg-type]


def test_duplicate_outputs_are_refused():
    d = default_feature_set().get("sma_5")
    with pytest.raises(InvalidInput):
        FeatureSet((d, dataclasses.replace(d, name="other")))


def test_a_function_that_breaks_its_declaration_is_caught(frame: BarFrame):
    bad = FeatureDef("bad", 1, _other_sma, ("a", "b"), 0, {"period": 3})
    with pytest.raises(DataIntegrityError, match="bad"):
        bad.compute(frame)


def test_declared_warmups_are_the_leading_nans_of_every_column(frame):
    """Each output's warm-up is exactly its run of leading NaN rows (log_ret_k from row k)."""
    fs = default_feature_set()
    values = fs.compute(frame)
    for d in fs.definitions:
        assert max(d.warmups.values()) == d.warmup
        for column, warmup in d.warmups.items():
            present = np.flatnonzero(~np.isnan(values[column]))
            assert present[0] == warmup, column
    assert fs.get("log_returns").warmups == {f"log_ret_{k}": k for k in range(1, 6)}


def test_output_warmups_must_match_the_outputs():
    d = default_feature_set().get("log_returns")
    with pytest.raises(InvalidInput):
        dataclasses.replace(d, output_warmups=(1, 2))
    with pytest.raises(InvalidInput):
        dataclasses.replace(d, output_warmups=(1, 2, 3, 4, 6))


def test_timeframes_have_their_own_hash_and_1min_keeps_its_own():
    base = default_feature_set()
    assert base.at("1Min").set_hash == base.set_hash
    assert "timeframe" not in base.manifest()
    hashes = {base.at(tf).set_hash for tf in ("5Min", "15Min", "1Hour", "1Day")}
    assert len(hashes) == 4 and base.set_hash not in hashes
    with pytest.raises(InvalidInput):
        base.at("30Min")
