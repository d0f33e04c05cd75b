"""Appraisal's reads of the criteria service (services/appraisal/upstream.py), against the
real criteria app: what criteria does not have reads as None, what it refuses is the caller's
client error (its status, code and fields), and only a service that does not answer (or
answers 5xx) is `upstream.unavailable`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.appraisal.errors import UpstreamRefused, UpstreamUnavailable
from services.appraisal.upstream import Upstreams
from shared.auth import forward_authorization
from shared.settings import Settings
from tests.conftest import auth_headers

AS_OF = date(2023, 5, 19)


@pytest.fixture
async def ups(settings: Settings, criteria_app: FastAPI) -> AsyncIterator[Upstreams]:
    """Upstreams over the real criteria app."""
    out = Upstreams(settings, {"criteria": httpx.ASGITransport(app=criteria_app)})
    yield out
    await out.aclose()


def as_officer() -> None:
    """Reads made from here on carry a commune officer's token, as in a request of theirs."""
    forward_authorization(auth_headers("commune_officer", "15592")["Authorization"])


class TestCriteriaAnswers:
    async def test_a_unit_criteria_has_is_read(self, ups: Upstreams) -> None:
        as_officer()
        unit = await ups.unit("15592", AS_OF)
        assert unit is not None
        assert unit["code"] == "15592"

    async def test_a_unit_criteria_does_not_have_is_none(self, ups: Upstreams) -> None:
        as_officer()
        assert await ups.unit("99999", AS_OF) is None
        assert await ups.criteria_set("khong-co") is None

    async def test_a_request_criteria_refuses_is_its_422_naming_the_field(
        self, ups: Upstreams
    ) -> None:
        as_officer()
        with pytest.raises(UpstreamRefused) as refused:
            await ups.evaluation("15592", "xa-ntm-2021", 1999, AS_OF)  # criteria takes 2010-2035
        problem = refused.value
        assert (problem.status, problem.code) == (422, "validation_failed")
        assert [e.field for e in problem.errors] == ["year"]
        assert "criteria" in problem.message_en
        assert "year" in problem.message_en
        assert problem.message_vi.startswith("Dịch vụ criteria từ chối yêu cầu")

    async def test_a_token_criteria_will_not_take_is_the_deployments_fault(
        self, ups: Upstreams
    ) -> None:
        forward_authorization(None)  # nothing to forward: criteria answers 401
        with pytest.raises(UpstreamUnavailable) as down:
            await ups.evaluation("15592", "xa-ntm-2021", 2023, AS_OF)
        assert (down.value.status, down.value.code) == (503, "upstream.unavailable")


class TestCriteriaDown:
    async def test_no_connection_is_503(self, settings: Settings) -> None:
        closed = settings.model_copy(update={"criteria_url": "http://127.0.0.1:9"})
        ups = Upstreams(closed)
        try:
            with pytest.raises(UpstreamUnavailable) as down:
                await ups.unit("15592", AS_OF)
        finally:
            await ups.aclose()
        assert down.value.status == 503

    async def test_a_server_error_is_503(self, settings: Settings) -> None:
        async def broken(request: Request) -> JSONResponse:
            return JSONResponse({"code": "internal_error"}, status_code=500)

        app = Starlette(routes=[Route("/v1/units/{code}", broken)])
        ups = Upstreams(settings, {"criteria": httpx.ASGITransport(app=app)})
        try:
            with pytest.raises(UpstreamUnavailable) as down:
                await ups.unit("15592", AS_OF)
        finally:
            await ups.aclose()
        assert (down.value.status, down.value.code) == (503, "upstream.unavailable")
