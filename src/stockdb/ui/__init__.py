"""The Streamlit dashboard: one module per page over a small REST client (API only)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["entry_script"]


def entry_script() -> Path:
    """The script ``streamlit run`` starts (``app.py`` next to this package)."""
    return Path(__file__).with_name("app.py")
