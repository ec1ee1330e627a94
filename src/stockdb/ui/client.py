"""A small REST client for the dashboard: JSON in and out, every failure one readable ApiError."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from stockdb.ui import DEFAULT_API_URL

__all__ = [
    "DEFAULT_API_URL",
    "TERMINAL_STATUSES",
    "ApiClient",
    "ApiError",
    "client_from_env",
]

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
_MAX_DETAIL = 500
_PARAM = re.compile(r"\{[^}]*\}")


class ApiError(Exception):
    """The API refused a request or could not be reached (``status`` 0).

    ``detail`` is the API's JSON ``detail`` (or a short description of the transport error);
    the message never carries the bearer token.
    """

    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        where = f"{method} {path}"
        text = f"{where}: {detail}" if status == 0 else f"{where} answered {status}: {detail}"
        super().__init__(text)

    @property
    def not_found(self) -> bool:
        """True for a 404 (an unknown resource, or an endpoint this API does not have)."""
        return self.status == 404


def _detail(response: httpx.Response) -> str:
    """The JSON ``detail`` of an error answer, else the start of its body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        text = detail if isinstance(detail, str) else repr(detail)
    else:
        text = " ".join(response.text.split()) or response.reason_phrase
    return text[:_MAX_DETAIL]


def _seg(value: str) -> str:
    """One path segment, percent-encoded so ``../x`` or ``a/b`` reach the API as typed."""
    return quote(value, safe="")


