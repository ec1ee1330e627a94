"""The composition root: builds the calendar, lake, state store, providers and services.

Nothing is created at import; each part is built on first use, so a command that fails
validation touches nothing on disk. CLI, API, jobs and the Python API all start here.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from stockdb.calendar import TradingCalendar
from stockdb.clock import Clock, SystemClock
from stockdb.config import Settings
from stockdb.errors import ConfigError, InvalidInput

if TYPE_CHECKING:  # imported where built, so a command loads only the parts it uses
    import httpx
    import pyarrow as pa

    from stockdb.corporate.service import CorporateActionService
    from stockdb.features.definitions import FeatureSet
    from stockdb.features.service import FeatureService
    from stockdb.ingest.backfill import BackfillService
    from stockdb.jobs.service import JobService
    from stockdb.lake.locks import SymbolLocks
    from stockdb.lake.parquet_lake import ParquetLake
    from stockdb.lake.reader import BarReader
    from stockdb.lake.verify import Verifier
    from stockdb.providers.base import BarSource
    from stockdb.providers.corporate_actions import ActionSource
    from stockdb.providers.retry import RetryPolicy
    from stockdb.providers.throttle import RequestPacer
    from stockdb.simulation.service import SimulationService
    from stockdb.state.coverage import CoverageRepo
    from stockdb.state.ledger import PartitionLedger
    from stockdb.state.store import StateStore
    from stockdb.training.service import TrainingService
    from stockdb.usecases.ingest import IngestService

__all__ = ["INJECTABLE", "PROVIDERS", "App"]

PROVIDERS = ("synthetic", "alpaca")
# The parts of an App a job handler may ask for by naming a keyword-only parameter.
INJECTABLE = frozenset(
    {
        "settings",
        "clock",
        "calendar",
        "state",
        "coverage",
        "lake",
        "reader",
        "ledger",
        "verifier",
        "corporate",
        "features",
        "training",
        "simulation",
        "backfill",
        "ingest",
        "jobs",
    }
)
log = logging.getLogger("stockdb.app")

IEX_CLOUD_GONE = (
    "IEX Cloud shut down on 2024-08-31, so IEX_TOKEN is not used; stockdb reads IEX-exchange "
    "bars through Alpaca instead (set ALPACA_API_KEY_ID/ALPACA_API_SECRET_KEY and ALPACA_FEED=iex)"
)


ProviderFactory = Callable[[], "BarSource"]
"""Builds a fresh bar source (the caller closes it)."""


class App:
    """Every long-lived object of one stockdb process, built lazily from ``settings``.

    The only place objects are wired: services get the App's clock, calendar, state store and
    writer locks passed in. Tests replace parts with the keyword overrides: ``clock``,
    ``calendar`` (the session-wide one is slow to build) and ``providers`` (bar source
    factories by provider name, used in place of the built-in ones).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        clock: Clock | None = None,
        *,
        calendar: TradingCalendar | None = None,
        providers: Mapping[str, ProviderFactory] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.clock: Clock = clock or SystemClock()
        self._calendar = calendar
        self._providers: dict[str, ProviderFactory] = {
            k.lower(): v for k, v in (providers or {}).items()
        }

    @cached_property
    def calendar(self) -> TradingCalendar:
        return self._calendar or TradingCalendar()

    @cached_property
    def lake(self) -> ParquetLake:
        """The bars lake; writer locks live in the state store when workers span hosts."""
        from stockdb.lake.parquet_lake import ParquetLake

        return ParquetLake(
            self.settings.parquet_dir,
            self.writer_locks,
            ledger=self.ledger,
            clock=self.clock,
            quarantine_root=self.settings.data_dir / "quarantine",
            calendar=self.calendar,  # the rollups share the App's schedule (loaded once)
        )

    @cached_property
    def writer_locks(self) -> SymbolLocks:
        """Per-symbol bar writer locks: in the state store when workers span hosts, else
        ``fcntl`` files under ``{data_dir}/locks``."""
        from stockdb.lake.locks import FileSymbolLocks

        if self.settings.writers_span_hosts:
            from stockdb.lake.shared_locks import make_symbol_locks

            return make_symbol_locks(self.state, self.clock)
        return FileSymbolLocks(self.settings.data_dir / "locks")

    @cached_property
    def feature_locks(self) -> SymbolLocks:
        """Per-symbol feature writer locks, shared across hosts like :attr:`writer_locks`
        (under their own names, so a feature build never waits on a bar write)."""
        from stockdb.lake.locks import FileSymbolLocks, NamespacedLocks

        if self.settings.writers_span_hosts:
            return NamespacedLocks(self.writer_locks, "f/")
        return FileSymbolLocks(self.settings.data_dir / "locks" / "features")

    @cached_property
    def verifier(self) -> Verifier:
        """Checks (and repairs) every partition against the ledger (``stockdb verify``)."""
        from stockdb.lake.verify import Verifier

        return Verifier(
            self.lake,
            self.settings.features_dir,
            self.ledger,
            self.coverage,
            self.settings.data_dir,
        )

    @cached_property
    def ledger(self) -> PartitionLedger:
        """Row counts and checksums of every partition file (``stockdb verify``)."""
        from stockdb.state.ledger import PartitionLedger

        return PartitionLedger(lambda: self.state)

    @cached_property
    def state(self) -> StateStore:
        from stockdb.state.store import StateStore

        store = StateStore(self.settings.state_database_url, self.clock)
        store.migrate()
        return store

    @cached_property
    def coverage(self) -> CoverageRepo:
        from stockdb.state.coverage import CoverageRepo

        return CoverageRepo(self.state)

    @cached_property
    def reader(self) -> BarReader:
        from stockdb.lake.reader import BarReader

        return BarReader(
            self.lake,
            self.calendar,
            memory_limit=self.settings.duckdb_memory_limit,
            threads=self.settings.duckdb_threads,
            adjuster=self._adjust_bars,
        )

    def _adjust_bars(self, symbol: str, adjustment: str, bars: pa.Table) -> pa.Table:
        return self.corporate.adjust(symbol, adjustment, bars)

    @cached_property
    def corporate(self) -> CorporateActionService:
        """Corporate actions: listing, import, fetch, adjustment on read, staleness."""
        from stockdb.corporate.service import CorporateActionService

        # price_adjustment "split": what the default feature set reads (FeatureSet default)
        return CorporateActionService(
            self.state, self.lake, self.calendar, self.clock, "split", self._queue_rebuild
        )

    def _queue_rebuild(self, symbols: list[str]) -> str:
        return self.jobs.submit_feature_build(symbols).id

    @cached_property
    def jobs(self) -> JobService:
        """Submitting, listing and cancelling jobs (the queue and the jobs table)."""
        from stockdb.jobs.service import JobService

        return JobService(self)

    def worker_jobs(
        self,
        *,
        worker_id: str,
        job_heartbeat_s: float,
        retry: RetryPolicy | None,
        control_every_s: float,
        isolate_cpu: bool,
    ) -> JobService:
        """The JobService a worker process runs jobs with: its own id, heartbeat period, retry
        policy and control polling (``jobs`` is the one that only submits and lists)."""
        from stockdb.jobs.service import JobService

        return JobService(
            self,
            worker_id=worker_id,
            job_heartbeat_s=job_heartbeat_s,
            retry=retry,
            control_every_s=control_every_s,
            isolate_cpu=isolate_cpu,
        )

    def action_source(self, name: str | None = None) -> ActionSource:
        """The corporate-action source matching the bar provider ``name`` (same default)."""
        chosen = (name or self.default_provider).lower()
        if chosen == "synthetic":
            from stockdb.corporate.synthetic import SyntheticActionSource

            return SyntheticActionSource()
        from stockdb.providers.alpaca import AlpacaProvider
        from stockdb.providers.corporate_actions import AlpacaActionSource

        provider = self.provider(chosen)
        if not isinstance(provider, AlpacaProvider):
            provider.close()
            raise InvalidInput(f"provider {chosen!r} has no corporate actions")
        return AlpacaActionSource(provider)

    @cached_property
    def features(self) -> FeatureService:
        """The versioned feature store (builds, status, reads)."""
        return self.feature_service()

    def feature_service(
        self, feature_set: FeatureSet | None = None, settings: Settings | None = None
    ) -> FeatureService:
        """A feature service wired to this App (clock, corporate actions, shared writer
        locks); ``feature_set``/``settings`` replace the defaults (tests, benchmarks)."""
        from stockdb.features.service import FeatureService

        return FeatureService(
            settings or self.settings,
            self.calendar,
            self.lake,
            self.state,
            feature_set,
            clock=self.clock,
            locks=self.feature_locks,
            actions=self.corporate,
        )

    @cached_property
    def training(self) -> TrainingService:
        """Model training over stored features, with the model registry."""
        from stockdb.training.feature_store_source import FeatureStoreSource
        from stockdb.training.service import TrainingService

        return TrainingService(self.settings, self.state, FeatureStoreSource(self.features))

    @cached_property
    def simulation(self) -> SimulationService:
        """Backtests of registered models against buy-and-hold."""
        from stockdb.simulation.service import SimulationService
        from stockdb.simulation.store import SimulationStore
        from stockdb.training.feature_store_source import FeatureStoreSource

        return SimulationService(
            self.settings,
            self.state,
            FeatureStoreSource(self.features),
            self.training.registry,
            SimulationStore(self.state, self.settings.simulations_dir),
        )

    @cached_property
    def backfill(self) -> BackfillService:
        from stockdb.ingest.backfill import BackfillService

        return BackfillService(self.lake, self.coverage, self.calendar, self.clock)

    @cached_property
    def ingest(self) -> IngestService:
        """Ingest as every entry point runs it (defaults, notice, provider, action sync)."""
        from stockdb.usecases.ingest import IngestService

        return IngestService(self)

    @cached_property
    def http_client(self) -> httpx.Client:
        """One pooled HTTP client for every Alpaca call of this process (keeps connections
        alive across jobs; creating a client per job costs milliseconds of TLS setup)."""
        import httpx

        return httpx.Client(timeout=self.settings.alpaca_timeout_s)

    @cached_property
    def rate_limiter(self) -> RequestPacer:
        """The Alpaca rate limiter of this process: one budget in Redis (Redis queue) or
        PostgreSQL (PostgreSQL state) shared by every worker, else in-process."""
        from stockdb.providers.shared_limit import make_rate_limiter

        return make_rate_limiter(self.settings, self.clock, lambda: self.state)

    @property
    def default_provider(self) -> str:
        return "alpaca" if self.settings.has_alpaca_keys else "synthetic"

    def provider_notice(self, name: str) -> str | None:
        """The loud line every ingest prints when it runs on synthetic data."""
        if name == "synthetic":
            return (
                "no Alpaca keys set: using SYNTHETIC data (set ALPACA_API_KEY_ID and "
                "ALPACA_API_SECRET_KEY for real bars)"
                if not self.settings.has_alpaca_keys
                else "using SYNTHETIC data as requested"
            )
        return None

    def provider(self, name: str | None = None) -> BarSource:
        """A bar source by name (default: Alpaca when keys are set, else synthetic)."""
        chosen = (name or self.default_provider).lower()
        if chosen in self._providers:
            return self._providers[chosen]()
        if chosen == "iex":
            raise ConfigError(IEX_CLOUD_GONE)
        if chosen not in PROVIDERS:
            raise InvalidInput(f"unknown provider {name!r}: use one of {', '.join(PROVIDERS)}")
        if chosen == "synthetic":
            from stockdb.providers.synthetic import SyntheticProvider

            return SyntheticProvider(self.calendar, self.clock)
        placeholder = self.settings.placeholder_key_problem()
        if placeholder:
            raise ConfigError(placeholder)
        if not self.settings.has_alpaca_keys:
            raise ConfigError(
                "the alpaca provider needs ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY "
                "(or ALPACA_KEY_ID / ALPACA_SECRET_KEY) in the environment or .env"
            )
        from stockdb.providers.alpaca import AlpacaProvider

        return AlpacaProvider(
            self.settings, limiter=self.rate_limiter, client=self.http_client, clock=self.clock
        )

    def bind(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """``handler`` with the parts of this App it declares injected (cosmicpython's
        ``bootstrap.py``): a handler ``fn(params, progress, should_stop, *, features, jobs)``
        gets ``self.features`` and ``self.jobs``; one with four positional parameters
        ``fn(app, params, progress, should_stop)`` gets the App itself first. Parts are built
        when the bound handler runs. ConfigError names a part the App does not have."""
        signature = inspect.signature(handler)
        positional = [
            p
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        wanted = [p.name for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY]
        unknown = sorted(set(wanted) - INJECTABLE)
        if unknown:
            raise ConfigError(
                f"handler {getattr(handler, '__name__', handler)!r} asks for "
                f"{', '.join(unknown)}, which the App does not provide"
            )
        lead = (self,) if len(positional) == 4 else ()

        def bound(*args: Any) -> Any:
            return handler(*lead, *args, **{name: getattr(self, name) for name in wanted})

        return bound

    def close(self) -> None:
        """Release connections (DuckDB, SQL engine, queue wake-up listeners)."""
        if "jobs" in self.__dict__ and "queue" in self.jobs.__dict__:
            self.jobs.queue.close()
        if "reader" in self.__dict__:
            self.reader.close()
        if "features" in self.__dict__:
            self.features.close()
        if "state" in self.__dict__:
            self.state.dispose()
        if "http_client" in self.__dict__:
            self.http_client.close()
        if "rate_limiter" in self.__dict__:
            self.rate_limiter.close()
