"""Feature definitions as data: name, version, params, warm-up, outputs, function; set hashes.

A feature set is identified by ``set_hash``: the SHA-256 of a canonical JSON document holding
the set's own parameters (``price_adjustment``), every definition's name, version and
params, the SHA-256 of each function's source (``inspect.getsource``) and the source of the
shared derived series (:class:`~stockdb.features.frame.BarFrame`) and of the compiled
kernels the functions call (:mod:`~stockdb.features.kernels`,
:mod:`~stockdb.features.windows`, and the fused recursions of
:mod:`~stockdb.features.fusion`). Changing any of these
yields a new hash, which marks every stored partition built with the old one as stale.

``price_adjustment`` is recorded in the hash so that adjusted and raw builds never mix. The
default is ``"split"``: the builder reads bars adjusted backward for the stored splits
(:mod:`stockdb.corporate.adjust`); ``"raw"`` reads them as stored.

``timeframe`` names the bars the same definitions run over: ``1Min`` (the stored bars) or a
higher timeframe derived from them (``5Min``, ``15Min``, ``1Hour``, ``1Day``). A higher
timeframe enters the manifest (so each timeframe has its own hash); ``1Min`` does not, so the
hash of the 1-minute set is the one it always had.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from stockdb.errors import DataIntegrityError, InvalidInput
from stockdb.features import frame, fusion, indicators, kernels, recursions, windows
from stockdb.features.frame import BarFrame, FloatArray

__all__ = [
    "FEATURE_TIMEFRAMES",
    "FeatureDef",
    "FeatureFunction",
    "FeatureSet",
    "PRICE_ADJUSTMENTS",
    "PriceAdjustment",
    "default_definitions",
    "default_feature_set",
]

PriceAdjustment = Literal["raw", "split"]
PRICE_ADJUSTMENTS: tuple[str, ...] = ("raw", "split")
FEATURE_TIMEFRAMES: tuple[str, ...] = ("1Min", "5Min", "15Min", "1Hour", "1Day")
"""The timeframes a feature set can be built at; 1Min is the stored bars."""
FeatureFunction = Callable[..., Sequence[FloatArray]]
ParamValue = int | float | str


_ENGINE_MODULES = (frame, kernels, fusion, recursions, windows)
"""Modules whose source is part of every set hash: the shared series and compiled kernels."""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class FeatureDef:
    """One feature: a function of a ticker's history producing ``outputs`` columns.

    ``warmup`` is the number of leading bars whose outputs are NaN for lack of history
    (TA-Lib's lookback), the longest over the outputs; ``output_warmups`` gives it per output
    column when the columns differ (``log_ret_k`` has values from row k). Recursive
    indicators (``recursive=True``: EMA, RSI, ATR, MACD) additionally depend on every earlier
    bar, with a weight that decays geometrically.
    """

    name: str
    version: int
    function: FeatureFunction
    outputs: tuple[str, ...]
    warmup: int
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    recursive: bool = False
    description: str = ""
    output_warmups: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.output_warmups is not None and (
            len(self.output_warmups) != len(self.outputs)
            or max(self.output_warmups, default=0) != self.warmup
        ):
            raise InvalidInput(
                f"feature {self.name}: output_warmups must give one warm-up per output, "
                f"the longest equal to warmup"
            )

    @property
    def warmups(self) -> dict[str, int]:
        """The warm-up of every output column, in bars."""
        per = self.output_warmups or (self.warmup,) * len(self.outputs)
        return dict(zip(self.outputs, per, strict=True))

    @cached_property
    def code_sha256(self) -> str:
        """SHA-256 of the function's source code."""
        return _sha256(inspect.getsource(self.function))

    @property
    def code_ref(self) -> str:
        """``module:function#sha256[:12]`` of the function that computes this feature."""
        fn = self.function
        return f"{fn.__module__}:{fn.__qualname__}#{self.code_sha256[:12]}"

    @property
    def params_hash(self) -> str:
        """SHA-256 of the canonical JSON of ``params``."""
        return _sha256(_canonical(dict(self.params)))

    def compute(self, bars: BarFrame) -> dict[str, FloatArray]:
        """Run the function; raises DataIntegrityError if it breaks its declared outputs."""
        arrays = list(self.function(bars, **self.params))
        if len(arrays) != len(self.outputs):
            raise DataIntegrityError(
                f"feature {self.name} returned {len(arrays)} columns, declared {len(self.outputs)}"
            )
        for column, array in zip(self.outputs, arrays, strict=True):
            if array.shape != (len(bars),):
                raise DataIntegrityError(f"feature column {column} has the wrong length")
        return dict(zip(self.outputs, arrays, strict=True))


@dataclass(frozen=True)
class FeatureSet:
    """An ordered, versioned collection of definitions; its identity is :attr:`set_hash`."""

    definitions: tuple[FeatureDef, ...]
    price_adjustment: PriceAdjustment = "split"
    timeframe: str = "1Min"

    def __post_init__(self) -> None:
        if self.price_adjustment not in PRICE_ADJUSTMENTS:
            raise InvalidInput(
                f"unknown price_adjustment {self.price_adjustment!r}: "
                f"use one of {', '.join(PRICE_ADJUSTMENTS)}"
            )
        if self.timeframe not in FEATURE_TIMEFRAMES:
            raise InvalidInput(
                f"features cannot be built at {self.timeframe!r}: "
                f"use one of {', '.join(FEATURE_TIMEFRAMES)}"
            )
        names = [d.name for d in self.definitions]
        if len(set(names)) != len(names):
            raise InvalidInput("feature names must be unique within a set")
        columns = [c for d in self.definitions for c in d.outputs]
        if len(set(columns)) != len(columns):
            raise InvalidInput("feature output columns must be unique within a set")

    @property
    def columns(self) -> tuple[str, ...]:
        """Every output column, in definition order."""
        return tuple(c for d in self.definitions for c in d.outputs)

    @property
    def warmup(self) -> int:
        """The longest warm-up of any definition, in bars."""
        return max((d.warmup for d in self.definitions), default=0)

    def at(self, timeframe: str) -> FeatureSet:
        """The same definitions and adjustment built at ``timeframe`` (InvalidInput when
        features cannot be built at it)."""
        return FeatureSet(self.definitions, self.price_adjustment, timeframe)

    def manifest(self) -> dict[str, Any]:
        """The canonical document the set hash is computed from."""
        extra: dict[str, Any] = {} if self.timeframe == "1Min" else {"timeframe": self.timeframe}
        return {
            **extra,
            "price_adjustment": self.price_adjustment,
            "engine": _sha256("".join(inspect.getsource(m) for m in _ENGINE_MODULES)),
            "features": [
                {
                    "name": d.name,
                    "version": d.version,
                    "params": dict(d.params),
                    "code": d.code_sha256,
                }
                for d in self.definitions
            ],
        }

    @cached_property
    def set_hash(self) -> str:
        """SHA-256 of :meth:`manifest` as canonical JSON."""
        return _sha256(_canonical(self.manifest()))

    def get(self, name: str) -> FeatureDef:
        """The definition called ``name``; raises InvalidInput naming an unknown one."""
        for d in self.definitions:
            if d.name == name:
                return d
        raise InvalidInput(
            f"unknown feature {name!r}; known: {', '.join(d.name for d in self.definitions)}"
        )

    def select(self, names: Sequence[str]) -> FeatureSet:
        """A set of only the named definitions (InvalidInput for an unknown name)."""
        return FeatureSet(tuple(self.get(n) for n in names), self.price_adjustment, self.timeframe)

    def compute(self, bars: BarFrame) -> dict[str, FloatArray]:
        """Every output column over the whole of ``bars``, in :attr:`columns` order.

        The recursive indicators (EMA, MACD, RSI, ATR) are computed together in one pass,
        rolling volatilities two per pass with a volume z-score, and an SMA of a Bollinger
        definition's period is its middle band (:mod:`~stockdb.features.fusion`); all equal
        the definitions' own functions bit for bit."""
        arrays: dict[str, Sequence[FloatArray]] = dict(
            fusion.fused_recursions(bars, self.definitions)
        )
        arrays.update(fusion.volatility_passes(bars, self.definitions))
        for d in self.definitions:
            if d.function is indicators.bollinger:
                arrays[d.name] = list(d.compute(bars).values())
        arrays.update(fusion.smas_from_bollinger(self.definitions, arrays))
        out: dict[str, FloatArray] = {}
        for d in self.definitions:
            got = arrays.get(d.name)
            out.update(d.compute(bars) if got is None else zip(d.outputs, got, strict=True))
        return out


def default_definitions() -> tuple[FeatureDef, ...]:
    """The default features (see the module docstring of :mod:`stockdb.features`)."""
    ind = indicators
    defs: list[FeatureDef] = [
        FeatureDef(
            f"sma_{n}",
            1,
            ind.sma,
            (f"sma_{n}",),
            n - 1,
            {"period": n},
            description=f"simple moving average of close, {n} bars",
        )
        for n in (5, 10, 20, 50, 200)
    ]
    defs += [
        FeatureDef(
            f"ema_{n}",
            1,
            ind.ema,
            (f"ema_{n}",),
            n - 1,
            {"period": n},
            recursive=True,
            description=f"exponential moving average of close, {n} bars",
        )
        for n in (12, 26)
    ]
    defs += [
        FeatureDef(
            "rsi_14",
            1,
            ind.rsi,
            ("rsi_14",),
            14,
            {"period": 14},
            recursive=True,
            description="Wilder RSI of close, 14 bars",
        ),
        FeatureDef(
            "macd",
            1,
            ind.macd,
            ("macd", "macd_signal", "macd_hist"),
            33,
            {"fast": 12, "slow": 26, "signal": 9},
            recursive=True,
            description="MACD 12/26/9 of close: line, signal, histogram",
        ),
        FeatureDef(
            "bollinger_20",
            1,
            ind.bollinger,
            ("bb_upper", "bb_middle", "bb_lower", "bb_pctb", "bb_bandwidth"),
            19,
            {"period": 20, "nbdev": 2.0},
            description="Bollinger bands 20/2 of close, %B and bandwidth",
        ),
        FeatureDef(
            "atr_14",
            1,
            ind.atr,
            ("atr_14",),
            14,
            {"period": 14},
            recursive=True,
            description="Wilder average true range, 14 bars",
        ),
        FeatureDef(
            "log_returns",
            1,
            ind.log_return_lags,
            tuple(f"log_ret_{k}" for k in range(1, 6)),
            5,
            {"lags": 5},
            description="log returns at lags 1..5 (log_ret_1 ends at this bar)",
            output_warmups=(1, 2, 3, 4, 5),
        ),
    ]
    defs += [
        FeatureDef(
            f"volatility_{n}",
            1,
            ind.rolling_volatility,
            (f"volatility_{n}",),
            n,
            {"period": n},
            description=f"sample std of the last {n} bar log returns",
        )
        for n in (20, 60)
    ]
    defs += [
        FeatureDef(
            "volume_zscore_20",
            1,
            ind.volume_zscore,
            ("volume_zscore_20",),
            19,
            {"period": 20},
            description="z-score of volume within the last 20 bars",
        ),
        FeatureDef(
            "vwap_distance",
            1,
            ind.vwap_distance,
            ("vwap_distance",),
            0,
            description="(close - vwap) / vwap",
        ),
        FeatureDef(
            "minute_of_session",
            1,
            ind.minute_of_session,
            ("minute_of_session",),
            0,
            description="minutes since the regular open (negative pre-market)",
        ),
        FeatureDef(
            "day_of_week",
            1,
            ind.day_of_week,
            ("day_of_week",),
            0,
            description="weekday of the New York session date, Monday=0",
        ),
    ]
    return tuple(defs)


def default_feature_set(price_adjustment: PriceAdjustment = "split") -> FeatureSet:
    """The default feature set; InvalidInput for an unknown ``price_adjustment``."""
    return FeatureSet(default_definitions(), price_adjustment)