def _clean(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Query parameters without ``None`` values, dates as ISO strings."""
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if value is None or value == "":
            continue
        out[key] = value.isoformat() if isinstance(value, date) else value
    return out


class ApiClient:
    """Talks to the stockdb REST API at ``base_url`` (bearer ``token`` on every request)."""

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        token: str | None = None,
        timeout_s: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport
        )
        self._paths: frozenset[tuple[str, str]] | None = None

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- transport ------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> httpx.Response:
        """One request; raises ApiError on a non-2xx answer or a transport failure."""
        try:
            response = self._http.request(method, path, params=_clean(params), json=body)
        except httpx.HTTPError as exc:
            reason = f"cannot reach the API at {self.base_url} ({type(exc).__name__})"
            raise ApiError(method, path, 0, reason) from exc
        if response.is_error:
            raise ApiError(method, path, response.status_code, _detail(response))
        return response

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` and decode its JSON body."""
        return self.request("GET", path, params).json()

    def post(self, path: str, params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        """POST ``path`` (optional JSON ``body``) and decode its JSON answer."""
        return self.request("POST", path, params, body).json()

    def delete(self, path: str) -> Any:
        """DELETE ``path`` and decode its JSON answer."""
        return self.request("DELETE", path).json()

    def has_endpoint(self, method: str, path: str) -> bool:
        """True when ``/openapi.json`` lists ``method path`` (e.g. ``"get", "/models/{id}"``;
        path parameters match whatever their names). Raises ApiError when it cannot be read."""
        if self._paths is None:
            spec = self.get("/openapi.json")
            self._paths = frozenset(
                (m.lower(), _PARAM.sub("{}", p))
                for p, ops in spec.get("paths", {}).items()
                for m in ops
            )
        return (method.lower(), _PARAM.sub("{}", path)) in self._paths

    # ---- resources ------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """GET /health."""
        return self.get("/health")  # type: ignore[no-any-return]

    def agents(self) -> dict[str, Any]:
        """GET /agents: agents, alerts, queue depth, running jobs."""
        return self.get("/agents")  # type: ignore[no-any-return]

    def set_agent(self, name: str, enabled: bool) -> dict[str, Any]:
        """POST /agents/{name}/start or /stop."""
        action = "start" if enabled else "stop"
        return self.post(f"/agents/{_seg(name)}/{action}")  # type: ignore[no-any-return]

    def logs(
        self,
        agent: str | None = None,
        symbol: str | None = None,
        level: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """GET /logs, oldest first."""
        params = {"agent": agent, "symbol": symbol, "level": level, "limit": limit}
        return self.get("/logs", params)  # type: ignore[no-any-return]

    def jobs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """GET /jobs, newest first."""
        return self.get("/jobs", {"status": status, "limit": limit})  # type: ignore[no-any-return]

    def job(self, job_id: str) -> dict[str, Any]:
        """GET /jobs/{id}."""
        return self.get(f"/jobs/{_seg(job_id)}")  # type: ignore[no-any-return]

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """DELETE /jobs/{id}."""
        return self.delete(f"/jobs/{_seg(job_id)}")  # type: ignore[no-any-return]

    def ingest(
        self, symbol: str, start: date | None = None, end: date | None = None
    ) -> dict[str, Any]:
        """POST /ingest/{symbol}: the queued (or already active) job."""
        return self.post(f"/ingest/{_seg(symbol)}", {"start": start, "end": end})  # type: ignore[no-any-return]

    def symbols(self) -> list[dict[str, Any]]:
        """GET /symbols with coverage summaries."""
        return self.get("/symbols")  # type: ignore[no-any-return]

    def month_coverage(self) -> list[dict[str, Any]]:
        """GET /coverage/months: sessions per symbol and month by status."""
        return self.get("/coverage/months")  # type: ignore[no-any-return]

    def gaps(
        self, symbol: str, start: date | None = None, end: date | None = None
    ) -> list[dict[str, Any]]:
        """GET /symbols/{symbol}/gaps: one row per expected session."""
        return self.get(f"/symbols/{_seg(symbol)}/gaps", {"start": start, "end": end})  # type: ignore[no-any-return]

    def bars(self, symbol: str, **params: Any) -> list[dict[str, Any]]:
        """GET /bars/{symbol} as JSON rows (timeframe, start, end, limit, session)."""
        return self.get(f"/bars/{_seg(symbol)}", params)  # type: ignore[no-any-return]

    def features_overview(self) -> dict[str, Any]:
        """GET /features: set hash, definitions, latest builds."""
        return self.get("/features")  # type: ignore[no-any-return]

    def features(self, symbol: str, **params: Any) -> list[dict[str, Any]]:
        """GET /features/{symbol} as JSON rows (start, end, columns, limit)."""
        return self.get(f"/features/{_seg(symbol)}", params)  # type: ignore[no-any-return]

    def rebuild_features(self, symbols: list[str], full: bool = False) -> dict[str, Any]:
        """POST /features/rebuild: the queued job."""
        body = {"symbols": symbols, "full": full}
        return self.post("/features/rebuild", body=body)  # type: ignore[no-any-return]

    def train(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """POST /train: the queued training job."""
        return self.post("/train", body=dict(request))  # type: ignore[no-any-return]

    def models(self) -> list[dict[str, Any]]:
        """GET /models."""
        return self.get("/models")  # type: ignore[no-any-return]

    def model(self, model_id: str) -> dict[str, Any]:
        """GET /models/{id}."""
        return self.get(f"/models/{_seg(model_id)}")  # type: ignore[no-any-return]

    def simulate(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """POST /simulate: the queued simulation job."""
        return self.post("/simulate", body=dict(request))  # type: ignore[no-any-return]

    def simulations(self, model_id: str | None = None) -> list[dict[str, Any]]:
        """GET /simulations: stored runs, newest first, without curves."""
        return self.get("/simulations", {"model_id": model_id})  # type: ignore[no-any-return]

    def simulation(self, simulation_id: str) -> dict[str, Any]:
        """GET /simulations/{id}: metrics, equity curve, trades, overlap flag."""
        return self.get(f"/simulations/{_seg(simulation_id)}")  # type: ignore[no-any-return]


def client_from_env(api_url: str | None = None) -> ApiClient:
    """A client for ``api_url``, else STOCKDB_API_URL, else :data:`DEFAULT_API_URL`, with the
    bearer token from STOCKDB_API_TOKEN when set (both read through Settings, so ``.env``
    counts too)."""
    from stockdb.config import Settings

    settings = Settings()
    url = api_url or settings.api_url or DEFAULT_API_URL
    token = settings.api_token.get_secret_value() if settings.api_token is not None else None
    return ApiClient(url, token or None)
