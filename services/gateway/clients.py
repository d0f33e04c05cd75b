"""HTTP clients of the upstream services: pooled, with timeouts, retrying idempotent reads."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

import httpx
import orjson

from services.gateway.errors import GatewayError
from shared.auth import propagate_authorization
from shared.logging import REQUEST_ID_HEADER, current_request_id

log = logging.getLogger("ntm.gateway")
JSON = dict[str, Any]


async def _propagate_request_id(request: httpx.Request) -> None:
    rid = current_request_id()
    if rid:
        request.headers[REQUEST_ID_HEADER] = rid


def make_http_client(
    base_url: str, *, transport: httpx.AsyncBaseTransport | None = None, timeout_s: float = 10.0
) -> httpx.AsyncClient:
    """One pooled client per upstream; `transport` is an in-process ASGI transport when embedded."""
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        event_hooks={"request": [_propagate_request_id, propagate_authorization]},
        headers={"user-agent": "ntm-gateway"},
    )


class UpstreamClient:
    """Calls one service; turns its problem+json answers into GatewayErrors."""

    max_batch = 1000  # keys of one batch lookup: the service's limit (422 beyond)

    def __init__(self, name: str, http: httpx.AsyncClient, *, retries: int = 1) -> None:
        self.name = name
        self.http = http
        self.retries = retries

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: JSON | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        retry: bool = True,
    ) -> Any:
        """Send an idempotent read (GET, or a POST lookup) with one retry on transport errors;
        `retry=False` for a write that must not be sent twice."""
        content = orjson.dumps(json) if json is not None else None
        headers = dict(headers or {})
        if content is not None:
            headers["content-type"] = "application/json"
        attempt = 0
        while True:
            try:
                response = await self.http.request(
                    method, path, params=params, content=content, headers=headers or None
                )
                break
            except httpx.TransportError as exc:
                attempt += 1
                if not retry or attempt > self.retries:
                    log.warning(
                        "upstream unreachable", extra={"upstream": self.name, "err": str(exc)}
                    )
                    raise GatewayError(
                        "UPSTREAM_UNAVAILABLE",
                        f"Dịch vụ '{self.name}' tạm thời không phản hồi.",
                        f"The '{self.name}' service is not answering.",
                        service=self.name,
                    ) from exc
        if response.status_code < 400:
            return orjson.loads(response.content)
        return self._raise(response)

    async def lookup(
        self, path: str, field: str, keys: list[Any], body: JSON | None = None, size: int = 0
    ) -> list[Any]:
        """POST a batch lookup answered in key order (`items`); more keys than the service takes
        in one body (`size`, else `max_batch`) go in several bodies, sent concurrently."""
        size = size or self.max_batch
        answers = await asyncio.gather(
            *(
                self.request("POST", path, json={**(body or {}), field: keys[i : i + size]})
                for i in range(0, len(keys), size)
            )
        )
        return [item for answer in answers for item in answer["items"]]

    def _raise(self, response: httpx.Response) -> Any:
        try:
            problem = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            problem = {}
        status = response.status_code
        if status >= 500 or not isinstance(problem, dict):
            raise GatewayError(
                "UPSTREAM_ERROR",
                f"Dịch vụ '{self.name}' gặp lỗi.",
                f"The '{self.name}' service failed.",
                service=self.name,
                upstream_request_id=response.headers.get(REQUEST_ID_HEADER),
            )
        code = {
            401: "UNAUTHENTICATED",
            403: "FORBIDDEN",
            404: "NOT_FOUND",
            409: "CONFLICT",
            422: "BAD_USER_INPUT",
        }.get(status, "BAD_REQUEST")
        raise GatewayError(
            code,
            problem.get("message_vi", ""),
            problem.get("message_en", ""),
            upstream_code=problem.get("code"),
            errors=problem.get("errors", []),
        )


class ChildrenKey(NamedTuple):
    code: str
    as_of: date
    level: str | None
    limit: int
    cursor: str | None


class EvaluationKey(NamedTuple):
    unit: str
    as_of: date
    criteria_set: str
    year: int
    full: bool  # the query asks for the criteria, explained, not only the counts


class CriteriaClient(UpstreamClient):
    """The criteria service's unit endpoints."""

    max_batch = 2000

    def __init__(self, http: httpx.AsyncClient) -> None:
        super().__init__("criteria", http)

    async def lookup_units(self, keys: list[tuple[str, date]]) -> list[JSON | None]:
        body = [{"code": c, "as_of": d.isoformat()} for c, d in keys]
        return await self.lookup("/v1/units/lookup", "keys", body)

    async def lookup_children(self, keys: list[ChildrenKey]) -> list[JSON | None]:
        body = [
            {"code": k.code, "as_of": k.as_of.isoformat(), "level": k.level, "limit": k.limit,
             "cursor": k.cursor}
            for k in keys
        ]  # fmt: skip
        return await self.lookup("/v1/units/children/lookup", "keys", body)

    async def lookup_lineage(self, keys: list[tuple[str, date]]) -> list[JSON | None]:
        body = [{"code": c, "as_of": d.isoformat()} for c, d in keys]
        return await self.lookup("/v1/units/lineage/lookup", "keys", body)

    async def lookup_criteria_sets(self, codes: list[str]) -> list[JSON | None]:
        return await self.lookup("/v1/criteria-sets/lookup", "codes", codes, size=100)

    async def list_criteria_sets(self, level: str | None, active_on: date | None) -> list[JSON]:
        params = {"level": level, "active_on": active_on.isoformat() if active_on else None}
        items: list[JSON] = (
            await self.request(
                "GET", "/v1/criteria-sets", params={k: v for k, v in params.items() if v}
            )
        )["items"]
        return items

    async def lookup_evaluations(self, keys: list[EvaluationKey]) -> list[JSON | None]:
        """One lookup for the batch: explained when any key wants the criteria (`full`),
        otherwise counted only (`detail: summary`, a fraction of the work and the bytes)."""
        detail = "full" if any(k.full for k in keys) else "summary"
        body = [
            {"unit": k.unit, "as_of": k.as_of.isoformat(), "set": k.criteria_set, "year": k.year}
            for k in keys
        ]
        return await self.lookup("/v1/evaluations/lookup", "keys", body, {"detail": detail})

    async def lookup_targets(self, keys: list[tuple[str, date, int]]) -> list[list[JSON] | None]:
        body = [{"unit": u, "as_of": d.isoformat(), "year": y} for u, d, y in keys]
        return await self.lookup("/v1/targets/lookup", "keys", body)

    async def criteria_reports(
        self, keys: list[tuple[str, date, str, int]]
    ) -> list[JSON | GatewayError]:
        """One report per key (reports are whole-district reads; they are fetched concurrently,
        and a failing key fails only its own field)."""

        async def one(key: tuple[str, date, str, int]) -> JSON | GatewayError:
            unit, day, set_code, year = key
            try:
                report: JSON = await self.request(
                    "GET",
                    f"/v1/units/{unit}/criteria-report",
                    params={"set": set_code, "year": year, "as_of": day.isoformat()},
                )
            except GatewayError as exc:
                return exc
            return report

        return list(await asyncio.gather(*(one(k) for k in keys)))

    async def unit_titles(self, keys: list[tuple[str, date]]) -> list[list[JSON] | GatewayError]:
        """Titles of each unit, one POST for all of them; a unit criteria does not know on its
        date fails only its own field."""
        body = {"keys": [{"code": c, "as_of": d.isoformat()} for c, d in keys]}
        items: list[list[JSON] | None] = (
            await self.request("POST", "/v1/titles/lookup", json=body)
        )["items"]
        return [
            item if item is not None else _unknown_unit(code, day)
            for (code, day), item in zip(keys, items, strict=True)
        ]

    async def list_units(self, params: JSON) -> JSON:
        page: JSON = await self.request(
            "GET", "/v1/units", params={k: v for k, v in params.items() if v is not None}
        )
        return page


