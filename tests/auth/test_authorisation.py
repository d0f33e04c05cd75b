"""Authorisation beyond the matrix: the scope rule through the 2025 lineage, the policy table
bound to every route, import rows outside the caller's scope rejected one by one, anonymous
aggregates, the gateway's own authentication and the caller's token on service-to-service
calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx
import orjson
import pytest
from fastapi import APIRouter, FastAPI

from services.criteria import imports as criteria_imports
from services.funding import imports as funding_imports
from services.funding.app import create_app as create_funding_app
from services.gateway.app import create_app as create_gateway_app
from shared.authz import PUBLIC, Policy, PolicyMismatch, ScopeIndex, scope_index
from shared.db import Database
from shared.service import build_service_app
from shared.settings import Settings
from tests.appraisal.test_dossiers_api import (
    COMMUNE,
    DECISION,
    H_PROVINCE,
    act,
    create,
    meet_every_indicator,
    ok,
    walk_to_decision,
)
from tests.conftest import auth_headers

NDJSON = "application/x-ndjson"
HANOI_COMMUNE = "00004"  # Phường Trúc Bạch, Hà Nội: outside province 38


class TestScopeIndex:
    def test_a_unit_is_covered_from_itself_its_ancestors_and_its_lineage(self) -> None:
        index = ScopeIndex.build(
            [
                ("26", "legacy", ["26"]),
                ("243", "legacy", ["26", "243"]),
                ("08710", "legacy", ["26", "243", "08710"]),
                ("25", "2025", ["25"]),
                ("08716", "2025", ["25", "08716"]),
            ],
            [("08710", "08716"), ("26", "25")],
        )
        # the old commune: its district and province, and the new province it went to
        assert index.reach_of("08710") == frozenset({"08710", "243", "26", "08716", "25"})
        # the new commune: its new province, and the old commune and its old superiors
        assert index.reach_of("08716") == frozenset({"08716", "25", "08710", "243", "26"})
        assert index.covers("243", "08716-01")  # a village, through its commune
        assert not index.covers("244", "08716")
        assert index.covers(None, "08716")  # the whole country
        assert index.covers("244", "99999")  # no such unit: left to the route (404 / 422)

    async def test_the_national_index_follows_the_2025_reorganisation(self) -> None:
        index = await scope_index()
        # legacy Xuân Minh (15592) merged with 15583 and others into the new Xuân Lập (15592)
        assert index.covers("15583", "15592")
        assert index.covers("15592", "15583")
        assert index.covers("395", "15592")
        assert not index.covers("396", "15592")
        # Vĩnh Phúc (26) went into Phú Thọ (25): 08710 became part of the new 08716
        assert index.covers("25", "08710")
        assert index.covers("26", "08716")
        assert not index.covers("38", HANOI_COMMUNE)


class TestPolicyTable:
    def test_a_route_without_a_rule_stops_the_app(self, settings: Settings) -> None:
        router = APIRouter()

        @router.get("/v1/covered")
        async def covered() -> dict[str, str]:
            return {}

        @router.post("/v1/forgotten")
        async def forgotten() -> dict[str, str]:
            return {}

        with pytest.raises(PolicyMismatch, match="POST /v1/forgotten"):
            build_service_app(
                title="t", description="", settings=settings, trees=[], routers=[router],
                policy=Policy({"GET /v1/covered": PUBLIC}),
            )  # fmt: skip

    def test_a_rule_for_no_route_stops_the_app(self, settings: Settings) -> None:
        with pytest.raises(PolicyMismatch, match="GET /v1/gone"):
            build_service_app(
                title="t", description="", settings=settings, trees=[], routers=[],
                policy=Policy({"GET /v1/gone": PUBLIC}),
            )  # fmt: skip


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in rows) + b"\n"


class TestImportRowsOutsideTheScope:
    async def test_transfer_rows_outside_the_callers_scope_are_rejected_rows(
        self, funding: httpx.AsyncClient
    ) -> None:
        rows = [
            {"external_id": "AUTH-1", "unit": COMMUNE, "source": "NSTW-DT", "amount": 1_000_000,
             "date": "2023-04-12"},
            {"external_id": "AUTH-2", "unit": HANOI_COMMUNE, "source": "NSTW-DT",
             "amount": 2_000_000, "date": "2023-04-12"},
        ]  # fmt: skip
        response = await funding.post(
            "/v1/imports/transfers",
            params={"mode": "partial"},
            content=ndjson(rows),
            headers={"Content-Type": NDJSON, **auth_headers("district_officer", "395")},
        )
        assert response.status_code == 200, response.text
        summary = response.json()
        assert (summary["created"], summary["rejected"]) == (1, 1)
        assert [(e["line"], e["field"], e["code"]) for e in summary["errors"]] == [
            (2, "unit", "auth.out_of_scope")
        ]
        assert summary["errors"][0]["message_vi"]
        # the whole country's officer imports the same row
        again = await funding.post(
            "/v1/imports/transfers", content=ndjson(rows[1:]), headers={"Content-Type": NDJSON}
        )
        assert again.json()["created"] == 1

    async def test_an_atomic_import_of_indicator_values_names_the_row_outside(
        self, criteria: httpx.AsyncClient
    ) -> None:
        row = {"set": "xa-ntm-2021", "year": 2023, "indicator": "1.1", "value": True,
               "as_of": "2023-05-19"}  # fmt: skip
        response = await criteria.post(
            "/v1/imports/indicator-values",
            content=ndjson([{**row, "unit": COMMUNE}, {**row, "unit": HANOI_COMMUNE}]),
            headers={
                "Content-Type": NDJSON,
                **auth_headers("integrator", "38", scopes=["import:indicator-values"]),
            },
        )
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "import.rejected"
        assert [(e["row"], e["code"]) for e in body["errors"]] == [(2, "auth.out_of_scope")]

    async def test_an_integrator_without_the_import_scope_is_refused_as_a_whole(
        self, funding: httpx.AsyncClient
    ) -> None:
        response = await funding.post(
            "/v1/imports/transfers",
            content=b"",
            headers={"Content-Type": NDJSON,
                     **auth_headers("integrator", "38", scopes=["read:transfers"])},
        )  # fmt: skip
        assert response.status_code == 403
        assert response.json()["code"] == "auth.scope_missing"


async def ended(client: httpx.AsyncClient, url: str) -> None:
    """Wait for a job to end (before the next test resets the tables under it)."""
    for _ in range(400):
        if (await client.get(url)).json()["status"] in ("succeeded", "failed"):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"job {url} did not end")


class TestImportJobsReadInScope:
    """A job is read by its submitter, by callers whose scope covers the submitter's unit and
    by national callers; anyone else is refused as out of scope."""

    SUBMITTER = auth_headers("province_officer", "01", subject="so-tai-chinh-ha-noi")
    KINDS: ClassVar[dict[str, tuple[Any, dict[str, Any]]]] = {
        "transfers": (
            funding_imports,
            {"external_id": "JOB-01", "unit": HANOI_COMMUNE, "source": "NSTW-DT",
             "amount": 1_000_000, "date": "2023-04-12"},
        ),
        "indicator-values": (
            criteria_imports,
            {"unit": HANOI_COMMUNE, "set": "xa-ntm-2021", "year": 2023, "indicator": "1.1",
             "value": True, "as_of": "2023-05-19"},
        ),
    }  # fmt: skip

    @pytest.mark.parametrize("kind", ["transfers", "indicator-values"])
    async def test_a_province_job_is_read_by_its_submitter_and_its_scope_only(
        self,
        kind: str,
        criteria: httpx.AsyncClient,
        funding: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        client = funding if kind == "transfers" else criteria
        module, row = self.KINDS[kind]
        monkeypatch.setattr(module, "JOB_THRESHOLD_ROWS", 1)
        submitted = await client.post(
            f"/v1/imports/{kind}",
            params={"dry_run": "true"},
            content=ndjson([row, row]),
            headers={"Content-Type": NDJSON, **self.SUBMITTER},
        )
        assert submitted.status_code == 202, submitted.text
        assert submitted.json()["submitter_unit"] == "01"
        url = submitted.headers["location"]

        async def status_of(headers: dict[str, str]) -> tuple[int, str | None]:
            response = await client.get(url, headers=headers)
            problem = response.headers["content-type"].startswith("application/problem+json")
            return response.status_code, response.json().get("code") if problem else None

        assert await status_of(self.SUBMITTER) == (200, None)
        assert await status_of(auth_headers("central_officer")) == (200, None)
        assert await status_of(auth_headers("auditor")) == (200, None)
        assert await status_of(auth_headers("province_officer", "01")) == (200, None)
        refused = (403, "auth.out_of_scope")
        assert await status_of(auth_headers("province_officer", "38")) == refused
        # under province 01, but a district does not cover a job of the province
        assert await status_of(auth_headers("district_officer", "001")) == refused
        assert await status_of(auth_headers("auditor", "38")) == refused
        # the submitter reads their own job whatever their unit
        moved = auth_headers("district_officer", "001", subject="so-tai-chinh-ha-noi")
        assert await status_of(moved) == (200, None)
        unknown = url.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"
        response = await client.get(unknown, headers=auth_headers("province_officer", "38"))
        assert (response.status_code, response.json()["code"]) == (404, "import_job.not_found")
        await ended(client, url)

    async def test_a_national_job_is_read_by_national_callers_only(
        self, funding: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(funding_imports, "JOB_THRESHOLD_ROWS", 1)
        _, row = self.KINDS["transfers"]
        submitted = await funding.post(
            "/v1/imports/transfers",
            params={"dry_run": "true"},
            content=ndjson([row, row]),
            headers={"Content-Type": NDJSON},  # the client's central officer
        )
        assert submitted.status_code == 202, submitted.text
        assert submitted.json()["submitter_unit"] is None
        url = submitted.headers["location"]
        assert (await funding.get(url, headers=auth_headers("auditor"))).status_code == 200
        response = await funding.get(url, headers=auth_headers("province_officer", "01"))
        assert (response.status_code, response.json()["code"]) == (403, "auth.out_of_scope")
        assert response.headers["content-type"].startswith("application/problem+json")
        await ended(funding, url)


class TestAnonymousAggregates:
    async def test_published_aggregates_open_to_anonymous_callers_only_when_configured(
        self, settings: Settings, db: Database
    ) -> None:
        report = f"/v1/units/{COMMUNE}/report"
        for allowed in (False, True):
            app = create_funding_app(
                settings.model_copy(update={"auth_anonymous_aggregates": allowed}), db
            )
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://funding"
            ) as anonymous:
                got = await anonymous.get(report, params={"as_of": "2023-05-19"})
                assert got.status_code == (200 if allowed else 401), got.text
                ledger = await anonymous.get("/v1/transfers", params={"unit": COMMUNE})
                assert ledger.status_code == 401
                assert ledger.json()["code"] == "auth.token_missing"


class Recording(httpx.AsyncBaseTransport):
    """Passes requests on and keeps the `Authorization` each carried."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.url.path, request.headers.get("authorization")))
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def gateway(
    settings: Settings, criteria_app: FastAPI, funding_app: FastAPI
) -> AsyncIterator[tuple[httpx.AsyncClient, Recording]]:
    criteria = Recording(httpx.ASGITransport(app=criteria_app))
    app = create_gateway_app(
        settings,
        transports={"criteria": criteria, "funding": httpx.ASGITransport(app=funding_app)},
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c,
    ):
        yield c, criteria


