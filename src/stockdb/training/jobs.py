"""The ``train`` job kind: runs a :class:`TrainRequest` from job params on a worker."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stockdb.training.requests import train_request

if TYPE_CHECKING:
    from stockdb.app import App

__all__ = ["handle"]


def handle(
    app: App,
    params: Mapping[str, Any],
    progress: Callable[[int, int, str], None],
    should_stop: Callable[[], bool],
) -> dict[str, Any]:
    """Train and register a model; the job result names it (``model_id``) with its metrics."""
    record = app.training.train(train_request(params), progress)
    return {"model_id": record.id, "kind": record.kind, "metrics": record.metrics}
