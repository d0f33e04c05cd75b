"""Failures the client did not cause (issue 6 point 5): an unexpected error is masked behind a
correlation id that its log record carries; an upstream service that is down costs only the
fields it serves (a partial result with a typed error there), not the request."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.app import create_app as create_gateway_app
from shared.logging import RequestContextMiddleware
from shared.settings import Settings
from tests.conftest import DEFAULT_HEADERS
from tests.gateway.served import closed_port, gateway

COMMUNES_WITH_FUNDING = """
{ unit(code: "395", asOf: "2023-05-19") {
    name
    children(first: 50) { totalCount nodes { code name funding(year: 2023) { total } } }
} }
"""


class _Garbled(httpx.AsyncBaseTransport):
    """An upstream that answers 200 with a body that is not JSON: a bug, not user input."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>secret stack</html>")


def garbled_gateway(settings: Settings) -> FastAPI:
    return create_gateway_app(settings, transports={"criteria": _Garbled()})


class TestUnexpectedErrors:
    async def test_masked_with_a_correlation_id_that_the_log_record_carries(
        self, settings: Settings, caplog: pytest.LogCaptureFixture
    ) -> None:
        app = garbled_gateway(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://g", headers=DEFAULT_HEADERS
            ) as c,
        ):
            with caplog.at_level(logging.ERROR, logger="ntm.gateway"):
                response = await c.post("/graphql", json={"query": '{ unit(code:"38") { name } }'})
        body = response.json()
        [error] = body["errors"]
        assert error["message"] == "Unexpected error."
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert error["path"] == ["unit"]
        assert "secret" not in response.text
        correlation_id = error["extensions"]["request_id"]
        [record] = [r for r in caplog.records if r.name == "ntm.gateway"]
        assert record.levelno == logging.ERROR
        assert record.__dict__["request_id"] == correlation_id
        assert record.exc_info is not None  # the traceback is in the log, not in the answer
        assert "unit" in record.getMessage()

    async def test_the_correlation_id_is_the_request_id_when_one_is_served(
        self, settings: Settings, caplog: pytest.LogCaptureFixture
    ) -> None:
        app = garbled_gateway(settings)
        served = RequestContextMiddleware(app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=served),
                base_url="http://g",
                headers=DEFAULT_HEADERS,
            ) as c,
        ):
            with caplog.at_level(logging.ERROR, logger="ntm.gateway"):
                response = await c.post(
                    "/graphql",
                    json={"query": '{ unit(code:"38") { name } }'},
                    headers={"x-request-id": "phuong-an-7"},
                )
        assert response.headers["x-request-id"] == "phuong-an-7"
        assert response.json()["errors"][0]["extensions"]["request_id"] == "phuong-an-7"
        [record] = [r for r in caplog.records if r.name == "ntm.gateway"]
        assert record.__dict__["request_id"] == "phuong-an-7"

    async def test_expected_errors_are_not_logged_as_failures(
        self, settings: Settings, criteria_app: FastAPI, caplog: pytest.LogCaptureFixture
    ) -> None:
        async with gateway(settings, criteria_app) as gw:
            with caplog.at_level(logging.ERROR, logger="ntm.gateway"):
                bad = (await gw.post('{ unit(code:"x") { name } }')).json()
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert [r for r in caplog.records if r.name == "ntm.gateway"] == []


class TestUpstreamDown:
    async def test_funding_down_costs_only_the_funding_fields(
        self, settings: Settings, criteria_app: FastAPI
    ) -> None:
        down = f"http://127.0.0.1:{closed_port()}"
        async with gateway(settings, criteria_app, funding_url=down) as gw:
            response = await gw.post(COMMUNES_WITH_FUNDING)
            assert response.status_code == 200
            body = response.json()
            calls = list(gw.upstream_calls)
        unit = body["data"]["unit"]
        assert unit["name"] == "Huyện Thọ Xuân"
        nodes = unit["children"]["nodes"]
        assert len(nodes) == unit["children"]["totalCount"] == 30
        assert all(n["code"] and n["name"] and n["funding"] is None for n in nodes)
        assert len(body["errors"]) == 30
        for i, error in enumerate(body["errors"]):
            assert error["path"] == ["unit", "children", "nodes", i, "funding"]
            assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
            assert error["extensions"]["service"] == "funding"
            assert error["extensions"]["message_vi"]
        # one batched funding call, tried twice (a transport error is retried once)
        assert calls.count("POST /v1/summaries/lookup") == 2

    async def test_criteria_down_leaves_the_appraisal_root_field_answering(
        self, settings: Settings, appraisal_app: FastAPI
    ) -> None:
        down = f"http://127.0.0.1:{closed_port()}"
        app = create_gateway_app(
            Settings(**{**settings.model_dump(), "criteria_url": down}),
            transports={"appraisal": httpx.ASGITransport(app=appraisal_app)},
        )
        query = '{ unit(code:"38") { name } dossiers(first: 5) { totalCount } }'
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://g", headers=DEFAULT_HEADERS
            ) as c,
        ):
            response = await c.post("/graphql", json={"query": query})
        assert response.status_code == 200
        body = response.json()
        assert body["data"] == {"unit": None, "dossiers": {"totalCount": 0}}
        [error] = body["errors"]
        assert error["path"] == ["unit"]
        assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
        assert error["extensions"]["service"] == "criteria"
