"""Builds a :class:`FeatureService` from settings through the composition root."""

from __future__ import annotations

from stockdb.app import App
from stockdb.config import Settings
from stockdb.features.service import FeatureService

__all__ = ["feature_service"]


def feature_service(settings: Settings | None = None) -> tuple[App, FeatureService]:
    """The App (close it when done) and a FeatureService over its calendar, lake and state.

    Nothing touches the disk until the service is used.
    """
    app = App(settings or Settings())
    return app, FeatureService(app.settings, app.calendar, app.lake, app.state)
