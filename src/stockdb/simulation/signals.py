"""Model predictions to trading signals: the spec's classifier and regressor rules."""

from __future__ import annotations

import numpy as np

from stockdb.errors import InvalidInput
from stockdb.simulation.engine import BUY, SELL

__all__ = ["signals_from_predictions"]


def signals_from_predictions(predictions: np.ndarray, task: str) -> np.ndarray:
    """BUY (1) or SELL (-1) for every prediction, as int8.

    Classification: prediction 1 buys, 0 sells. Regression: a prediction above 0 buys, at or
    below 0 sells. Raises InvalidInput for an unknown task, a class other than 0 or 1, or a
    non-finite regression output.
    """
    pred = np.asarray(predictions)
    if task == "classification":
        values = pred.astype(np.float64)
        if not np.isin(values, (0.0, 1.0)).all():
            raise InvalidInput("classifier predictions must be 0 (down) or 1 (up)")
        up = values == 1.0
    elif task == "regression":
        values = pred.astype(np.float64)
        if not np.all(np.isfinite(values)):
            raise InvalidInput("regressor predictions must be finite")
        up = values > 0.0
    else:
        raise InvalidInput(f"unknown task {task!r}")
    return np.where(up, np.int8(BUY), np.int8(SELL)).astype(np.int8)
