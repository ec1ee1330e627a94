"""The dashboard's entry script: ``streamlit run src/stockdb/ui/app.py -- --api-url URL``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from stockdb.ui import bars, data, features, models, overview, simulation, universe_page
from stockdb.ui.client import DEFAULT_API_URL, ApiClient, ApiError, client_from_env
from stockdb.ui.format import provider_badge

__all__ = ["PAGES", "api_url", "data_source", "main"]

# (title, url path, render function) of every page, in menu order.
PAGES: tuple[tuple[str, str, Callable[[ApiClient], None]], ...] = (
    ("Overview", "overview", overview.render),
    ("Data", "data", data.render),
    ("Universe", "universe", universe_page.render),
    ("Bars", "bars", bars.render),
    ("Features", "features", features.render),
    ("Models", "models", models.render),
    ("Simulation", "simulation", simulation.render),
)


def api_url(argv: Sequence[str]) -> str:
    """The API base URL: ``--api-url`` in ``argv``, else STOCKDB_API_URL, else the default."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--api-url", default=None)
    known, _ = parser.parse_known_args(list(argv))
    if known.api_url:
        return str(known.api_url)
    from stockdb.config import Settings

    return Settings().api_url or DEFAULT_API_URL


@st.cache_resource(show_spinner=False)
def _client(url: str) -> ApiClient:
    """One client per API URL for the server's lifetime (the token comes from the env)."""
    return client_from_env(url)


def _health(api: ApiClient) -> dict[str, Any] | None:
    try:
        return api.health()
    except ApiError as exc:
        with st.sidebar:
            st.error(f"API unavailable: {exc.detail}")
        return None


def _sidebar(api: ApiClient, health: dict[str, Any] | None) -> None:
    with st.sidebar:
        st.caption(f"API {api.base_url}")
        if health is None:
            return
        status = health.get("status", "unknown")
        line = f"API {status}, stockdb {health.get('version', '?')}"
        if status == "ok":
            st.success(line)
        else:
            st.warning(line)
        if health.get("provider"):
            st.caption(f"bars from {health['provider']} (feed {health.get('feed', '?')})")


def data_source(health: dict[str, Any] | None) -> None:
    """The badge at the top of every page when the bars are synthetic."""
    badge = provider_badge(health or {})
    if badge is not None:
        label, explanation = badge
        st.badge(label, icon=":material/science:", color="orange")
        st.caption(explanation)


def _page(render: Callable[[ApiClient], None], api: ApiClient) -> Callable[[], None]:
    def page() -> None:
        render(api)

    return page


def main(argv: Sequence[str] | None = None) -> None:
    """Configure the page, pick the API client and run the selected page."""
    st.set_page_config(
        page_title="stockdb", page_icon=":material/candlestick_chart:", layout="wide"
    )
    api = _client(api_url(sys.argv[1:] if argv is None else argv))
    health = _health(api)
    _sidebar(api, health)
    data_source(health)
    pages = [
        st.Page(_page(render, api), title=title, url_path=path, default=path == "overview")
        for title, path, render in PAGES
    ]
    st.navigation(pages).run()


if __name__ == "__main__":
    main()