def _unknown_unit(code: str, day: date) -> GatewayError:
    return GatewayError(
        "NOT_FOUND",
        f"Không có đơn vị hành chính mã {code} vào ngày {day:%d/%m/%Y}.",
        f"No administrative unit with code {code} on {day.isoformat()}.",
        field="recognitions",
    )


class FundingKey(NamedTuple):
    """One unit's funding summary: the unit (code, date) and the window (year | from/to).
    A tuple, not a frozen dataclass: a dashboard makes one per commune, and a frozen
    dataclass costs twenty times as much to build."""

    code: str
    as_of: date
    year: int | None
    date_from: date | None
    date_to: date | None
    full: bool = True  # the query asks for the breakdown or the paragraph, not only totals


FUNDING_UNIT_CODE = re.compile(r"^\d{2,5}$")  # the funding ledger has no villages


class FundingClient(UpstreamClient):
    """The funding service: summaries in batches, and the ledger's two writes."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        super().__init__("funding", http)

    async def lookup_summaries(self, keys: list[FundingKey]) -> list[JSON | GatewayError]:
        """One POST per distinct window (a query asks for one window, so usually one call) and
        1,000 keys, concurrently, for the totals only when no key wants more; a key whose code
        names no funding unit fails only its own field."""
        out: list[JSON | GatewayError | None] = [None] * len(keys)
        windows: dict[tuple[int | None, date | None, date | None], list[int]] = {}
        for i, k in enumerate(keys):
            if FUNDING_UNIT_CODE.match(k.code):
                windows.setdefault((k.year, k.date_from, k.date_to), []).append(i)

        async def one(window: tuple[int | None, date | None, date | None], idx: list[int]) -> None:
            year, date_from, date_to = window
            body: JSON = {}
            if year is not None:
                body["year"] = year
            if date_from is not None:
                body["from"] = date_from.isoformat()
            if date_to is not None:
                body["to"] = date_to.isoformat()
            # the totals only, unless some field of the window wants the breakdown
            body["detail"] = "full" if any(keys[i].full for i in idx) else "totals"
            units = [{"unit": keys[i].code, "as_of": keys[i].as_of.isoformat()} for i in idx]
            try:
                items = await self.lookup("/v1/summaries/lookup", "keys", units, body)
            except GatewayError as exc:
                for i in idx:
                    out[i] = exc
                return
            for i, item in zip(idx, items, strict=True):
                out[i] = item

        await asyncio.gather(*(one(w, idx) for w, idx in windows.items()))
        return [
            item if item is not None else _no_funding_unit(k)
            for item, k in zip(out, keys, strict=True)
        ]

    async def write(self, path: str, body: JSON) -> JSON:
        """POST a ledger write. Retrying it on a transport error is safe: every write carries
        its idempotency key (`external_id`), so a repeat answers the first result."""
        result: JSON = await self.request("POST", path, json=body)
        return result


def _no_funding_unit(key: FundingKey) -> GatewayError:
    return GatewayError(
        "NOT_FOUND",
        f"Không có số liệu huy động vốn cho đơn vị {key.code} vào ngày {key.as_of:%d/%m/%Y}.",
        f"No funding ledger unit {key.code} on {key.as_of.isoformat()}.",
        field="funding",
    )


class MissingUpstream(UpstreamClient):
    """Stands in for a service the gateway was not configured with: every call fails."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: JSON | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        retry: bool = True,
    ) -> Any:
        raise GatewayError(
            "UPSTREAM_UNAVAILABLE",
            f"Cổng GraphQL chưa được cấu hình dịch vụ '{self.name}'.",
            f"The gateway is not configured with the '{self.name}' service"
            f" (NTM_{self.name.upper()}_URL).",
            service=self.name,
        )


