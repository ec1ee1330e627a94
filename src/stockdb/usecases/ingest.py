"""Ingest as one operation for every entry point: the CLI, ``POST /ingest``, the Python
client, ``stockdb up`` and the ``ingest`` job handler all go through :class:`IngestService`.

It owns what used to differ between them:

- **the default range**: a missing ``end`` is the latest session that has begun (its extended
  hours opened), a missing ``start`` the session :data:`DEFAULT_SESSIONS` - 1 before it, so
  no dates means *the latest five sessions* everywhere;
- **the synthetic-data notice**, logged and handed to the caller before anything is fetched;
- **the provider's lifetime**: opened for the run, closed after it whatever happens;
- **the corporate-action sync** of the symbols that got bars, from ``start`` on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from stockdb.corporate.sync import sync_actions
from stockdb.dates import parse_date
from stockdb.errors import InvalidInput
from stockdb.ingest.backfill import IngestSummary, ProgressFn, plan_sessions
from stockdb.jsonsafe import json_safe
from stockdb.symbols import normalize_symbols

if TYPE_CHECKING:
    from stockdb.app import App
    from stockdb.calendar import TradingCalendar
    from stockdb.jobs.records import JobRecord
    from stockdb.jobs.service import JobService

__all__ = ["DEFAULT_SESSIONS", "IngestOutcome", "IngestRequest", "IngestService", "default_range"]

DEFAULT_SESSIONS = 5  # an ingest without dates: the latest five sessions
log = logging.getLogger("stockdb.ingest")


def default_range(
    calendar: TradingCalendar,
    now: datetime,
    start: date | None,
    end: date | None,
    sessions: int = DEFAULT_SESSIONS,
) -> tuple[date, date]:
    """Fill a missing end with the latest session begun by ``now`` and a missing start with
    the session ``sessions`` - 1 before the end; InvalidInput when start > end."""
    if end is None:
        end = calendar.session_date_of(now)
    if end is None:  # outside extended hours: the latest session that has begun
        latest = calendar.latest_session_on_or_before(now.date())
        if latest.extended_open > now:
            latest = calendar.previous_session(latest.date)
        end = latest.date
    if start is None:
        start = calendar.latest_session_on_or_before(end).date
        for _ in range(sessions - 1):
            start = calendar.previous_session(start).date
    if start > end:
        raise InvalidInput(f"start {start} is after end {end}")
    return start, end


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """A validated ingest: symbols, session dates (inclusive), the resolved provider name and
    how many sessions of the range have begun."""

    symbols: tuple[str, ...]
    start: date
    end: date
    provider: str
    sessions: int
    replace: bool = False


@dataclass(slots=True)
class IngestOutcome:
    """What an ingest did: the backfill summary, the corporate-action sync report (``error``
    when it failed, which never fails the ingest) and the synthetic notice, if any."""

    summary: IngestSummary
    actions: dict[str, Any] = field(default_factory=dict)
    actions_s: float = 0.0
    notice: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body = dict(json_safe(self.summary.to_dict()))
        body["corporate_actions"] = self.actions
        body["corporate_actions_s"] = self.actions_s
        body["notice"] = self.notice
        return body


class IngestService:
    """Validates, runs or queues ingests over one App."""

    def __init__(self, app: App) -> None:
        self.app = app

    def request(
        self,
        symbols: str | Sequence[str],
        start: str | date | None = None,
        end: str | date | None = None,
        provider: str | None = None,
        replace: bool = False,
        latest: int = DEFAULT_SESSIONS,
    ) -> IngestRequest:
        """Validate everything before anything is fetched or queued: symbols, dates (the
        default range, the ``latest`` sessions, fills what is missing), a range with begun
        sessions, and the provider (InvalidInput / ConfigError, e.g. alpaca without keys)."""
        names = normalize_symbols([symbols] if isinstance(symbols, str) else list(symbols))
        first, last = parse_date(start, "start"), parse_date(end, "end")
        now = self.app.clock.now()
        first, last = default_range(self.app.calendar, now, first, last, latest)
        sessions = plan_sessions(self.app.calendar, now, first, last)
        source = self.app.provider(provider)
        try:
            name = source.name
        finally:
            source.close()
        return IngestRequest(tuple(names), first, last, name, len(sessions), replace)

    def notice(self, request: IngestRequest) -> str | None:
        """The loud line an ingest on synthetic data announces (None for real data)."""
        return self.app.provider_notice(request.provider)

    def run(
        self,
        request: IngestRequest,
        progress: ProgressFn | None = None,
        should_stop: Callable[[], bool] | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> IngestOutcome:
        """Fetch and store the bars now, then sync the corporate actions of the symbols that
        got bars. ``announce`` receives the synthetic notice before the first request."""
        notice = self.notice(request)
        if notice and announce is not None:
            announce(notice)  # said once, by the caller (the CLI's warning line)
            log.info(notice, extra={"stage": "ingest"})
        elif notice:
            log.warning(notice, extra={"stage": "ingest"})
        names = list(request.symbols)
        source = self.app.provider(request.provider)
        try:
            summary = self.app.backfill.run(
                names,
                request.start,
                request.end,
                source,
                progress=progress,
                replace=request.replace,
                should_stop=should_stop,
            )
        finally:
            source.close()
        outcome = IngestOutcome(summary, notice=notice)
        served = [name for name in names if name not in summary.no_data]
        if served:
            began = time.monotonic()
            outcome.actions = sync_actions(self.app, served, request.start, request.provider)
            outcome.actions_s = round(time.monotonic() - began, 4)
        return outcome

    def submit(self, jobs: JobService, request: IngestRequest) -> JobRecord:
        """Queue the request as one ingest job (the same request while that job is queued or
        running answers the same job); the job runs :meth:`run`."""
        return jobs.submit_ingest(
            list(request.symbols), request.start, request.end, request.provider, request.replace
        )
