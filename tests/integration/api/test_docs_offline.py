"""/docs and /redoc load everything from this API: no asset points at another host."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest

_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
_URL_IN_JS = re.compile(r"""url:\s*['"]([^'"]+)['"]""")


def _assets(html: str) -> list[str]:
    return _ASSET.findall(html) + _URL_IN_JS.findall(html)


@pytest.mark.parametrize(
    ("page", "scripts"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css"}),
        ("/redoc", {"redoc.standalone.js"}),
    ],
)
def test_docs_pages_reference_only_local_assets(client: Any, page: str, scripts: set[str]) -> None:
    answer = client.get(page)
    assert answer.status_code == 200
    html = answer.text
    urls = _assets(html)
    assert urls, html
    external = [u for u in urls if urlsplit(u).netloc or u.startswith("//")]
    assert external == [], f"{page} loads from another host: {external}"
    assert "fonts.googleapis" not in html and "cdn." not in html
    names = {u.rsplit("/", 1)[-1] for u in urls}
    assert scripts <= names
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        if url.endswith(".js"):
            # the real bundles are large; an error page or stub would not be
            assert len(asset.content) > 100_000, url


def test_openapi_lists_no_docs_routes(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not any(p.startswith(("/docs", "/redoc", "/static-docs")) for p in paths)
