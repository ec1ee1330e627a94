"""Operations every entry point shares: agent switches and their derived state, train,
simulate and rollup-rebuild submissions, tracked symbols and coverage reports.

The API routes and CLI commands call these and only shape the answer; the rules live here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from stockdb.dates import parse_date
from stockdb.errors import InvalidInput, NotFound
from stockdb.jobs.controls import AGENTS, check_agent
from stockdb.symbols import normalize_symbol, normalize_symbols

if TYPE_CHECKING:
    from stockdb.app import App
    from stockdb.ingest.gaps import GapRow
    from stockdb.jobs.records import JobRecord
    from stockdb.jobs.service import JobService

__all__ = [
    "Operations",
    "agent_state",
    "agents_view",
    "gap_rows",
    "rebuild_rollups",
    "request_key",
    "rollup_symbols",
]


def request_key(kind: str, params: Mapping[str, Any]) -> str:
    """The dedupe key of a train or simulate request: its kind and a hash of its body."""
    body = json.dumps(dict(params), sort_keys=True, default=str).encode()
    return f"{kind}:{hashlib.sha256(body).hexdigest()[:40]}"


def agent_state(enabled: bool, workers: Sequence[Mapping[str, Any]]) -> str:
    """stopped (switched off), absent (no worker), stalled (every worker stalled), working
    (a live worker is busy), or the first live worker's own state."""
    if not enabled:
        return "stopped"
    if not workers:
        return "absent"
    live = [b for b in workers if not b["stalled"]]
    if not live:
        return "stalled"
    return "working" if any(b["state"] == "working" for b in live) else str(live[0]["state"])


def agents_view(status: Mapping[str, Any]) -> dict[str, Any]:
    """Reshape JobService.status() into one entry per agent with its workers' heartbeats."""
    controls: dict[str, bool] = status.get("controls", {})
    beats: list[dict[str, Any]] = status.get("agents", [])
    names = list(AGENTS) + sorted({b["agent"] for b in beats} - set(AGENTS))
    agents = []
    for name in names:
        workers = [b for b in beats if b["agent"] == name]
        enabled = controls.get(name, True)
        agents.append(
            {
                "name": name,
                "enabled": enabled,
                "state": agent_state(enabled, workers),
                "stalled": bool(workers) and all(b["stalled"] for b in workers),
                "workers": workers,
            }
        )
    return {
        "now": status["now"],
        "agents": agents,
        "alerts": status.get("alerts", []),
        "queue": status.get("queue", {}),
        "running": status.get("running", []),
    }


def gap_rows(
    app: App,
    symbol: str,
    start: str | date | None = None,
    end: str | date | None = None,
    only_gaps: bool = False,
) -> list[GapRow]:
    """Expected sessions of ``symbol`` in ``[start, end]`` with their coverage status
    (``only_gaps`` hides complete ones); InvalidInput when start > end."""
    from stockdb.ingest.gaps import gap_report
    from stockdb.state.coverage import CoverageStatus

    name = normalize_symbol(symbol)
    first, last = parse_date(start, "start"), parse_date(end, "end")
    if first is not None and last is not None and first > last:
        raise InvalidInput(f"start {first} is after end {last}")
    rows = gap_report(app.calendar, app.coverage, name, first, last, app.clock.now())
    return [r for r in rows if not only_gaps or r.status is not CoverageStatus.COMPLETE]


def rollup_symbols(
    app: App, symbols: Sequence[str] | None, universe: str | None = None
) -> list[str]:
    """The symbols a rollup rebuild names: a ``universe``'s members followed by ``symbols``,
    else ``symbols`` validated; empty for every stored symbol. InvalidInput for a malformed
    symbol, NotFound for an unknown universe."""
    if universe is not None:
        from stockdb.usecases.universe import UniverseService

        return UniverseService(app).resolve(symbols, universe)
    return normalize_symbols(symbols) if symbols else []


