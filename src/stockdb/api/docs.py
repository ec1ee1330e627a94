"""Swagger UI at ``/docs`` and ReDoc at ``/redoc`` served from local assets (no CDN).

FastAPI's own pages load their JavaScript and CSS from a CDN, so they are blank offline. The
assets here come from the ``fastapi-offline`` package (Swagger UI bundle and CSS, ReDoc
standalone bundle, favicon) and are served by this API under :data:`STATIC_PATH`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

__all__ = ["DOCS_ASSETS", "STATIC_PATH", "assets_dir", "install_offline_docs"]

STATIC_PATH = "/static-docs"
DOCS_ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_dir() -> Path:
    """The folder holding :data:`DOCS_ASSETS` (inside the installed ``fastapi_offline``)."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def install_offline_docs(api: FastAPI) -> None:
    """Add ``/docs``, its OAuth2 redirect and ``/redoc`` to ``api`` (built with
    ``docs_url=None, redoc_url=None``), every asset served locally."""
    api.mount(STATIC_PATH, StaticFiles(directory=assets_dir()), name="static-docs")
    openapi_url = api.openapi_url or "/openapi.json"
    redirect_url = api.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @api.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{api.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=f"{root}{STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
            swagger_ui_parameters=api.swagger_ui_parameters,
        )

    @api.get(redirect_url, include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @api.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{api.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
            with_google_fonts=False,
        )
