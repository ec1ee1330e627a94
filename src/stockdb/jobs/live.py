"""The live agent: keeps tracked symbols current during the extended session.

Each step (about once a minute in session):
1. catch-up and reconciliation: finished sessions recorded ``in_progress``, or missing after
   the symbol's last stored session, are fetched in full through the backfill service, which
   replaces an in-progress session once and records it complete;
2. the current session: one multi-symbol request per batch for the bars since each symbol's
   last stored bar (minus a minute, to pick up Alpaca's revision of the latest bar), written
   with ``mode="update"`` so revised bars replace, and recorded as ``in_progress``;
3. once a day (New York date): the tracked symbols' corporate actions of the last week and
   the announced ones, recorded through :mod:`stockdb.corporate` (a new split marks features,
   models and simulations stale and queues a feature rebuild).
Everything needed to resume lives in the lake and the coverage ledger, so a restart catches
up by itself. On Alpaca's SIP feed a free plan may not ask for the latest 15 minutes, so the
agent stays that far behind (and says so) unless told the plan is paid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pyarrow as pa

from stockdb.bars import BAR_SCHEMA
from stockdb.calendar import Session
from stockdb.errors import StockDBError
from stockdb.ingest.fetching import coverage_record, fetch_by_symbol
from stockdb.ingest.planning import split_by_session
from stockdb.jobs.runner import StepResult
from stockdb.lake.parquet_lake import Lineage
from stockdb.providers.base import BarSource
from stockdb.state.coverage import CoverageRecord, CoverageStatus

if TYPE_CHECKING:
    from stockdb.app import App

__all__ = ["SIP_FREE_DELAY", "LiveAgent", "live_delay"]

log = logging.getLogger("stockdb.live")
SIP_FREE_DELAY = timedelta(minutes=15)
_NEW_YORK = ZoneInfo("America/New_York")
_PUBLISH_MARGIN_S = 5.0  # Alpaca publishes a minute bar a few seconds after the minute


def live_delay(provider: BarSource, sip_realtime: bool = False) -> timedelta:
    """How far behind the market the agent must stay for ``provider``."""
    if provider.name == "alpaca" and provider.feed == "sip" and not sip_realtime:
        return SIP_FREE_DELAY
    return timedelta(0)


def _batches(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


class LiveAgent:
    """Fetches the newest bars of tracked symbols and reconciles finished sessions."""

    name = "live"

    def __init__(
        self,
        app: App,
        provider_factory: Callable[[], BarSource] | None = None,
        batch_size: int = 100,
        catchup_sessions: int = 10,
        lookback: timedelta = timedelta(minutes=1),
        sip_realtime: bool = False,
    ) -> None:
        self.app = app
        self.provider_factory = provider_factory or app.provider
        self.batch_size = batch_size
        self.catchup_sessions = catchup_sessions
        self.lookback = lookback
        self.sip_realtime = sip_realtime
        self._said_delay = False
        self._actions_day: date | None = None

    # ---- the step ----------------------------------------------------------------------------
    def run_once(self, now: datetime) -> StepResult:
        symbols = self.app.coverage.tracked_symbols()
        if not symbols:
            return StepResult("idle", "no tracked symbols (stockdb track SYMBOL)", next_in_s=60)
        provider = self.provider_factory()
        try:
            delay = live_delay(provider, self.sip_realtime)
            horizon = now - delay
            if delay and not self._said_delay:
                log.warning(
                    "feed=sip on a free plan: staying 15 minutes behind the market",
                    extra={"stage": "live"},
                )
                self._said_delay = True
            usable = self._usable(symbols, provider)
            reconciled = self._catch_up(usable, provider, horizon)
            self._daily_actions(usable, provider, now)
            day = self.app.calendar.session_date_of(horizon)
            session = self.app.calendar.session(day) if day is not None else None
            rows, lag = (0, None)
            if session is not None and usable:
                rows, lag = self._update(usable, provider, session, horizon, now)
        finally:
            provider.close()
        parts = [f"{len(usable)}/{len(symbols)} tracked symbol(s)"]
        if session is not None:
            parts.append(f"session {session.date}: {rows} new or revised bar(s)")
        else:
            parts.append("market closed")
        if reconciled:
            parts.append(f"reconciled {reconciled} session(s)")
        if delay:
            parts.append("feed=sip on a free plan: staying 15 minutes behind the market")
        if len(usable) < len(symbols):
            parts.append("skipped symbols holding another provider's bars (see logs)")
        return StepResult(
            "working" if session is not None else "idle",
            "; ".join(parts),
            next_in_s=self._next_in(now, horizon, session),
            lag_s=lag,
        )

    def _usable(self, symbols: list[str], provider: BarSource) -> list[str]:
        lineage = Lineage(provider.name, provider.feed)
        usable = []
        for symbol in symbols:
            try:
                self.app.lake.check_lineage(symbol, lineage)
                usable.append(symbol)
            except StockDBError as exc:
                log.error(str(exc), extra={"symbol": symbol, "stage": "live"})
        return usable

    def _next_in(self, now: datetime, horizon: datetime, session: Session | None) -> float:
        if session is not None:
            into_minute = now.second + now.microsecond / 1e6
            return max(1.0, 60.0 - into_minute + _PUBLISH_MARGIN_S)
        cal = self.app.calendar
        first = horizon.date() - timedelta(days=1)
        last = min(horizon.date() + timedelta(days=10), cal.last_session)
        upcoming = [s for s in cal.sessions(first, last) if s.extended_open > horizon]
        if not upcoming:
            return 3600.0
        wait = (upcoming[0].extended_open - horizon).total_seconds() + _PUBLISH_MARGIN_S
        return float(min(3600.0, max(5.0, wait)))

    # ---- corporate actions -------------------------------------------------------------------
    def _daily_actions(self, symbols: list[str], provider: BarSource, now: datetime) -> None:
        """Fetch recent and announced actions once per New York date; failures are logged
        and retried on the next step."""
        today = now.astimezone(_NEW_YORK).date()
        if not symbols or self._actions_day == today:
            return
        try:
            source = self.app.action_source(provider.name)
            try:
                update = self.app.corporate.sync(
                    symbols, source, today - timedelta(days=7), include_due=True
                )
            finally:
                source.close()
        except StockDBError as exc:
            log.warning(f"corporate actions not fetched: {exc}", extra={"stage": "actions"})
            return
        self._actions_day = today
        log.info("corporate actions checked", extra={"stage": "actions", **update.to_dict()})

    # ---- finished sessions -------------------------------------------------------------------
    def _catch_up(self, symbols: list[str], provider: BarSource, horizon: datetime) -> int:
        cal = self.app.calendar
        window = [
            s
            for s in cal.sessions(
                horizon.date() - timedelta(days=3 * self.catchup_sessions),
                min(horizon.date(), cal.last_session),
            )
            if s.extended_close <= horizon
        ][-self.catchup_sessions :]
        if not window:
            return 0
        groups: dict[tuple[date, date], list[str]] = {}
        for symbol in symbols:
            known = self.app.coverage.sessions(symbol, window[0].date, window[-1].date)
            last_known = max(known) if known else None
            needed = [
                s.date
                for s in window
                if (s.date in known and known[s.date].status is CoverageStatus.IN_PROGRESS)
                or (s.date not in known and last_known is not None and s.date > last_known)
            ]
            if needed:
                groups.setdefault((needed[0], needed[-1]), []).append(symbol)
        done = 0
        for (first, last), names in sorted(groups.items()):
            for batch in _batches(names, self.batch_size):
                try:
                    summary = self.app.backfill.run(batch, first, last, provider)
                except StockDBError as exc:
                    log.error(
                        f"reconciliation failed: {exc}",
                        extra={"stage": "reconcile", "symbols": batch},
                    )
                    continue
                done += summary.sessions_fetched
                log.info(
                    "reconciled finished sessions",
                    extra={
                        "stage": "reconcile",
                        "symbols": batch,
                        "first": first.isoformat(),
                        "last": last.isoformat(),
                        "complete": summary.sessions_complete,
                    },
                )
        return done

    # ---- the current session -----------------------------------------------------------------
    def _update(
        self,
        symbols: list[str],
        provider: BarSource,
        session: Session,
        horizon: datetime,
        now: datetime,
    ) -> tuple[int, float | None]:
        known = {s: self.app.coverage.sessions(s, session.date, session.date) for s in symbols}
        since: dict[str, datetime] = {}
        for symbol in symbols:
            record = known[symbol].get(session.date)
            last = record.last_ts if record is not None else None
            since[symbol] = (
                session.extended_open
                if last is None
                else max(session.extended_open, last - self.lookback)
            )
        written = 0
        lags: list[float] = []
        lineage = Lineage(provider.name, provider.feed)
        for batch in _batches(symbols, self.batch_size):
            lo = min(since[s] for s in batch)
            if lo >= horizon:
                continue
            fetched = fetch_by_symbol(provider, batch, lo, horizon)
            for symbol in batch:
                bars = fetched.get(symbol, BAR_SCHEMA.empty_table())
                stored_rows, last_ts = self._store(
                    symbol, session, bars, lineage, known[symbol].get(session.date), now
                )
                written += stored_rows
                if last_ts is not None:
                    lags.append((now - last_ts).total_seconds() - 60.0)
        return written, (max(0.0, max(lags)) if lags else None)

    def _store(
        self,
        symbol: str,
        session: Session,
        bars: pa.Table,
        lineage: Lineage,
        prior: CoverageRecord | None,
        now: datetime,
    ) -> tuple[int, datetime | None]:
        by_session = split_by_session(bars, self.app.calendar).by_session
        fresh = by_session.get(session.date)
        if fresh is None or fresh.num_rows == 0:
            if prior is None:
                self._record(symbol, session, BAR_SCHEMA.empty_table(), lineage, None, now)
            return 0, prior.last_ts if prior is not None else None
        with self.app.lake.writer(symbol):
            result = self.app.lake.write_session(symbol, session.date, fresh, lineage, "update")
            if result.changed or prior is None:
                self._record(symbol, session, result.table, lineage, prior, now)
        if result.changed:
            log.info(
                "live bars stored",
                extra={
                    "stage": "live",
                    "symbol": symbol,
                    "added": result.rows_added,
                    "revised": result.rows_replaced,
                },
            )
        ts = result.table.column("ts")
        last = ts[-1].as_py() if result.table.num_rows else None
        return result.rows_added + result.rows_replaced, last

    def _record(
        self,
        symbol: str,
        session: Session,
        stored: pa.Table,
        lineage: Lineage,
        prior: CoverageRecord | None,
        now: datetime,
    ) -> None:
        self.app.coverage.record(
            [
                coverage_record(
                    symbol,
                    session,
                    stored,
                    lineage,
                    CoverageStatus.IN_PROGRESS,
                    "session in progress",
                    prior.attempts if prior is not None else 1,
                    now,
                )
            ]
        )