def rebuild_rollups(
    app: App,
    symbols: Sequence[str] | None = None,
    universe: str | None = None,
    workers: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[list[str], int]:
    """Derive the rollup files of the symbols :func:`rollup_symbols` names (every stored one
    when none) again from their minute partitions, on ``workers`` processes (default: every
    core from eight symbols on); returns the symbols and the number of files written.
    NotFound, before anything is written, naming every symbol without stored bars."""
    from stockdb.clock import SystemClock
    from stockdb.lake.rollup_rebuild import rebuild_rollups as rebuild

    names = rollup_symbols(app, symbols, universe) or app.lake.symbols()
    files = rebuild(
        app.lake,
        app.settings,
        names,
        workers=workers,
        progress=progress,
        in_workers=isinstance(app.clock, SystemClock),  # a test's clock: the lake it wires
    )
    return names, files


class Operations:
    """Agent control, job submissions and tracking over one App and its JobService."""

    def __init__(self, app: App, jobs: JobService) -> None:
        self.app = app
        self.jobs = jobs

    # ---- agents ----------------------------------------------------------------------------
    def agents(self) -> dict[str, Any]:
        """Every agent with its switch, derived state and workers; alerts, queue, running."""
        return agents_view(self.jobs.status())

    def set_agent(self, name: str, enabled: bool) -> dict[str, Any]:
        """Switch agent ``name`` on or off (persisted); switching on dispatches the jobs that
        were parked while it was off. InvalidInput for an unknown agent."""
        agent = check_agent(name)
        self.jobs.controls.set(agent, enabled)
        dispatched = self.jobs.recover()["dispatched"] if enabled else 0
        return {"name": agent, "enabled": enabled, "dispatched": dispatched}

    # ---- train and simulate ----------------------------------------------------------------
    def submit_train(self, params: Mapping[str, Any]) -> JobRecord:
        """Validate a training request (bad input and tickers without stored features are
        refused now, not when a worker picks it up) and queue it, deduplicated by its body."""
        from stockdb.training.requests import train_request

        params = self.with_universe(params, "tickers")
        request = train_request(dict(params))
        for ticker in request.tickers:
            if self.app.features.store.set_hash(ticker) is None:
                raise NotFound(f"no features stored for {ticker}; rebuild features for it first")
        return self.jobs.submit("train", request_key("train", params), params)

    def submit_simulate(self, params: Mapping[str, Any]) -> JobRecord:
        """Validate a backtest request (the model must exist; out of sample unless
        ``in_sample``: see SimulationService.preflight) and queue it, deduplicated."""
        from stockdb.training.requests import portfolio_symbols, simulation_request

        params = self.with_universe(params, "symbols")
        portfolio_symbols(params)  # a bad list is refused now, not by the worker
        self.app.simulation.preflight(simulation_request(dict(params)))
        return self.jobs.submit("simulate", request_key("simulate", params), params)

    # ---- rollups ---------------------------------------------------------------------------
    def submit_rollups_rebuild(
        self, symbols: Sequence[str] | None = None, universe: str | None = None
    ) -> JobRecord:
        """Queue one rebuild of the rollups of ``symbols`` (after a ``universe``'s members,
        when given; every stored symbol when neither), deduplicated by its symbols. Refused
        now, not by the worker: InvalidInput for a malformed symbol, NotFound naming every
        symbol without stored bars (or for an unknown universe)."""
        names = rollup_symbols(self.app, symbols, universe)
        stored = set(self.app.lake.symbols())
        missing = [s for s in names if s not in stored]
        if missing:
            raise NotFound(f"no bars stored for {', '.join(missing)}")
        if not names and not stored:
            raise NotFound("no symbols with bars to rebuild rollups for")
        key = f"rollups:{','.join(sorted(names)) or '*'}"
        return self.jobs.submit("rollups", key, {"symbols": names})

    def with_universe(self, params: Mapping[str, Any], key: str) -> dict[str, Any]:
        """``params`` with its ``universe`` replaced by that universe's members (followed by
        any symbols already under ``key``), so the job, its dedupe key and its record name
        the symbols it ran on. NotFound for an unknown universe."""
        out = dict(params)
        universe = out.pop("universe", None)
        if universe is None:
            return out
        from stockdb.usecases.universe import UniverseService

        out[key] = UniverseService(self.app).resolve(out.get(key), str(universe))
        return out

    # ---- tracking --------------------------------------------------------------------------
    def track(
        self, symbols: Sequence[str] | None, tracked: bool = True, universe: str | None = None
    ) -> tuple[list[str], list[str]]:
        """Mark ``symbols`` (after a ``universe``'s members, when given) tracked (or not) by
        the live agent; tracking a symbol not yet known registers it under the default
        provider and feed. Returns the symbols changed and every tracked symbol.
        InvalidInput when untracking a symbol that is not known or when none is given."""
        from stockdb.usecases.universe import UniverseService

        coverage = self.app.coverage
        if universe is not None:
            names = UniverseService(self.app).resolve(symbols, universe)
        else:
            names = normalize_symbols(symbols or [])
        if not names:
            raise InvalidInput("no symbol given")
        if tracked:
            provider = self.app.default_provider
            feed = "synthetic" if provider == "synthetic" else self.app.settings.alpaca_feed
            for name in names:
                if coverage.get_symbol(name) is None:
                    coverage.ensure_symbol(name, provider, feed)
        for name in names:
            if coverage.get_symbol(name) is None:
                raise InvalidInput(f"{name} is not a known symbol")
            coverage.set_tracked(name, tracked)
        return names, coverage.tracked_symbols()
