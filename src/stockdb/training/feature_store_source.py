"""Adapts the feature store to the :class:`~stockdb.training.dataset.FeatureSource` protocol."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from stockdb.errors import Conflict, NotFound
from stockdb.features.multiframe import available_from
from stockdb.features.service import BASE_TIMEFRAME, FeatureService, feature_timeframe
from stockdb.symbols import normalize_symbol
from stockdb.timeframes import parse_timeframe
from stockdb.training.dataset import AVAILABLE_COLUMN, FeatureFrame

__all__ = ["LEAD_PARTITIONS", "FeatureStoreSource"]

LEAD_PARTITIONS = 3
"""Higher-timeframe partitions read before ``start``: the first minutes of ``start`` see the
last bar closed before it (three, so a session with no regular-hours bar is bridged)."""


class FeatureStoreSource:
    """Training and simulation read stored feature rows through this, never half-built ones."""

    def __init__(self, features: FeatureService) -> None:
        self.features = features

    def load(
        self, symbol: str, start: date | None, end: date | None, timeframe: str = BASE_TIMEFRAME
    ) -> FeatureFrame:
        """Feature rows of ``symbol`` at ``timeframe`` for sessions ``start..end`` with the set
        hash that built them; a higher timeframe adds :data:`AVAILABLE_COLUMN` (when each
        row's bar has closed) and reads :data:`LEAD_PARTITIONS` partitions before ``start``.

        Raises InvalidInput for a timeframe features are not built at, NotFound when no
        features are stored, and Conflict when the stored partitions were built by another
        feature set than the one in force (rebuild them first), so a model never mixes rows
        of two definitions.
        """
        name = normalize_symbol(symbol)
        tf = feature_timeframe(timeframe)
        at = self.features.at(tf)
        build = f"stockdb features build {name}" + (
            "" if tf == BASE_TIMEFRAME else f" --timeframe {tf}"
        )
        stored_hash = at.store.set_hash(name)
        if stored_hash is None:
            raise NotFound(f"no {tf} features stored for {name}; run: {build}")
        current = at.feature_set.set_hash
        if stored_hash != current:
            raise Conflict(
                f"{tf} features of {name} were built by feature set {stored_hash[:12]}, not the "
                f"current {current[:12]}; run: {build}"
            )
        if tf == BASE_TIMEFRAME:
            return FeatureFrame(frame=self.features.read(name, start, end), set_hash=stored_hash)
        first = start
        if start is not None:
            before = at.layout.partitions(name, None, start - timedelta(days=1))
            if before:
                first = before[max(0, len(before) - LEAD_PARTITIONS)][0]
        frame = self.features.read(name, first, end, timeframe=tf)
        return FeatureFrame(frame=self._with_availability(frame, tf), set_hash=stored_hash)

    def _with_availability(self, frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
        ts = pd.to_datetime(frame["ts"], utc=True).dt.tz_localize(None).astype("datetime64[us]")
        us = ts.to_numpy().astype(np.int64)
        ready = available_from(us, parse_timeframe(timeframe), self.features.calendar)
        instants = ready.astype("datetime64[us]")
        instants[ready == np.iinfo(np.int64).max] = np.datetime64("NaT")
        available = pd.Series(instants, index=frame.index).dt.tz_localize("UTC")
        return frame.assign(**{AVAILABLE_COLUMN: available})
