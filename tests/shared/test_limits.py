"""What one client may send the services' REST APIs (shared/limits.py, applied by
build_service_app): a body over the limit is a 413 before any database work, a bulk import of
several MiB still passes, a client over its rate is a 429 with Retry-After while another client
goes on; in the embedded process the gateway's own calls to the services are not counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from services.funding.app import create_app as create_funding_app
from services.runtime import create_embedded_app
from shared.db import Database
from shared.limits import RateLimiter
from shared.settings import Settings
from tests.conftest import DEFAULT_HEADERS, auth_headers

PROBLEM_JSON = "application/problem+json"
MiB = 1024 * 1024


def transfer(external_id: str, padding: int = 0) -> dict[str, Any]:
    """A valid transfer; `padding` characters of an extra field (ignored, but sent)."""
    return {
        "external_id": external_id,
        "unit": "15592",
        "source": "NSTW-DT",
        "amount": 1_250_000_000,
        "date": "2023-04-12",
        "ghi_chu": "x" * padding,
    }


async def transfers(db: Database) -> int:
    async with db.engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM funding.transfers"))
    return int(count or 0)


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["code"] == code
    assert body["message_vi"]
    assert body["message_en"]


@pytest.fixture
async def funding_with(settings: Settings, db: Database) -> AsyncIterator[Any]:
    """`await funding_with(**changes)`: a REST client of a funding app built with `changes`
    to the settings."""
    clients: list[httpx.AsyncClient] = []

    async def build(**changes: Any) -> httpx.AsyncClient:
        changed = Settings(**{**settings.model_dump(), **changes})
        app = create_funding_app(changed, db)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://funding",
            headers=DEFAULT_HEADERS,
        )  # fmt: skip
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


async def chunked(body: bytes) -> AsyncIterator[bytes]:
    """The body without a Content-Length (sent as it is generated)."""
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


class TestBodyLimit:
    async def test_a_body_over_the_default_limit_is_a_413_before_any_database_work(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        big = orjson.dumps(transfer("XM-BIG", padding=MiB + 1))
        declared = await funding.post(
            "/v1/transfers", content=big, headers={"content-type": "application/json"}
        )
        assert_problem(declared, 413, "body_too_large")
        assert str(MiB) in declared.json()["message_vi"]
        streamed = await funding.post(
            "/v1/transfers", content=chunked(big), headers={"content-type": "application/json"}
        )
        assert "content-length" not in streamed.request.headers
        assert_problem(streamed, 413, "body_too_large")
        assert await transfers(db) == 0
        # the same transfer under the limit is posted: only the size was refused
        small = orjson.dumps(transfer("XM-BIG", padding=MiB // 2))
        posted = await funding.post(
            "/v1/transfers", content=small, headers={"content-type": "application/json"}
        )
        assert posted.status_code == 201, posted.text
        assert await transfers(db) == 1

    async def test_a_bulk_import_of_several_mib_passes(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        rows = [transfer(f"XM-2023-{i:05d}", padding=1500) for i in range(2500)]
        body = b"".join(orjson.dumps(r) + b"\n" for r in rows)
        assert 3 * MiB < len(body) < 5 * MiB  # over the ordinary limit, under the job's size
        response = await funding.post(
            "/v1/imports/transfers",
            content=chunked(body),
            headers={"content-type": "application/x-ndjson"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["created"] == 2500
        assert await transfers(db) == 2500

    async def test_the_import_limit_is_a_setting_and_refuses_before_any_row(
        self, funding_with: Any, db: Database
    ) -> None:
        client = await funding_with(rest_import_max_body_bytes=MiB)
        rows = [transfer(f"XM-2023-{i:05d}", padding=1500) for i in range(1000)]
        body = b"".join(orjson.dumps(r) + b"\n" for r in rows)
        for content in (body, chunked(body)):
            response = await client.post(
                "/v1/imports/transfers",
                content=content,
                headers={"content-type": "application/x-ndjson"},
            )
            assert_problem(response, 413, "body_too_large")
        assert await transfers(db) == 0


class TestRateLimit:
    async def test_a_client_over_its_rate_gets_429_and_another_client_does_not(
        self, funding_with: Any
    ) -> None:
        client = await funding_with(rest_rate_per_minute=6, rest_rate_burst=2)
        assert [(await client.get("/v1/sources")).status_code for _ in range(2)] == [200, 200]
        refused = await client.get("/v1/sources")
        assert_problem(refused, 429, "rate_limited")
        assert 1 <= int(refused.headers["retry-after"]) <= 10  # 6 a minute: one per 10 s
        # the bucket is the subject's, whichever token it holds
        again = await client.get("/v1/sources", headers=auth_headers(subject="test-central"))
        assert again.status_code == 429
        other = auth_headers("province_officer", "38", subject="someone-else")
        assert (await client.get("/v1/sources", headers=other)).status_code == 200
        # no token: counted by address; a bad token too (it takes no one's bucket)
        for headers in ({"authorization": ""}, {"authorization": "Bearer not-a-token"}):
            assert (await client.get("/v1/sources", headers=headers)).status_code == 200

    async def test_off_by_default_outside_production(self, funding: httpx.AsyncClient) -> None:
        statuses = {(await funding.get("/v1/sources")).status_code for _ in range(100)}
        assert statuses == {200}

    def test_on_by_default_in_production(self) -> None:
        assert Settings(env="test").rest_rate_limit == 0
        production = Settings(env="production")
        assert production.rest_rate_limit == 3000
        assert Settings(env="production", rest_rate_per_minute=0).rest_rate_limit == 0


DASHBOARD = """{ unit(code: "395", asOf: "2023-05-19") {
  name children(first: 3) { nodes { code funding(year: 2023) { total } } } } }"""


class TestEmbeddedProcess:
    async def test_gateway_calls_are_not_counted_and_rest_calls_once(
        self, settings: Settings, database_url: str, db: Database
    ) -> None:
        changed = Settings(
            **{**settings.model_dump(), "rest_rate_per_minute": 1, "rest_rate_burst": 2}
        )
        app: FastAPI = create_embedded_app(changed, database_url)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://ntm",
                headers=DEFAULT_HEADERS,
            ) as client,
        ):  # fmt: skip
            # each query calls criteria and funding in-process: more calls than the burst
            for _ in range(3):
                response = await client.post("/graphql", json={"query": DASHBOARD})
                assert response.status_code == 200
                assert "errors" not in response.json(), response.json()
            # the client's own REST calls: its whole burst is left, each call counted once
            statuses = [(await client.get("/funding/v1/sources")).status_code for _ in range(3)]
            assert statuses == [200, 200, 429]
            # one bucket per service
            assert (await client.get("/criteria/v1/criteria-sets")).status_code == 200


class TestRateLimiter:
    def test_a_burst_then_one_request_per_interval(self) -> None:
        limiter = RateLimiter(per_minute=60, burst=3)
        assert [limiter.admit("a", now=0.0) for _ in range(3)] == [None, None, None]
        assert limiter.admit("a", now=0.0) == pytest.approx(1.0)
        assert limiter.admit("a", now=0.5) == pytest.approx(0.5)
        assert limiter.admit("a", now=1.0) is None
        assert limiter.admit("a", now=1.0) == pytest.approx(1.0)

    def test_a_refused_request_does_not_spend_a_token(self) -> None:
        limiter = RateLimiter(per_minute=60, burst=1)
        assert limiter.admit("a", now=0.0) is None
        for _ in range(5):
            assert limiter.admit("a", now=0.1) is not None
        assert limiter.admit("a", now=1.0) is None

    def test_the_bucket_refills_up_to_the_burst_only(self) -> None:
        limiter = RateLimiter(per_minute=60, burst=2)
        assert limiter.admit("a", now=0.0) is None
        results = [limiter.admit("a", now=3600.0) for _ in range(3)]
        assert results[:2] == [None, None]
        assert results[2] is not None

    def test_clients_have_their_own_buckets(self) -> None:
        limiter = RateLimiter(per_minute=60, burst=1)
        assert limiter.admit("a", now=0.0) is None
        assert limiter.admit("a", now=0.0) is not None
        assert limiter.admit("b", now=0.0) is None
