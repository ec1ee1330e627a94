"""The spec's entry point: ``uvicorn app.api.main:app --host 0.0.0.0 --port 8000``.

``create_app()`` builds nothing heavy; the stockdb App is created when the server starts.
"""

from __future__ import annotations

from stockdb.api import create_app

__all__ = ["app"]

app = create_app()
