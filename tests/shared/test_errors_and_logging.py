"""problem+json rendering and the request id, through a real app."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from shared.errors import NotFound, install_error_handlers
from shared.logging import JsonFormatter, RequestContextMiddleware, current_request_id


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("Không thấy.", "Not there.", code="thing.not_found")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/typed/{n}")
    async def typed(n: int) -> dict[str, int]:
        return {"n": n}

    @app.get("/rid")
    async def rid() -> dict[str, str | None]:
        return {"rid": current_request_id()}

    return app


@pytest.fixture
async def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=RequestContextMiddleware(_app()), raise_app_exceptions=False
    )
    return httpx.AsyncClient(transport=transport, base_url="http://t")


class TestProblemJson:
    async def test_domain_error_has_code_and_both_messages(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/missing")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "thing.not_found"
        assert body["message_vi"] == "Không thấy."
        assert body["message_en"] == "Not there."
        assert body["request_id"] == response.headers["x-request-id"]

    async def test_validation_error_names_the_field(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/typed/abc")
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "validation_failed"
        assert [e["field"] for e in body["errors"]] == ["n"]
        assert "'n'" in body["errors"][0]["message_vi"]

    async def test_unknown_route_is_a_problem_too(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/nope")
        assert response.status_code == 404
        assert response.json()["code"] == "http.404"

    async def test_unexpected_error_hides_internals(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/boom")
        assert response.status_code == 500
        assert "secret internals" not in response.text
        assert response.json()["code"] == "internal_error"


class TestRequestId:
    async def test_incoming_request_id_is_kept_and_echoed(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/rid", headers={"x-request-id": "abc-123"})
        assert response.json() == {"rid": "abc-123"}
        assert response.headers["x-request-id"] == "abc-123"

    async def test_a_request_id_is_made_when_none_comes(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/rid")
        rid = response.json()["rid"]
        assert len(rid) == 32
        assert response.headers["x-request-id"] == rid

    def test_json_formatter_writes_extras_and_vietnamese_unescaped(self) -> None:
        record = logging.LogRecord("ntm.t", logging.INFO, __file__, 1, "Đã tải", None, None)
        record.rows = 3
        line = JsonFormatter().format(record)
        assert '"msg":"Đã tải"' in line
        assert '"rows":3' in line
