"""Adapts the feature store to the :class:`~stockdb.training.dataset.FeatureSource` protocol."""

from __future__ import annotations

from datetime import date

from stockdb.errors import Conflict, NotFound
from stockdb.features.service import FeatureService
from stockdb.training.dataset import FeatureFrame

__all__ = ["FeatureStoreSource"]


class FeatureStoreSource:
    """Training and simulation read stored feature rows through this, never half-built ones."""

    def __init__(self, features: FeatureService) -> None:
        self.features = features

    def load(self, symbol: str, start: date | None, end: date | None) -> FeatureFrame:
        """Feature rows of ``symbol`` for sessions ``start..end`` with the set hash that built them.

        Raises NotFound when no features are stored, and Conflict when the stored partitions
        were built by another feature set than the one in force (rebuild them first), so a
        model never mixes rows of two definitions.
        """
        stored_hash = self.features.store.set_hash(symbol)
        if stored_hash is None:
            raise NotFound(f"no features stored for {symbol}; run: stockdb features build {symbol}")
        if stored_hash != self.features.set_hash:
            raise Conflict(
                f"features of {symbol} were built by feature set {stored_hash[:12]}, not the "
                f"current {self.features.set_hash[:12]}; run: stockdb features build {symbol}"
            )
        frame = self.features.read(symbol, start, end)
        return FeatureFrame(frame=frame, set_hash=stored_hash)