QUERY = '{ unit(code: "15592", asOf: "2023-05-19") { name } }'


class TestGateway:
    async def test_a_query_without_a_valid_token_is_an_http_401(
        self, gateway: tuple[httpx.AsyncClient, Recording]
    ) -> None:
        client, upstream = gateway
        for headers, code in (
            ({}, "auth.token_missing"),
            ({"Authorization": "Bearer x.y.z"}, "auth.token_invalid"),
        ):
            response = await client.post("/graphql", json={"query": QUERY}, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["code"] == code
        assert upstream.seen == []
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200  # the GraphiQL page itself

    async def test_the_callers_token_goes_with_every_upstream_call(
        self, gateway: tuple[httpx.AsyncClient, Recording]
    ) -> None:
        client, upstream = gateway
        headers = auth_headers("province_officer", "38")
        response = await client.post("/graphql", json={"query": QUERY}, headers=headers)
        assert response.json()["data"]["unit"]["name"] == "Xã Xuân Minh"
        assert upstream.seen
        assert {auth for _, auth in upstream.seen} == {headers["Authorization"]}

    async def test_a_refused_mutation_is_access_denied(
        self, gateway: tuple[httpx.AsyncClient, Recording]
    ) -> None:
        client, _ = gateway
        mutation = """mutation { recordTransfer(idempotencyKey: "AUTH-GQL-1", input: {
            unit: "00004", source: "NSTW-DT", amount: 1000, date: "2023-04-12"}) {
            __typename ... on UserError { code messageVi } } }"""
        response = await client.post(
            "/graphql", json={"query": mutation}, headers=auth_headers("district_officer", "395")
        )
        payload = response.json()["data"]["recordTransfer"]
        assert payload["__typename"] == "AccessDenied"
        assert payload["code"] == "auth.out_of_scope"
        assert payload["messageVi"]


class TestAppraiserSectors:
    async def test_an_appraiser_with_sectors_reviews_only_their_criteria(
        self, appraisal: httpx.AsyncClient
    ) -> None:
        dossier = (await create(appraisal))["id"]
        review = {"department": "Sở GTVT", "reviewer": "chuyên viên", "result": "met"}
        transport = auth_headers("appraiser", "38", sectors=["transport"])

        async def put(piece: str, headers: dict[str, str]) -> str:
            url = f"/v1/dossiers/{dossier}/content/{piece}"
            response = await appraisal.put(url, json=review, headers=headers)
            assert response.status_code == 403, response.text
            return str(response.json()["code"])

        # criterion 2 (roads) is the transport sector's: past the sector check, the dossier is
        # still the commune's to edit; criterion 5 (schools) is not theirs
        assert await put("sector_review.2", transport) == "dossier.locked"
        assert await put("sector_review.5", transport) == "dossier.sector_forbidden"
        assert await put("sector_review.5", auth_headers("appraiser", "38")) == "dossier.locked"


class TestServiceToService:
    async def test_appraisal_reads_criteria_and_funding_with_the_callers_token(
        self, appraisal: httpx.AsyncClient, appraisal_app: FastAPI, criteria: httpx.AsyncClient
    ) -> None:
        await meet_every_indicator(criteria)
        dossier = (await create(appraisal))["id"]
        await walk_to_decision(appraisal, dossier)
        recorders = {
            name: Recording(transport) for name, transport in appraisal_app.state.transports.items()
        }
        appraisal_app.state.transports = recorders
        appraisal_app.state.upstreams = None  # clients made afresh over the recorders
        # the decision reads criteria's evaluation and funding's construction debt (a ledger
        # read, refused without a token) on behalf of the province officer
        await ok(
            await act(appraisal, dossier, "approve", H_PROVINCE, decision=DECISION), "recognised"
        )
        calls = recorders["criteria"].seen + recorders["funding"].seen
        assert any(path.endswith("/construction-debt") for path, _ in calls)
        assert {auth for _, auth in calls} == {H_PROVINCE["Authorization"]}
