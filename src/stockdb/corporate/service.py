"""The corporate-action service: list, import, fetch and record actions; adjust bars on read;
mark what a new action invalidates and queue the feature rebuild.

Which new actions invalidate derived data follows the feature set's ``price_adjustment``:
with the default ``split``, a new or changed split of a symbol marks its feature partitions
stale (through the split factor in their source fingerprint, reason ``corporate_action``), its
models and their simulations stale, and queues an incremental feature build of the symbol
(when it has features). A cash dividend leaves split-adjusted data unchanged, so it marks
nothing; with ``raw`` nothing is ever marked.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stockdb.calendar import TradingCalendar
from stockdb.clock import Clock
from stockdb.corporate.adjust import (
    AdjustmentStep,
    adjust_table,
    applicable,
    dividend_factor,
    ex_cutoff_us,
    split_step,
)
from stockdb.corporate.csvfile import parse_actions_csv
from stockdb.corporate.model import CorporateAction, adjusts_for
from stockdb.corporate.repository import CorporateActionRepo, RecordResult
from stockdb.corporate.staleness import StaleMarks, has_feature_partitions, mark_stale
from stockdb.errors import InvalidInput
from stockdb.lake.parquet_lake import ParquetLake
from stockdb.state.store import StateStore
from stockdb.symbols import normalize_symbol, normalize_symbols

if TYPE_CHECKING:
    from stockdb.providers.corporate_actions import ActionSource

__all__ = ["LOOKAHEAD", "ActionUpdate", "CorporateActionService", "RebuildFn"]

log = logging.getLogger("stockdb.corporate")
NEW_YORK = ZoneInfo("America/New_York")
LOOKAHEAD = timedelta(days=60)  # dividends are processed on their payable date, weeks later
MAX_CSV_BYTES = 20_000_000
RebuildFn = Callable[[list[str]], str]
"""Queue a feature rebuild of the symbols; returns the job id."""


@dataclass(slots=True)
class ActionUpdate:
    """What recording a batch of actions did downstream."""

    recorded: RecordResult
    stale_symbols: list[str] = field(default_factory=list)
    marks: StaleMarks = field(default_factory=StaleMarks)
    rebuild_job: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "new": len(self.recorded.new),
            "changed": len(self.recorded.changed),
            "unchanged": self.recorded.unchanged,
            "stale_symbols": self.stale_symbols,
            "stale_models": self.marks.models,
            "stale_simulations": self.marks.simulations,
            "rebuild_job": self.rebuild_job,
        }


class CorporateActionService:
    """Corporate actions over the state store, adjusting bars read from the lake."""

    def __init__(
        self,
        state: StateStore,
        lake: ParquetLake,
        calendar: TradingCalendar,
        clock: Clock,
        price_adjustment: str = "split",
        rebuild: RebuildFn | None = None,
    ) -> None:
        self.state = state
        self.lake = lake
        self.calendar = calendar
        self.clock = clock
        self.price_adjustment = price_adjustment
        self.rebuild = rebuild
        self.repo = CorporateActionRepo(state)

    # ---- reading -----------------------------------------------------------------------------
    def actions(self, symbol: str) -> list[CorporateAction]:
        """Stored actions of ``symbol`` by ex-date (InvalidInput for a malformed symbol)."""
        return self.repo.for_symbol(normalize_symbol(symbol))

    def as_of(self) -> date:
        """Today in New York: actions with a later ex-date are not applied yet."""
        return self.clock.now().astimezone(NEW_YORK).date()

    def split_steps(self, symbol: str) -> list[AdjustmentStep]:
        """The effective splits of ``symbol`` as adjustment steps (what features read)."""
        chosen = applicable(self.repo.for_symbol(symbol), "split", self.as_of())
        return [split_step(a) for a in chosen]

    def steps(
        self, symbol: str, adjustment: str, after_us: int | None = None
    ) -> list[AdjustmentStep]:
        """Adjustment steps of ``symbol`` for ``adjustment``, skipping actions whose ex-date
        cutoff is at or before ``after_us`` (they touch no bar from there on)."""
        if adjustment == "raw":
            return []
        out: list[AdjustmentStep] = []
        names: list[str] | None = None
        for action in applicable(self.repo.for_symbol(symbol), adjustment, self.as_of()):
            cutoff = ex_cutoff_us(action.ex_date)
            if after_us is not None and cutoff <= after_us:
                continue
            if action.is_split:
                out.append(split_step(action))
                continue
            if names is None:
                names = self.lake.partition_names(symbol)
            close = self.previous_close(symbol, action.ex_date, names)
            factor = dividend_factor(action.cash or 0.0, close) if close is not None else None
            if factor is None:
                log.warning(
                    "cash dividend not applied: no usable close before the ex-date",
                    extra={"symbol": symbol, "ex_date": action.ex_date.isoformat()},
                )
                continue
            out.append(AdjustmentStep(cutoff, factor, 1.0, action.ex_date))
        return out

    def adjust(self, symbol: str, adjustment: str, bars: pa.Table) -> pa.Table:
        """``bars`` (raw, ascending ``ts``) adjusted for ``adjustment``; see
        :mod:`stockdb.corporate.adjust` for the factors."""
        if adjustment == "raw" or bars.num_rows == 0:
            return bars
        first = int(bars.column("ts").cast(pa.int64())[0].as_py())
        return adjust_table(bars, self.steps(symbol, adjustment, first))

    def previous_close(
        self, symbol: str, ex_date: date, names: list[str] | None = None
    ) -> float | None:
        """The raw close before ``ex_date``: the last 1-min bar that starts before the regular
        close of the last stored session before ``ex_date`` (None when none is stored).
        ``names`` is the symbol's sorted ``dt=`` listing, when the caller already has it."""
        listing = self.lake.partition_names(symbol) if names is None else names
        i = bisect.bisect_left(listing, f"dt={ex_date.isoformat()}")
        stored = self.lake.existing(symbol, listing[max(0, i - 3) : i])
        if not stored:
            return None
        day, path = stored[-1]
        try:
            table = pq.read_table(path, columns=["ts", "close"])
        except (OSError, pa.ArrowException) as exc:
            raise self.lake.report_damaged(path, str(exc)) from exc
        if table.num_rows == 0:
            return None
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        close = table.column("close").to_numpy()
        try:
            regular_close = int(self.calendar.session(day).close.timestamp()) * 1_000_000
        except InvalidInput:
            regular_close = int(ts[-1]) + 1
        inside = np.flatnonzero(ts < regular_close)
        return float(close[inside[-1]] if inside.size else close[-1])

    # ---- recording ---------------------------------------------------------------------------
    def record(
        self, actions: Iterable[CorporateAction], due: Sequence[CorporateAction] = ()
    ) -> ActionUpdate:
        """Store ``actions``; for the new or changed ones (and ``due``: stored actions that
        just became effective) that alter the feature set's prices, mark models and
        simulations stale and queue a feature rebuild of the symbols that have features."""
        recorded = self.repo.record(actions, self.clock.now())
        update = ActionUpdate(recorded)
        relevant = [a for a in [*recorded.fresh, *due] if adjusts_for(self.price_adjustment, a)]
        symbols = sorted({a.symbol for a in relevant})
        if recorded.fresh:
            log.info(
                "corporate actions recorded",
                extra={
                    "stage": "actions",
                    "new": [f"{a.symbol} {a.ex_date} {a.describe()}" for a in recorded.new][:50],
                    "changed": len(recorded.changed),
                },
            )
        if not symbols:
            return update
        update.stale_symbols = symbols
        update.marks = mark_stale(self.state, symbols)
        targets = [s for s in symbols if has_feature_partitions(self.state, s)]
        if targets and self.rebuild is not None:
            update.rebuild_job = self.rebuild(targets)
        log.warning(
            "corporate action changes adjusted history: features, models and simulations stale",
            extra={
                "stage": "actions",
                "symbols": symbols,
                "models": update.marks.models,
                "simulations": len(update.marks.simulations),
                "rebuild_job": update.rebuild_job,
            },
        )
        return update

    def import_csv(self, path: Path) -> ActionUpdate:
        """Record every action in the CSV file ``path`` (see :mod:`stockdb.corporate.csvfile`).
        Raises InvalidInput for a missing, oversized or malformed file (nothing stored)."""
        try:
            if path.stat().st_size > MAX_CSV_BYTES:
                raise InvalidInput(f"{path} is larger than {MAX_CSV_BYTES // 1_000_000} MB")
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise InvalidInput(f"no such file: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read {path}: {exc}") from None
        return self.record(parse_actions_csv(text, source="file"))

    def sync(
        self,
        symbols: Sequence[str],
        source: ActionSource,
        start: date,
        end: date | None = None,
        include_due: bool = False,
    ) -> ActionUpdate:
        """Fetch actions of ``symbols`` from ``source`` for ``start..end`` (default: today plus
        :data:`LOOKAHEAD`, since a split years later still adjusts old bars) and record them.
        ``include_due`` also treats stored actions with today's ex-date as new (the daily run
        of the live agent). Raises the source's errors; nothing is recorded on failure."""
        names = normalize_symbols(symbols)
        today = self.as_of()
        last = end or today + LOOKAHEAD
        fetched = source.fetch_actions(names, start, max(start, last))
        stamped = [a.with_source(source.name, self.clock.now()) for a in fetched]
        due: list[CorporateAction] = []
        if include_due:
            stored = self.repo.for_symbols(names)
            due = [a for group in stored.values() for a in group if a.ex_date == today]
        return self.record(stamped, due)
