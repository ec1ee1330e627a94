"""The Python API for notebooks: ``stockdb.open(data_dir)`` and its :class:`StockDB` object."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa

from stockdb.app import App
from stockdb.config import Settings
from stockdb.dates import parse_date
from stockdb.errors import InvalidInput
from stockdb.ingest.backfill import IngestSummary, ProgressFn
from stockdb.lake.reader import BarQuery
from stockdb.symbols import normalize_symbol, normalize_symbols

if TYPE_CHECKING:
    from stockdb.usecases.universe import UniverseService

__all__ = ["StockDB", "open_db"]

Output = Literal["pandas", "arrow", "polars"]


def _convert(table: pa.Table, output: Output) -> Any:
    if output == "arrow":
        return table
    if output == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if output == "pandas":
        return table.to_pandas()
    raise InvalidInput(f"unknown output {output!r}: use pandas, arrow or polars")


class StockDB:
    """A handle on one data directory. Results are pandas by default (Arrow/Polars on request)."""

    def __init__(self, app: App) -> None:
        self.app = app

    # ---- bars --------------------------------------------------------------------------
    def bars(
        self,
        symbol: str | Sequence[str] | None = None,
        timeframe: str = "1Min",
        start: str | date | datetime | None = None,
        end: str | date | datetime | None = None,
        limit: int | None = None,
        session: str | None = None,
        output: Output = "pandas",
        adjustment: str = "raw",
        universe: str | None = None,
    ) -> Any:
        """Bars of ``symbol`` at ``timeframe``, ascending. Dates are New York session dates
        (inclusive); instants must be timezone-aware. ``limit`` keeps the latest N.
        ``adjustment`` is raw (as stored), split, dividend or all: prices (and volume for
        splits) adjusted backward from each ex-date (:mod:`stockdb.corporate.adjust`).

        A list of symbols (``["AAPL", "MSFT"]`` or ``"AAPL,MSFT"``; or a ``universe``)
        gives one long frame with a ``symbol`` column, symbol by symbol in the order given;
        ``limit`` then applies to each symbol.

        Raises InvalidInput for bad arguments (every bad symbol named at once) and NotFound
        when nothing is stored (every symbol without bars named at once).
        """
        if universe is None and isinstance(symbol, str) and "," not in symbol:
            query = BarQuery.parse(symbol, timeframe, start, end, limit, session, adjustment)
            return _convert(self.app.reader.bars(query), output)
        from stockdb.usecases.bars import read_bars

        names = self._resolve(symbol, universe)
        table = read_bars(self.app, names, timeframe, start, end, limit, session, adjustment)
        return _convert(table, output)

    def _resolve(self, symbols: str | Sequence[str] | None, universe: str | None) -> list[str]:
        from stockdb.usecases.bars import validate_symbols

        if universe is None:
            return validate_symbols(symbols or [])
        return self.universes.resolve(symbols, universe)

    @property
    def universes(self) -> UniverseService:
        """Named symbol lists: ``create(name, symbols)``, ``get``, ``all``, ``add``,
        ``remove``, ``delete``, ``create(name, from_alpaca=True)``."""
        from stockdb.usecases.universe import UniverseService

        return UniverseService(self.app)

    def actions(self, symbol: str) -> pd.DataFrame:
        """Stored corporate actions (splits, cash dividends) of ``symbol`` by ex-date."""
        rows = [a.to_dict() for a in self.app.corporate.actions(symbol)]
        columns = ["symbol", "type", "ex_date", "ratio", "cash", "source", "fetched_at"]
        return pd.DataFrame(rows, columns=columns)

    # ---- features, models, backtests ----------------------------------------------------
    def features(
        self,
        symbol: str | Sequence[str] | None = None,
        start: str | date | None = None,
        end: str | date | None = None,
        columns: Sequence[str] | None = None,
        output: Output = "pandas",
        timeframe: str | None = None,
        universe: str | None = None,
    ) -> Any:
        """Stored feature rows of ``symbol`` (``ts`` first, ascending) for sessions
        ``start..end`` at ``timeframe`` (1Min, 5Min, 15Min, 1Hour, 1Day; default 1Min);
        ``columns`` picks features. A list of symbols (or ``universe``) gives one long
        frame with ``symbol`` first. Raises NotFound / InvalidInput."""
        if universe is not None or not isinstance(symbol, str) or "," in symbol:
            from stockdb.usecases.bars import read_features

            names = self._resolve(symbol, universe)
            frame = read_features(self.app, names, start, end, columns, timeframe=timeframe)
        else:
            first, last = parse_date(start, "start"), parse_date(end, "end")
            if first is not None and last is not None and first > last:
                raise InvalidInput(f"start {first} is after end {last}")
            frame = self.app.features.read(
                normalize_symbol(symbol), first, last, columns, timeframe=timeframe
            )
        if output == "pandas":
            return frame
        return _convert(pa.Table.from_pandas(frame, preserve_index=False), output)

    def build_features(
        self,
        symbols: Sequence[str] | None = None,
        full: bool = False,
        timeframe: str | None = None,
        universe: str | None = None,
        workers: int | None = None,
    ) -> list[Any]:
        """Build (incrementally, or ``full``) the feature partitions of ``symbols`` (all; or
        a ``universe``'s), at ``timeframe`` (default: 1Min and every timeframe already built),
        on ``workers`` processes (default: every core for builds big enough to repay it)."""
        if universe is not None:
            names: list[str] | None = self.universes.resolve(symbols, universe)
        else:
            names = None if symbols is None else normalize_symbols(symbols)
        return self.app.features.build(names, full, timeframe=timeframe, workers=workers)

    def rebuild_rollups(
        self,
        symbols: Sequence[str] | None = None,
        universe: str | None = None,
        workers: int | None = None,
    ) -> int:
        """Derive the 1Day and 1Hour rollup files of ``symbols`` (every stored one; or a
        ``universe``'s) again from their minute partitions, on ``workers`` processes (default:
        every core from eight symbols on); returns the number of files written. NotFound,
        before anything is written, naming every symbol without stored bars."""
        from stockdb.usecases.operations import rebuild_rollups

        return rebuild_rollups(self.app, symbols, universe, workers)[1]

    def train(
        self,
        tickers: str | Sequence[str] | None = None,
        universe: str | None = None,
        **options: Any,
    ) -> Any:
        """Train and register a model on ``tickers`` (the first is the primary) or on a
        ``universe``'s symbols (see ``stockdb train --help`` for the options); returns its
        registry record."""
        from stockdb.training.requests import train_request

        if universe is not None:
            names = self.universes.resolve(tickers, universe)
        elif tickers is None:
            raise InvalidInput("no ticker given")
        else:
            names = [tickers] if isinstance(tickers, str) else list(tickers)
        return self.app.training.train(train_request({"tickers": names, **options}))

    def models(self) -> pd.DataFrame:
        """Registered models with their metrics."""
        from dataclasses import asdict

        return pd.DataFrame([asdict(m) for m in self.app.training.list()])

    def simulate(
        self,
        model_id: str,
        symbols: str | Sequence[str] | None = None,
        universe: str | None = None,
        **options: Any,
    ) -> Any:
        """Backtest a model against buy-and-hold; returns the stored simulation record
        (read its curve and fills with :meth:`simulation_equity` and :meth:`simulation_trades`).

        With a list of ``symbols`` (or a ``universe``'s) the model trades each with an equal
        share of the cash, as ``stockdb simulate --symbols`` does: the result holds every
        symbol's record (``runs``) and the equal-weight portfolio against equal-weight
        buy-and-hold (``metrics``, ``benchmark_metrics``, ``equity``)."""
        from stockdb.training.requests import simulation_request

        request = simulation_request({"model_id": model_id, **options})
        if symbols is None and universe is None:
            return self.app.simulation.simulate(request)
        from stockdb.simulation.portfolio import simulate_portfolio

        if request.symbol is not None:
            raise InvalidInput("give either symbol or symbols/universe")
        names = self._resolve(symbols, universe)
        return simulate_portfolio(self.app.simulation, request, names)

    def track(
        self,
        symbols: str | Sequence[str] | None = None,
        universe: str | None = None,
        tracked: bool = True,
    ) -> list[str]:
        """Have the live agent keep ``symbols`` (and/or a ``universe``'s) current, or stop
        with ``tracked=False``, as ``stockdb track`` does; returns every tracked symbol."""
        from stockdb.usecases.bars import split_symbols
        from stockdb.usecases.operations import Operations

        names = None if symbols is None else split_symbols(symbols)
        return Operations(self.app, self.app.jobs).track(names, tracked, universe)[1]

    def simulation_equity(self, simulation_id: str) -> pd.DataFrame:
        """The stored equity curve of a simulation, beside buy-and-hold's."""
        return self.app.simulation.store.equity(simulation_id).to_pandas()

    def simulation_trades(self, simulation_id: str) -> pd.DataFrame:
        """Every fill of a stored simulation."""
        return self.app.simulation.store.trades(simulation_id).to_pandas()

    def ingest(
        self,
        symbols: str | Sequence[str] | None = None,
        start: str | date | None = None,
        end: str | date | None = None,
        provider: str | None = None,
        progress: ProgressFn | None = None,
        replace: bool = False,
        universe: str | None = None,
    ) -> IngestSummary:
        """Fetch and store 1-minute bars for ``symbols`` (or a ``universe``'s) over sessions
        ``start..end`` (inclusive; without dates, the latest five sessions), then their
        corporate actions, exactly as ``stockdb ingest`` does. On synthetic data the notice
        is logged as a warning. ``db.app.ingest`` gives the whole outcome."""
        if universe is not None:
            symbols = self.universes.resolve(symbols, universe)
        if symbols is None:
            raise InvalidInput("no symbol given")
        request = self.app.ingest.request(symbols, start, end, provider, replace)
        return self.app.ingest.run(request, progress).summary

    def gaps(
        self, symbol: str, start: str | date | None = None, end: str | date | None = None
    ) -> pd.DataFrame:
        """One row per expected session with its coverage status."""
        from stockdb.usecases.operations import gap_rows

        return pd.DataFrame([r.to_dict() for r in gap_rows(self.app, symbol, start, end)])

    def symbols(self) -> pd.DataFrame:
        """Known symbols with a coverage summary."""
        from dataclasses import asdict

        return pd.DataFrame([asdict(s) for s in self.app.coverage.summaries()])

    def close(self) -> None:
        self.app.close()

    def __enter__(self) -> StockDB:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_db(data_dir: str | Path | None = None, settings: Settings | None = None) -> StockDB:
    """Open the data directory ``data_dir`` (default: ``STOCKDB_DATA_DIR`` or ``./data``)."""
    base = settings or Settings()
    if data_dir is not None:
        base = base.model_copy(update={"data_dir": Path(data_dir)})
    return StockDB(App(base))