class MissingFunding(MissingUpstream, FundingClient):
    pass


def missing_funding() -> FundingClient:
    return MissingFunding(httpx.AsyncClient(base_url="http://funding.invalid"))


APPRAISAL_UNIT_CODE = re.compile(r"^\d{2,5}$")  # dossiers are opened on communes and above


class AppraisalClient(UpstreamClient):
    """The appraisal service: dossiers read in batches, and its writes with the actor's headers."""

    max_batch = 500

    def __init__(self, http: httpx.AsyncClient) -> None:
        super().__init__("appraisal", http)

    async def get_dossier(self, dossier_id: str) -> JSON | None:
        try:
            item: JSON = await self.request("GET", f"/v1/dossiers/{dossier_id}")
        except GatewayError as exc:
            if exc.extensions["code"] == "NOT_FOUND":
                return None
            raise
        return item

    async def list_dossiers(self, params: JSON) -> JSON:
        page: JSON = await self.request(
            "GET", "/v1/dossiers", params={k: v for k, v in params.items() if v is not None}
        )
        return page

    async def lookup_unit_dossiers(self, codes: list[str]) -> list[list[JSON]]:
        """Every dossier of each unit, one POST for all of them (villages have none)."""
        out: list[list[JSON]] = [[] for _ in codes]
        idx = [i for i, c in enumerate(codes) if APPRAISAL_UNIT_CODE.match(c)]
        if not idx:
            return out
        items = await self.lookup("/v1/dossiers/lookup", "units", [codes[i] for i in idx])
        for i, item in zip(idx, items, strict=True):
            out[i] = item
        return out

    async def write(self, path: str, body: JSON, headers: dict[str, str]) -> JSON:
        """POST a dossier write as the actor of `headers`. Retried on a transport error only
        with an `Idempotency-Key`, which makes appraisal answer a repeat with the first result;
        without one a repeat after a lost answer could act twice."""
        result: JSON = await self.request(
            "POST", path, json=body, headers=headers, retry="Idempotency-Key" in headers
        )
        return result


class MissingAppraisal(MissingUpstream, AppraisalClient):
    pass


def missing_appraisal() -> AppraisalClient:
    return MissingAppraisal(httpx.AsyncClient(base_url="http://appraisal.invalid"))


@dataclass
class Upstreams:
    """The service clients one gateway process holds for its lifetime."""

    criteria: CriteriaClient
    # optional so that a gateway configured before funding existed still starts; its funding
    # fields then fail with UPSTREAM_UNAVAILABLE
    funding: FundingClient = field(default_factory=missing_funding)
    appraisal: AppraisalClient = field(default_factory=missing_appraisal)

    async def aclose(self) -> None:
        await self.criteria.http.aclose()
        await self.funding.http.aclose()
        await self.appraisal.http.aclose()
