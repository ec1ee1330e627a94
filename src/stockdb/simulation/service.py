"""Simulation facade: a registered model's signals replayed over feature rows, with results."""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from stockdb.config import Settings
from stockdb.errors import Conflict, InvalidInput, NotFound
from stockdb.simulation.engine import EngineResult, Fill, buy_and_hold, simulate
from stockdb.simulation.metrics import performance
from stockdb.simulation.period import first_date, out_of_sample_start, overlaps
from stockdb.simulation.report import ReportInput, tearsheet
from stockdb.simulation.signals import signals_from_predictions
from stockdb.simulation.store import OVERLAP_WARNING, SimulationRecord, SimulationStore
from stockdb.state.store import StateStore
from stockdb.symbols import normalize_symbol
from stockdb.training.dataset import FeatureSource, build_dataset, timeframes_of
from stockdb.training.panel import is_indicator, symbol_indicators
from stockdb.training.registry import ModelRecord, ModelRegistry, check_model_id

__all__ = [
    "OVERLAP_WARNING",
    "SimulationRecord",
    "SimulationRequest",
    "SimulationService",
    "out_of_sample_start",
    "overlaps",
]

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class SimulationRequest:
    """Which model to replay on which symbol and period, with cash, fill mode and costs.

    ``symbol`` None trades the model's primary ticker; context tickers stay the model's.
    Out of sample by default: without ``start`` the period begins at the first session
    after the model's training window (which already reaches ``horizon`` bars past its last
    training row); a period that overlaps that window is refused unless ``in_sample``.
    """

    model_id: str
    symbol: str | None = None
    start: date | None = None
    end: date | None = None
    cash: float = 10_000.0
    fill: Fill = "close"
    fee_bps: float = 0.0
    slippage_bps: float = 0.0
    in_sample: bool = False

    def validate(self) -> None:
        """Raise InvalidInput for a malformed field; costs and prices are checked by the engine."""
        check_model_id(self.model_id)
        if self.symbol is not None:
            normalize_symbol(self.symbol)
        if self.start is not None and self.end is not None and self.start > self.end:
            raise InvalidInput(f"start {self.start} is after end {self.end}")
        if self.fill not in ("close", "next_open"):
            raise InvalidInput(f"fill must be 'close' or 'next_open', not {self.fill!r}")
        if not math.isfinite(self.cash) or self.cash <= 0:
            raise InvalidInput(f"starting cash must be positive, not {self.cash}")


