"""Local API safety, before any route runs: the ``Host`` allow-list (DNS rebinding), refusal of
cross-origin mutating requests (CSRF) and, with ``STOCKDB_API_TOKEN`` set, the bearer token on
every route but ``/health``.

A web page the user visits can send a ``text/plain`` POST to ``localhost:8000`` without a CORS
preflight, and a rebinding DNS name can make the browser treat the API as the page's own origin.
So, for every HTTP request:

1. ``Host`` must name this machine: ``localhost`` (and ``*.localhost``), an IP address literal
   (no DNS answer can rebind a Host the browser took from an address literal), the
   names in ``STOCKDB_ALLOWED_HOSTS`` (comma-separated; ``*`` allows any), and ``testserver``
   (the TestClient's name, a single label no public DNS serves). Otherwise 400.
2. A mutating method (anything but GET, HEAD, OPTIONS) from a browser must be same-origin:
   ``Sec-Fetch-Site`` (sent by every current browser) must be ``same-origin`` or ``none``
   (typed by the user), and an ``Origin`` must equal the request's own scheme, host and port.
   Clients that send neither (curl, httpx, the dashboard's server-side calls) pass.
   Otherwise 403.
3. With a token configured, ``Authorization: Bearer <token>`` on every path but ``/health``
   (constant-time compare). Otherwise 401 with ``WWW-Authenticate: Bearer``.

Every refusal is a JSON ``{"detail": ...}`` and never echoes the token.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from stockdb.api.context import ApiContext, check_token
from stockdb.api.errors import json_response
from stockdb.config import Settings

__all__ = [
    "DEFAULT_HOSTS",
    "OPEN_PATHS",
    "SAFE_METHODS",
    "AccessPolicy",
    "SecurityMiddleware",
    "bearer_token",
    "cross_origin_reason",
    "declare_bearer",
    "host_name",
]

DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1", "testserver")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = frozenset({"/health"})
_SAME = frozenset({"same-origin", "none"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_SHOWN = 60


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def host_name(header: str) -> str | None:
    """The lower-cased name of a ``Host`` header without its port (``[::1]:8000`` -> ``::1``),
    or None when the header is empty or malformed."""
    text = header.strip().lower()
    if not text or any(c in text for c in "/@?#\\ \t"):
        return None
    if text.startswith("["):
        end = text.find("]")
        rest = text[end + 1 :]
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return text[1:end] or None
    name, _, port = text.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".") or None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _authority(scheme: str, netloc: str) -> str:
    """``host:port`` lower-cased, with the scheme's default port dropped."""
    text = netloc.strip().lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default and text.endswith(":" + default):
        text = text[: -len(default) - 1]
    return text


def cross_origin_reason(
    method: str, headers: Mapping[str, str], scheme: str = "http"
) -> str | None:
    """Why a mutating browser request is cross-origin, or None when it may go through."""
    if method.upper() in SAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in _SAME:
        return f"cross-site request refused (Sec-Fetch-Site: {_shown(site)})"
    origin = headers.get("origin")
    if origin is None:
        return None
    parts = urlsplit(origin.strip())
    own = _authority(scheme, headers.get("host", ""))
    if parts.scheme != scheme or not parts.netloc or _authority(scheme, parts.netloc) != own:
        return f"cross-origin request refused (Origin: {_shown(origin)})"
    return None


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The credentials of an ``Authorization: Bearer ...`` header, else None."""
    scheme, _, value = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


@dataclass(frozen=True)
class AccessPolicy:
    """Which hosts are served and which token is required (None: open mode)."""

    hosts: frozenset[str]
    any_host: bool = False
    token: str | None = None

    @classmethod
    def build(cls, extra_hosts: Iterable[str] = (), token: str | None = None) -> AccessPolicy:
        names = {h.strip().lower().strip("[]").rstrip(".") for h in extra_hosts}
        names.discard("")
        return cls(frozenset({*DEFAULT_HOSTS, *names} - {"*"}), "*" in names, token or None)

    @classmethod
    def from_settings(cls, settings: Settings | None) -> AccessPolicy:
        """The policy of ``settings`` (STOCKDB_ALLOWED_HOSTS, STOCKDB_API_TOKEN)."""
        if settings is None:
            return cls.build()
        secret = settings.api_token
        token = secret.get_secret_value() if secret is not None else None
        return cls.build(settings.allowed_host_names, token)

    def host_allowed(self, header: str) -> bool:
        """Whether a request with this ``Host`` header is served."""
        name = host_name(header)
        if name is None:
            return False
        if self.any_host or name in self.hosts:
            return True
        return name == "localhost" or name.endswith(".localhost") or _is_ip(name)

    def refusal(
        self, method: str, path: str, headers: Mapping[str, str], scheme: str = "http"
    ) -> tuple[int, str] | None:
        """``(status, detail)`` when the request must be refused, else None. Pure."""
        host = headers.get("host", "")
        if not self.host_allowed(host):
            return 400, (
                f"host {_shown(host)} is not allowed; add it to STOCKDB_ALLOWED_HOSTS to serve it"
            )
        reason = cross_origin_reason(method, headers, scheme)
        if reason is not None:
            return 403, reason
        if self.token and path not in OPEN_PATHS:
            if not check_token(self.token, bearer_token(headers)):
                return 401, "missing or wrong bearer token"
        return None


class SecurityMiddleware:
    """Pure ASGI middleware applying :class:`AccessPolicy` to every HTTP request. The policy
    comes from the running App's settings (so tests and ``.env`` changes apply), falling back
    to ``settings`` given at construction while the App is not up."""

    def __init__(self, app: ASGIApp, settings: Settings | None = None) -> None:
        self.app = app
        self.settings = settings

    def _policy(self, scope: Scope) -> AccessPolicy:
        api: Any = scope.get("app")
        ctx = getattr(getattr(api, "state", None), "stockdb", None)
        settings = ctx.app.settings if isinstance(ctx, ApiContext) else self.settings
        return AccessPolicy.from_settings(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refused = self._policy(scope).refusal(
            scope["method"], scope["path"], headers, scope.get("scheme", "http")
        )
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, detail = refused
        extra = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        response = json_response({"detail": detail}, status, extra)
        await response(scope, receive, send)


def declare_bearer(api: FastAPI) -> None:
    """Make ``/openapi.json`` say what the middleware enforces: the bearer scheme on every
    operation but those of :data:`OPEN_PATHS` (it applies once STOCKDB_API_TOKEN is set)."""
    build = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is not None:
            return api.openapi_schema
        spec = build()
        schemes = spec.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes.setdefault(
            "HTTPBearer",
            {
                "type": "http",
                "scheme": "bearer",
                "description": "Needed when STOCKDB_API_TOKEN is set",
            },
        )
        for path, operations in spec.get("paths", {}).items():
            if path in OPEN_PATHS:
                continue
            for operation in operations.values():
                if isinstance(operation, dict):
                    operation.setdefault("security", [{"HTTPBearer": []}])
        api.openapi_schema = spec
        return spec

    api.openapi = openapi  # type: ignore[method-assign]
