"""Reads from the criteria and funding services over HTTP (pooled clients, timeouts).

In the embedded process and in tests, `app.state.transports` holds in-process ASGI transports
keyed by service name; otherwise `settings.criteria_url` / `settings.funding_url` name the
services (a URL including the mount prefix when they run in one process, e.g.
`http://host:8000/criteria`).

A 404 reads as None (the caller says what is missing); another 4xx is the request's fault and
is passed on with the service's status, code and fields (`UpstreamRefused`); only a failed
connection, a 5xx, a "not now" (408, 425, 429) or a refused token (401: a deployment problem,
not the caller's) is `upstream.unavailable` (503)."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
from fastapi import Request

from services.appraisal.errors import UpstreamRefused, UpstreamUnavailable
from shared.auth import propagate_authorization
from shared.settings import Settings

# 4xx answers that are not the request's fault: "not now" (408, 425, 429), or a caller's token
# the service would not take although this one did (401: the deployments disagree on keys)
NOT_THE_CALLERS = frozenset({401, 408, 425, 429})


def _json_or_none(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


class Upstreams:
    def __init__(
        self, settings: Settings, transports: dict[str, httpx.AsyncBaseTransport] | None = None
    ) -> None:
        self.settings = settings
        self.transports = transports or {}
        self._clients: dict[str, httpx.AsyncClient] = {}

    def client(self, name: str) -> httpx.AsyncClient:
        if name not in self._clients:
            timeout = httpx.Timeout(self.settings.upstream_timeout_s)
            # reads made for a request carry its caller's token (shared.auth)
            hooks = {"request": [propagate_authorization]}
            transport = self.transports.get(name)
            if transport is not None:
                self._clients[name] = httpx.AsyncClient(
                    transport=transport, base_url=f"http://{name}", timeout=timeout,
                    event_hooks=hooks,
                )  # fmt: skip
            else:
                url = getattr(self.settings, f"{name}_url", None)
                if not url:
                    raise UpstreamUnavailable(name, f"NTM_{name.upper()}_URL is not set")
                self._clients[name] = httpx.AsyncClient(
                    base_url=url.rstrip("/"),
                    timeout=timeout,
                    transport=httpx.AsyncHTTPTransport(retries=2),
                    event_hooks=hooks,
                )
        return self._clients[name]

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.aclose()
        self._clients.clear()

    async def _get(self, service: str, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
        try:
            response = await self.client(service).get(path, params=params)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(service, type(exc).__name__) from exc
        status = response.status_code
        if status == 404:
            return None  # the caller names what is missing (a unit, a set) in its own terms
        if status >= 500 or status in NOT_THE_CALLERS:
            raise UpstreamUnavailable(service, f"HTTP {status} on {path}")
        if status >= 400:  # the request's fault, not the service's: pass its problem on
            raise UpstreamRefused(service, status, _json_or_none(response))
        body: dict[str, Any] = response.json()
        return body

    async def unit(self, code: str, as_of: date) -> dict[str, Any] | None:
        return await self._get("criteria", f"/v1/units/{code}", {"as_of": as_of.isoformat()})

    async def criteria_set(self, code: str) -> dict[str, Any] | None:
        return await self._get("criteria", f"/v1/criteria-sets/{code}", {})

    async def evaluation(
        self, code: str, set_code: str, year: int, as_of: date
    ) -> dict[str, Any] | None:
        return await self._get(
            "criteria",
            f"/v1/units/{code}/evaluation",
            {"set": set_code, "year": year, "as_of": as_of.isoformat()},
        )

    async def construction_debt(self, code: str, as_of: date) -> dict[str, Any] | None:
        """The funding service's figure; None when it does not answer for this unit (or does
        not serve the route yet): the construction-debt condition then fails as missing."""
        try:
            return await self._get(
                "funding", f"/v1/units/{code}/construction-debt", {"as_of": as_of.isoformat()}
            )
        except (UpstreamUnavailable, UpstreamRefused):
            return None


def upstreams_of(request: Request) -> Upstreams:
    state = request.app.state
    ups = getattr(state, "upstreams", None)
    if ups is None:
        ups = Upstreams(state.settings, getattr(state, "transports", None))
        state.upstreams = ups
    assert isinstance(ups, Upstreams)
    return ups
