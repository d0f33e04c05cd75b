"""Abuse limits of the gateway (issue 6 point 4): each refusal comes before any upstream call,
counted by httpx event hooks on the gateway's upstream clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.auth import local_key
from shared.errors import PROBLEM_JSON
from shared.settings import Settings
from tests.conftest import AUTH_SETTINGS, auth_headers
from tests.gateway.served import Gateway, gateway, over_http

DISTRICT = "395"  # Huyện Thọ Xuân, Thanh Hóa: 30 communes in 2023

DASHBOARD = """
query Dashboard($district: String!, $first: Int = 100) {
  unit(code: $district, asOf: "2023-05-19") {
    name
    children(level: COMMUNE, first: $first) {
      totalCount
      nodes {
        code name
        evaluation(criteriaSet: "xa-ntm-2021", year: 2023) { criteriaMet criteriaTotal }
        funding(year: 2023) { total }
      }
    }
  }
}
"""

OVER_COST = """
query($first: Int!) {
  units(level: PROVINCE, asOf: "2023-05-19", first: $first) {
    nodes { children(first: $first) { nodes { code name } } }
  }
}
"""


@pytest.fixture
async def gw(
    settings: Settings, criteria_app: FastAPI, funding_app: FastAPI
) -> AsyncIterator[Gateway]:
    """The gateway with the default limits."""
    async with gateway(settings, criteria_app, funding_app) as client:
        yield client


def only_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["message_vi"]
    assert error["extensions"]["message_en"]
    result: dict[str, Any] = error
    return result


def nested_parents(levels: int) -> str:
    return f'{{ unit(code:"15592") {{ {"parent { " * (levels - 2)}code{" }" * (levels - 2)} }} }}'


class TestDocumentLimits:
    async def test_a_20_level_nested_query_is_refused_before_any_upstream_call(
        self, gw: Gateway
    ) -> None:
        error = only_error(await gw.post(nested_parents(20)))
        assert error["extensions"]["code"] == "QUERY_TOO_DEEP"
        assert (error["extensions"]["actual"], error["extensions"]["limit"]) == (20, 12)
        assert "12" in error["extensions"]["message_vi"]
        assert gw.upstream_calls == []

    async def test_a_query_at_the_depth_limit_runs(self, gw: Gateway) -> None:
        response = await gw.post(nested_parents(12))
        assert "errors" not in response.json()
        assert gw.upstream_calls

    async def test_a_1000_alias_query_is_refused_before_any_upstream_call(
        self, gw: Gateway
    ) -> None:
        aliases = " ".join(f"a{i}: name" for i in range(1000))
        error = only_error(await gw.post(f'{{ unit(code:"38") {{ {aliases} }} }}'))
        assert error["extensions"]["code"] == "TOO_MANY_ALIASES"
        assert (error["extensions"]["actual"], error["extensions"]["limit"]) == (1000, 30)
        assert gw.upstream_calls == []

    async def test_aliases_inside_fragments_count_each_time_they_are_spread(
        self, gw: Gateway
    ) -> None:
        fragment = "fragment F on Unit { " + " ".join(f"a{i}: name" for i in range(10)) + " }"
        spreads = " ".join(f'u{i}: unit(code:"38") {{ ...F }}' for i in range(3))
        error = only_error(await gw.post(f"{{ {spreads} }} {fragment}"))
        assert error["extensions"]["code"] == "TOO_MANY_ALIASES"
        assert error["extensions"]["actual"] == 33
        assert gw.upstream_calls == []

    async def test_a_document_over_the_token_limit_is_refused_by_the_parser(
        self, gw: Gateway
    ) -> None:
        fields = " ".join(f'u{i}: unit(code:"38") {{ name }}' for i in range(600))
        error = only_error(await gw.post(f"{{ {fields} }}"))
        assert error["extensions"]["code"] == "TOO_MANY_TOKENS"
        assert gw.upstream_calls == []

    async def test_an_over_cost_list_request_is_refused_before_any_upstream_call(
        self, gw: Gateway
    ) -> None:
        error = only_error(await gw.post(OVER_COST, {"first": 1000}))
        assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
        assert error["extensions"]["actual"] > error["extensions"]["limit"] == 100_000
        assert "100.000" in error["extensions"]["message_vi"]
        assert gw.upstream_calls == []

    async def test_the_cost_reads_first_from_the_variables(self, gw: Gateway) -> None:
        response = await gw.post(OVER_COST, {"first": 3})
        body = response.json()
        assert "errors" not in body, body
        assert len(body["data"]["units"]["nodes"]) == 3
        assert gw.upstream_calls

    async def test_the_cost_takes_the_default_of_first_when_it_is_not_given(
        self, settings: Settings, criteria_app: FastAPI
    ) -> None:
        # units(first: 50) by default, children(first: 50): 50 × 50 nodes, 2 fields each
        query = '{ units(level: PROVINCE, asOf: "2023-05-19") { nodes { children { nodes { code name } } } } }'  # noqa: E501
        async with gateway(settings, criteria_app, graphql_max_cost=7_000) as gw:
            error = only_error(await gw.post(query))
        assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
        assert 7_000 < error["extensions"]["actual"] < 10_000

    async def test_the_cost_follows_fragments_and_their_page_sizes(self, gw: Gateway) -> None:
        query = (
            '{ units(level: PROVINCE, asOf: "2023-05-19", first: 1000) { ...Page } }'
            " fragment Page on UnitConnection { nodes { ... on Unit { children(first: 1000)"
            " { ...Names } } } } fragment Names on UnitConnection { nodes { code name } }"
        )
        error = only_error(await gw.post(query))
        assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
        assert error["extensions"]["actual"] > 2_000_000
        assert gw.upstream_calls == []

    async def test_a_fragment_cycle_is_a_validation_error_not_a_hang(self, gw: Gateway) -> None:
        query = (
            '{ unit(code: "38") { ...A } } fragment A on Unit { parent { ...B } }'
            " fragment B on Unit { parent { ...A } }"
        )
        body = (await gw.post(query)).json()
        assert body["data"] is None
        assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
        assert gw.upstream_calls == []

    async def test_the_district_dashboard_is_within_the_default_limits(self, gw: Gateway) -> None:
        response = await gw.post(DASHBOARD, {"district": DISTRICT})
        body = response.json()
        assert "errors" not in body, body
        assert body["data"]["unit"]["children"]["totalCount"] == 30
        assert {"POST /v1/evaluations/lookup", "POST /v1/summaries/lookup"} <= set(
            gw.upstream_calls
        )

    async def test_limits_are_settings(self, settings: Settings, criteria_app: FastAPI) -> None:
        async with gateway(
            settings, criteria_app, graphql_max_depth=3, graphql_max_aliases=1
        ) as gw:
            deep = only_error(await gw.post(nested_parents(4)))
            assert deep["extensions"]["code"] == "QUERY_TOO_DEEP"
            aliased = only_error(await gw.post('{ unit(code:"38") { a: name b: name } }'))
            assert aliased["extensions"]["code"] == "TOO_MANY_ALIASES"
            assert gw.upstream_calls == []
            fine = (await gw.post('{ unit(code:"38") { a: name parent { code } } }')).json()
        assert fine == {"data": {"unit": {"a": "Tỉnh Thanh Hóa", "parent": None}}}


@pytest.fixture
async def production_jwks() -> AsyncIterator[str]:
    """A JWKS URL, served over HTTP, publishing the run's local key: production needs an
    identity provider's keys, and the tests' tokens are signed with that key."""
    idp = FastAPI()
    keys = local_key(AUTH_SETTINGS.auth_key_path).jwks()

    @idp.get("/jwks.json")
    async def jwks() -> dict[str, list[dict[str, str]]]:
        return keys

    async with over_http(idp) as base:
        yield f"{base}/jwks.json"


class TestIntrospectionAndGraphiQL:
    async def test_on_by_default_outside_production(self, gw: Gateway) -> None:
        body = (await gw.post("{ __schema { queryType { name } } }")).json()
        assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
        page = await gw.http.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert "graphiql" in page.text.lower()

    async def test_off_by_default_in_production(
        self, settings: Settings, criteria_app: FastAPI, production_jwks: str
    ) -> None:
        async with gateway(
            settings, criteria_app, env="production", auth_jwks_url=production_jwks
        ) as gw:
            for query in ("{ __schema { types { name } } }", '{ __type(name: "Unit") { name } }'):
                error = only_error(await gw.post(query))
                assert error["extensions"]["code"] == "INTROSPECTION_DISABLED"
            typename = (await gw.post('{ unit(code:"38") { __typename } }')).json()
            assert typename == {"data": {"unit": {"__typename": "Unit"}}}
            page = await gw.http.get("/graphql", headers={"accept": "text/html"})
            assert page.status_code == 404

    async def test_production_may_switch_them_back_on(
        self, settings: Settings, criteria_app: FastAPI, production_jwks: str
    ) -> None:
        async with gateway(
            settings,
            criteria_app,
            env="production",
            auth_jwks_url=production_jwks,
            graphql_introspection=True,
            graphiql=True,
        ) as gw:
            body = (await gw.post("{ __schema { queryType { name } } }")).json()
            assert body["data"]["__schema"]["queryType"]["name"] == "Query"
            assert (
                await gw.http.get("/graphql", headers={"accept": "text/html"})
            ).status_code == 200


class TestBodyLimit:
    async def test_an_oversized_body_is_a_413_problem_before_parsing(
        self, settings: Settings, criteria_app: FastAPI
    ) -> None:
        async with gateway(settings, criteria_app, graphql_max_body_bytes=1000) as gw:
            response = await gw.post('{ unit(code:"38") { name } }', {"pad": "x" * 1000})
            assert response.status_code == 413
            assert response.headers["content-type"] == PROBLEM_JSON
            problem = response.json()
            assert problem["code"] == "body_too_large"
            assert "1000" in problem["message_vi"]
            assert gw.upstream_calls == []
            small = await gw.post('{ unit(code:"38") { name } }')
            assert small.json() == {"data": {"unit": {"name": "Tỉnh Thanh Hóa"}}}

    async def test_a_chunked_body_without_length_is_cut_at_the_limit(
        self, settings: Settings, criteria_app: FastAPI
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"query": "{ unit(code:\\"38\\") { name } }", "variables": {"pad": "'
            for _ in range(100):
                yield b"x" * 100
            yield b'"}}'

        async with gateway(settings, criteria_app, graphql_max_body_bytes=1000) as gw:
            response = await gw.http.post(
                "/graphql", content=chunks(), headers={"content-type": "application/json"}
            )
            assert "content-length" not in response.request.headers
            assert response.status_code == 413
            assert response.json()["code"] == "body_too_large"
            assert gw.upstream_calls == []


class TestRateLimit:
    async def test_a_client_over_its_rate_gets_429_with_retry_after(
        self, settings: Settings, criteria_app: FastAPI
    ) -> None:
        query = '{ unit(code:"38") { name } }'
        async with gateway(
            settings, criteria_app, graphql_rate_per_minute=6, graphql_rate_burst=2
        ) as gw:
            assert [(await gw.post(query)).status_code for _ in range(2)] == [200, 200]
            gw.upstream_calls.clear()
            refused = await gw.post(query)
            assert refused.status_code == 429
            assert refused.headers["content-type"] == PROBLEM_JSON
            assert 1 <= int(refused.headers["retry-after"]) <= 10  # 6 a minute: one per 10 s
            assert refused.json()["code"] == "rate_limited"
            assert refused.json()["message_vi"]
            assert gw.upstream_calls == []
            # another bearer is another client
            other = await gw.post(query, headers=auth_headers(subject="someone-else"))
            assert other.status_code == 200

    async def test_off_by_default_outside_production(self, gw: Gateway) -> None:
        statuses = {(await gw.post("{ __typename }")).status_code for _ in range(100)}
        assert statuses == {200}
