"""Time-ordered splits: train/validation/test by fractions or dates, and walk-forward folds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from stockdb.errors import InvalidInput

__all__ = [
    "Fold",
    "Segment",
    "Split",
    "split_by_dates",
    "split_by_fractions",
    "walk_forward",
]

SESSION_TZ = "America/New_York"


@dataclass(frozen=True)
class Segment:
    """Rows ``start`` (inclusive) to ``stop`` (exclusive) of the labelled data."""

    start: int
    stop: int

    @property
    def rows(self) -> int:
        return max(0, self.stop - self.start)

    def as_slice(self) -> slice:
        return slice(self.start, self.stop)


@dataclass(frozen=True)
class Split:
    """Consecutive train, validation and test segments; ``gap`` rows separate neighbours."""

    train: Segment
    validation: Segment
    test: Segment
    gap: int


@dataclass(frozen=True)
class Fold:
    """One walk-forward step: fit on ``train``, score on ``test`` (``gap`` rows later)."""

    train: Segment
    test: Segment


def _check_gap(gap: int) -> None:
    if gap < 0:
        raise InvalidInput(f"gap must not be negative, not {gap}")


def _chain(bounds: tuple[int, int, int], n_rows: int, gap: int) -> Split:
    """Train ``[0, a)``, validation ``[a+gap, b)``, test ``[b+gap, n)`` from the cut points."""
    a, b, n = bounds
    train = Segment(0, a)
    validation = Segment(min(a + gap, b), b) if b > a else Segment(a, a)
    test = Segment(min(b + gap, n), n) if n > b else Segment(n, n)
    if train.rows == 0:
        raise InvalidInput(f"the training window is empty ({n_rows} labelled rows)")
    if test.rows == 0:
        raise InvalidInput(f"the test window is empty ({n_rows} labelled rows, gap {gap})")
    return Split(train=train, validation=validation, test=test, gap=gap)


def split_by_fractions(
    n_rows: int, train: float = 0.7, validation: float = 0.15, gap: int = 1
) -> Split:
    """Cut ``n_rows`` time-ordered rows into train, validation and the rest as test.

    Each later segment starts ``gap`` rows after the previous one ends, so labels looking
    ``gap`` bars ahead never reach into the next segment. ``validation`` may be 0.
    Raises InvalidInput for fractions outside [0, 1), a sum >= 1, or an empty train or test.
    """
    _check_gap(gap)
    if not 0.0 < train < 1.0 or not 0.0 <= validation < 1.0 or train + validation >= 1.0:
        raise InvalidInput(
            f"fractions train={train} validation={validation} must be in [0, 1) and sum below 1"
        )
    a = int(n_rows * train)
    b = int(n_rows * (train + validation))
    return _chain((a, b, n_rows), n_rows, gap)


def split_by_dates(
    ts: pd.Series, train_end: date, validation_end: date | None = None, gap: int = 1
) -> Split:
    """Train on sessions up to ``train_end``, validate up to ``validation_end``, test after.

    Session dates are the New York dates of ``ts``. ``validation_end`` None means no
    validation segment. Raises InvalidInput when the dates are out of order or a train or
    test window comes out empty.
    """
    _check_gap(gap)
    if validation_end is not None and validation_end < train_end:
        raise InvalidInput(f"validation end {validation_end} is before train end {train_end}")
    sessions = pd.DatetimeIndex(ts).tz_convert(SESSION_TZ).normalize().tz_localize(None)
    days = sessions.to_numpy()
    a = int(np.searchsorted(days, np.datetime64(train_end), side="right"))
    last = validation_end if validation_end is not None else train_end
    b = int(np.searchsorted(days, np.datetime64(last), side="right"))
    return _chain((a, b, len(days)), len(days), gap)


def walk_forward(
    n_rows: int,
    n_splits: int,
    test_size: int | None = None,
    gap: int = 1,
    mode: Literal["expanding", "rolling"] = "expanding",
    train_size: int | None = None,
) -> list[Fold]:
    """Consecutive test blocks at the end of the data, each trained on the rows before it.

    Fold ``k`` tests on ``[s_k, s_k + test_size)`` and trains on ``[0, s_k - gap)``
    (expanding) or the last ``train_size`` rows before ``s_k - gap`` (rolling). The default
    ``test_size`` is ``n_rows // (n_splits + 1)``. Raises InvalidInput when a fold would have
    no training rows or the parameters are inconsistent.
    """
    _check_gap(gap)
    if n_splits < 1:
        raise InvalidInput(f"walk-forward needs at least one split, not {n_splits}")
    if mode not in ("expanding", "rolling"):
        raise InvalidInput(f"walk-forward mode must be expanding or rolling, not {mode!r}")
    size = test_size if test_size is not None else n_rows // (n_splits + 1)
    if size < 1:
        raise InvalidInput(f"{n_rows} rows are too few for {n_splits} walk-forward splits")
    if mode == "rolling" and (train_size is None or train_size < 1):
        raise InvalidInput("rolling walk-forward needs a positive train_size")
    folds: list[Fold] = []
    first_test = n_rows - n_splits * size
    for k in range(n_splits):
        start = first_test + k * size
        train_stop = start - gap
        train_start = 0 if mode == "expanding" else max(0, train_stop - int(train_size or 0))
        if train_stop - train_start < 1:
            raise InvalidInput(
                f"walk-forward fold {k + 1} has no training rows ({n_rows} rows, "
                f"{n_splits} splits of {size}, gap {gap})"
            )
        folds.append(
            Fold(train=Segment(train_start, train_stop), test=Segment(start, start + size))
        )
    return folds
