"""Versioned features over each ticker's whole 1-min history: definitions, builder, store.

Default set: SMA 5/10/20/50/200, EMA 12/26, RSI 14, MACD 12/26/9, Bollinger 20/2 (bands,
%B, bandwidth), ATR 14, 1-min log returns at lags 1..5, rolling volatility 20/60, volume
z-score 20, distance from VWAP, minute of session and day of week. Every feature uses
backward windows only; see :mod:`stockdb.features.definitions` for how a set is hashed.
"""

from __future__ import annotations

from stockdb.features.builder import BuildResult, FeatureBuilder, StalePartition
from stockdb.features.definitions import FeatureDef, FeatureSet, default_feature_set
from stockdb.features.service import FeatureService, SymbolStatus
from stockdb.features.store import FeatureStore

__all__ = [
    "BuildResult",
    "FeatureBuilder",
    "FeatureDef",
    "FeatureService",
    "FeatureSet",
    "FeatureStore",
    "StalePartition",
    "SymbolStatus",
    "default_feature_set",
]