class SimulationService:
    """Replays registered models over feature rows and stores equity curves and trades."""

    def __init__(
        self,
        settings: Settings,
        state: StateStore,
        features: FeatureSource,
        models: ModelRegistry,
        store: SimulationStore | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.features = features
        self.models = models
        self.store = store or SimulationStore(state, settings.simulations_dir)

    def simulate(
        self, request: SimulationRequest, progress: Progress | None = None
    ) -> SimulationRecord:
        """Predict every bar of the period, trade on the signals, store and return the result.

        Raises InvalidInput for a bad request, NotFound for an unknown model or a ticker
        without feature rows, Conflict when the features come from another feature set than
        the model's, DataIntegrityError when the artifact fails its sha256 check, and
        StorageError when results cannot be written. Warns (log and ``warnings``) when the
        simulated window overlaps the model's training window.
        """
        request.validate()
        report = progress or (lambda _done, _total, _message: None)
        total = 5
        report(0, total, "loading the model")
        record = self.models.get(request.model_id)
        symbol = normalize_symbol(request.symbol or record.tickers[0])
        context = [] if record.windows.get("panel") else list(record.tickers[1:])
        if symbol in context:
            raise InvalidInput(f"{symbol} is one of the model's context tickers")
        train = record.windows.get("train")
        oos_from = out_of_sample_start(train)
        start = first_date(request, record.id, train)
        try:
            dataset = build_dataset(
                self.features,
                [symbol, *context],
                start,
                request.end,
                timeframes=timeframes_of(record.features),
            )
        except NotFound:
            if start is None or start != oos_from or request.start is not None:
                raise
            raise InvalidInput(
                f"nothing out of sample is left: model {record.id} trained on bars up to "
                f"{train['end'] if train else '?'} and {symbol} has no stored bars from "
                f"{oos_from} on; store newer bars or pass --in-sample (in_sample: true)"
            ) from None
        report(1, total, f"loaded {dataset.rows} rows of {','.join(dataset.tickers)}")
        loaded = self.models.load(request.model_id, feature_set_hash=dataset.set_hash)
        missing = [
            f
            for f in record.features
            if f not in dataset.frame.columns and not is_indicator(f, record)
        ]
        if missing:
            raise Conflict(f"the features lack columns the model needs: {', '.join(missing)}")
        frame = dataset.frame
        if record.windows.get("panel"):
            frame = frame.assign(**symbol_indicators(symbol, record.tickers, len(frame)))
        x = frame.loc[:, list(record.features)].astype(np.float64)
        predictions = np.asarray(loaded.pipeline.predict(x), dtype=np.float64)
        signal = signals_from_predictions(predictions, record.task)
        report(2, total, f"predicted {len(signal)} bars")
        close = frame["close"].to_numpy(np.float64)
        open_ = frame["open"].to_numpy(np.float64) if "open" in frame.columns else None
        result = simulate(
            close, signal, open_, request.cash, request.fill, request.fee_bps, request.slippage_bps
        )
        bench = buy_and_hold(close, request.cash, request.fee_bps, request.slippage_bps)
        report(3, total, f"simulated {len(result.trades)} fills")
        ts = frame["ts"]
        overlap = overlaps(train, ts.iloc[0], ts.iloc[-1])
        if overlap and not request.in_sample:  # the dates' check missed it: refuse anyway
            raise InvalidInput(
                f"{ts.iloc[0]}..{ts.iloc[-1]} overlaps model {record.id}'s training window "
                f"({train}); pass --in-sample (in_sample: true) to allow it"
            )
        created_at = self.state.clock.now()
        sim_id = f"{created_at:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:12]}"
        params = self._params(request, symbol, record, dataset.dropped, ts)
        params["out_of_sample_from"] = oos_from.isoformat() if oos_from else None
        params["start"] = start.isoformat() if start else None
        row = {
            "id": sim_id,
            "model_id": record.id,
            "symbol": symbol,
            "created_at": created_at,
            "params": params,
            "metrics": performance(result, ts),
            "benchmark_metrics": performance(bench, ts),
            "overlaps_training": overlap,
            "stale": False,
        }
        equity, fills = self._results(ts, close, predictions, signal, result, bench.equity)
        stored = self.store.save(row, equity, fills)
        report(4, total, "wrote equity and trades")
        if overlap:
            log.warning(
                "simulation %s of model %s: %s (%s)",
                sim_id,
                record.id,
                OVERLAP_WARNING,
                record.windows.get("train"),
            )
        report(total, total, f"stored simulation {sim_id}")
        return stored

    def preflight(self, request: SimulationRequest) -> date | None:
        """Check what can be checked without reading bars; return the first date to load.

        Raises InvalidInput for a bad request, for an ``end`` before the out-of-sample
        default start, and (unless ``in_sample``) for explicit dates overlapping the training
        window's sessions; NotFound for an unknown model.
        """
        request.validate()
        record = self.models.get(request.model_id)
        return first_date(request, record.id, record.windows.get("train"))

    @staticmethod
    def _params(
        request: SimulationRequest,
        symbol: str,
        record: ModelRecord,
        dropped: dict[str, int],
        ts: pd.Series,
    ) -> dict[str, Any]:
        return {
            "symbol": symbol,
            "tickers": [symbol] if record.windows.get("panel") else [symbol, *record.tickers[1:]],
            "start": request.start.isoformat() if request.start else None,
            "end": request.end.isoformat() if request.end else None,
            "first_ts": ts.iloc[0].isoformat(),
            "last_ts": ts.iloc[-1].isoformat(),
            "cash": request.cash,
            "fill": request.fill,
            "fee_bps": request.fee_bps,
            "slippage_bps": request.slippage_bps,
            "in_sample": request.in_sample,
            "feature_set_hash": record.feature_set_hash,
            "dropped_by_context": dropped,
        }

    @staticmethod
    def _results(
        ts: pd.Series,
        close: np.ndarray,
        predictions: np.ndarray,
        signal: np.ndarray,
        result: EngineResult,
        benchmark_equity: np.ndarray,
    ) -> tuple[pa.Table, pa.Table]:
        """The equity curve and the fills as the tables the store keeps."""
        equity = pa.table(
            {
                "ts": pa.array(ts),
                "close": close,
                "prediction": predictions,
                "signal": signal,
                "shares": result.shares,
                "cash": result.cash,
                "equity": result.equity,
                "benchmark_equity": benchmark_equity,
            }
        )
        trades = result.trades
        side = np.where(trades.side == 1, "buy", "sell")
        fills = pa.table(
            {
                "ts": pa.array(ts.iloc[trades.index].reset_index(drop=True)),
                "side": pa.array(side.tolist(), pa.string()),
                "price": trades.price,
                "shares": trades.shares,
                "fee": trades.fee,
                "cash_after": trades.cash_after,
            }
        )
        return equity, fills

    def get(self, simulation_id: str) -> SimulationRecord:
        """The stored simulation ``simulation_id`` (see :meth:`SimulationStore.get`)."""
        return self.store.get(simulation_id)

    def list(self, model_id: str | None = None) -> list[SimulationRecord]:
        """Stored simulations, newest first, optionally of one model only."""
        return self.store.list(model_id)

    def report(self, simulation_id: str) -> str:
        """The self-contained HTML tearsheet of a stored simulation.

        Raises NotFound or InvalidInput for a bad id, StorageError when its stored curve or
        trades cannot be read.
        """
        record = self.get(simulation_id)
        try:
            model: dict[str, Any] | None = asdict(self.models.get(record.model_id))
        except NotFound:
            model = None
        curve = self.store.equity(record.id).to_pandas()
        trades = self.store.trades(record.id).to_pandas()
        return tearsheet(
            ReportInput(
                simulation_id=record.id,
                model_id=record.model_id,
                symbol=record.symbol,
                created_at=record.created_at.isoformat("T", "seconds"),
                params=record.params,
                metrics=record.metrics,
                benchmark_metrics=record.benchmark_metrics,
                warnings=record.warnings,
                stale=record.stale,
                model=model,
                curve=curve,
                trades=trades,
            )
        )
