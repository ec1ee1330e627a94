"""The Streamlit dashboard: one module per page over a small REST client (API only)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_API_URL", "entry_script"]

DEFAULT_API_URL = "http://127.0.0.1:8000"  # the API `stockdb up` and `stockdb serve` start


def entry_script() -> Path:
    """The script ``streamlit run`` starts (``app.py`` next to this package)."""
    return Path(__file__).with_name("app.py")
