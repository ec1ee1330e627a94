"""The REST API: ``create_app()`` builds the FastAPI application over the service layer."""

from __future__ import annotations

from stockdb.api.factory import create_app

__all__ = ["create_app"]
