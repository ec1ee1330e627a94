"""The data-source protocol every provider implements, and its call statistics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pyarrow as pa

__all__ = ["BarSource", "ProviderStats"]


@dataclass(slots=True)
class ProviderStats:
    """Counters a provider keeps about its upstream calls (for summaries and metrics)."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    wait_s: float = 0.0
    rows: int = 0

    def snapshot(self) -> ProviderStats:
        return ProviderStats(self.requests, self.retries, self.rate_limited, self.wait_s, self.rows)

    def since(self, earlier: ProviderStats) -> ProviderStats:
        return ProviderStats(
            self.requests - earlier.requests,
            self.retries - earlier.retries,
            self.rate_limited - earlier.rate_limited,
            self.wait_s - earlier.wait_s,
            self.rows - earlier.rows,
        )


class BarSource(Protocol):
    """A source of 1-minute bars as Arrow tables with :data:`stockdb.bars.BAR_SCHEMA`."""

    name: str
    feed: str
    stats: ProviderStats

    def fetch_bars(
        self, symbols: Sequence[str], start: datetime, end: datetime
    ) -> Iterator[pa.Table]:
        """Yield pages of 1-minute bars of ``symbols`` with ``start <= ts < end`` (UTC).

        Pages may hold several symbols and a symbol may span pages. Raises the
        :mod:`stockdb.errors` tree (transient errors only after the provider's own retries).
        """
        ...

    def latest_bars(self, symbols: Sequence[str]) -> pa.Table:
        """The most recent 1-minute bar of each symbol (symbols without one are absent)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
