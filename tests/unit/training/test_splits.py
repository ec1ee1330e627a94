"""Time splits: ordered, never shuffled, with the label gap; walk-forward vs scikit-learn."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import TimeSeriesSplit

from stockdb.errors import InvalidInput
from stockdb.training.splits import split_by_dates, split_by_fractions, walk_forward


def test_fractions_are_consecutive_with_gaps() -> None:
    split = split_by_fractions(1000, 0.6, 0.2, gap=3)
    assert (split.train.start, split.train.stop) == (0, 600)
    assert (split.validation.start, split.validation.stop) == (603, 800)
    assert (split.test.start, split.test.stop) == (803, 1000)
    no_validation = split_by_fractions(100, 0.8, 0.0, gap=1)
    assert no_validation.validation.rows == 0
    assert (no_validation.test.start, no_validation.test.stop) == (81, 100)


@pytest.mark.parametrize(("train", "validation"), [(0.0, 0.1), (1.0, 0.0), (0.6, 0.4), (0.5, -0.1)])
def test_bad_fractions(train: float, validation: float) -> None:
    with pytest.raises(InvalidInput):
        split_by_fractions(100, train, validation)


def test_empty_windows_are_refused() -> None:
    with pytest.raises(InvalidInput, match="test window is empty"):
        split_by_fractions(10, 0.9, 0.05, gap=5)
    with pytest.raises(InvalidInput, match="gap"):
        split_by_fractions(10, 0.5, 0.1, gap=-1)


def test_dates_use_new_york_sessions() -> None:
    # 2024-01-02 21:05 UTC is 16:05 on Jan 2 in New York: it belongs to the Jan 2 session.
    ts = pd.Series(
        pd.to_datetime(
            [
                "2024-01-02 14:30",
                "2024-01-02 21:05",
                "2024-01-03 14:30",
                "2024-01-03 15:00",
                "2024-01-04 14:30",
                "2024-01-04 14:31",
                "2024-01-05 14:30",
            ],
            utc=True,
        )
    )
    split = split_by_dates(ts, date(2024, 1, 2), date(2024, 1, 3), gap=1)
    assert (split.train.start, split.train.stop) == (0, 2)
    assert (split.validation.start, split.validation.stop) == (3, 4)
    assert (split.test.start, split.test.stop) == (5, 7)
    plain = split_by_dates(ts, date(2024, 1, 3), gap=0)
    assert plain.validation.rows == 0 and (plain.test.start, plain.test.stop) == (4, 7)
    with pytest.raises(InvalidInput, match="before"):
        split_by_dates(ts, date(2024, 1, 3), date(2024, 1, 2))
    with pytest.raises(InvalidInput, match="training window is empty"):
        split_by_dates(ts, date(2023, 12, 29))


@settings(max_examples=60, deadline=None)
@given(
    n_rows=st.integers(20, 400),
    n_splits=st.integers(2, 5),
    gap=st.integers(0, 4),
    rolling=st.booleans(),
    train_size=st.integers(1, 50),
)
def test_walk_forward_matches_sklearn_time_series_split(
    n_rows: int, n_splits: int, gap: int, rolling: bool, train_size: int
) -> None:
    size = n_rows // (n_splits + 1)
    reference = TimeSeriesSplit(
        n_splits=n_splits, gap=gap, test_size=size, max_train_size=train_size if rolling else None
    )
    x = np.zeros((n_rows, 1))
    try:
        expected = [(tr, te) for tr, te in reference.split(x)]
    except ValueError:
        with pytest.raises(InvalidInput):
            walk_forward(
                n_rows, n_splits, None, gap, "rolling" if rolling else "expanding", train_size
            )
        return
    if any(len(tr) == 0 for tr, _ in expected):
        with pytest.raises(InvalidInput):
            walk_forward(
                n_rows, n_splits, None, gap, "rolling" if rolling else "expanding", train_size
            )
        return
    folds = walk_forward(
        n_rows, n_splits, None, gap, "rolling" if rolling else "expanding", train_size
    )
    assert len(folds) == len(expected)
    for fold, (tr, te) in zip(folds, expected, strict=True):
        np.testing.assert_array_equal(np.arange(fold.train.start, fold.train.stop), tr)
        np.testing.assert_array_equal(np.arange(fold.test.start, fold.test.stop), te)
        assert fold.test.start - fold.train.stop == gap


def test_walk_forward_argument_errors() -> None:
    with pytest.raises(InvalidInput, match="at least one split"):
        walk_forward(100, 0)
    with pytest.raises(InvalidInput, match="train_size"):
        walk_forward(100, 3, mode="rolling")
    with pytest.raises(InvalidInput, match="too few"):
        walk_forward(3, 5)
