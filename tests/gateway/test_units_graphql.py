"""Query.unit and Query.units through the gateway, over the real criteria service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shared.settings import Settings
from tests.gateway.conftest import GraphQL, gateway_for


class TestUnitQuery:
    async def test_district_as_of_2023_with_parent_and_child_count(self, gql: GraphQL) -> None:
        data = await gql.data(
            '{ unit(code:"395", asOf:"2023-05-19") { name level parent { name }'
            " children(first:100) { totalCount } } }"
        )
        assert data["unit"] == {
            "name": "Huyện Thọ Xuân",
            "level": "DISTRICT",
            "parent": {"name": "Tỉnh Thanh Hóa"},
            "children": {"totalCount": 30},
        }

    async def test_unknown_code_is_null_without_error(self, gql: GraphQL) -> None:
        body = await gql('{ unit(code:"99999") { name } }')
        assert body == {"data": {"unit": None}}

    async def test_district_code_today_is_null_because_districts_were_abolished(
        self, gql: GraphQL
    ) -> None:
        assert (await gql.data('{ unit(code:"395") { name } }'))["unit"] is None

    async def test_malformed_code_is_a_coded_error_in_both_languages(self, gql: GraphQL) -> None:
        body = await gql('{ unit(code:"abc") { name } }')
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["field"] == "code"
        assert "không hợp lệ" in error["extensions"]["message_vi"]
        assert "Traceback" not in str(body)
        assert gql.upstream.calls == []

    async def test_malformed_date_is_a_validation_error(self, gql: GraphQL) -> None:
        body = await gql('{ unit(code:"395", asOf:"2023-13-45") { name } }')
        [error] = body["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert gql.upstream.calls == []

    async def test_lineage_both_ways(self, gql: GraphQL) -> None:
        data = await gql.data(
            '{ unit(code:"15592", asOf:"2023-05-19") { name'
            " successors { code name validFrom predecessors { code name validTo } } } }"
        )
        unit = data["unit"]
        assert unit["name"] == "Xã Xuân Minh"
        assert unit["successors"], "a pre-2025 commune has successors"
        for successor in unit["successors"]:
            assert successor["validFrom"] == "2025-07-01"
            assert {"code": "15592", "name": "Xã Xuân Minh", "validTo": "2025-06-30"} in successor[
                "predecessors"
            ]

    async def test_same_code_names_another_unit_after_the_reorganisation(
        self, gql: GraphQL
    ) -> None:
        data = await gql.data(
            '{ before: unit(code:"15592", asOf:"2025-06-30") { name edition parent { code } }'
            '  after: unit(code:"15592", asOf:"2025-07-01") { name edition parent { code } } }'
        )
        assert data["before"] == {
            "name": "Xã Xuân Minh",
            "edition": "legacy",
            "parent": {"code": "395"},
        }
        assert data["after"] == {"name": "Xã Xuân Lập", "edition": "2025", "parent": {"code": "38"}}


class TestUnitsQuery:
    async def test_province_counts_today_and_before_2025(self, gql: GraphQL) -> None:
        data = await gql.data(
            "{ now: units(level: PROVINCE) { totalCount }"
            '  before: units(level: PROVINCE, asOf:"2024-01-01") { totalCount } }'
        )
        assert data == {"now": {"totalCount": 34}, "before": {"totalCount": 63}}

    async def test_search_ignores_diacritics_and_case(self, gql: GraphQL) -> None:
        data = await gql.data(
            '{ units(search:"tho xuan", asOf:"2023-01-01") { edges { node { code name } } } }'
        )
        codes = [e["node"]["code"] for e in data["units"]["edges"]]
        assert "395" in codes

    async def test_547_communes_with_their_parents_cost_two_upstream_calls(
        self, gql: GraphQL
    ) -> None:
        data = await gql.data(
            '{ units(parentCode:"38", level: COMMUNE, asOf:"2023-01-01", first: 1000) {'
            " totalCount nodes { code parent { code name } } } }"
        )
        nodes = data["units"]["nodes"]
        assert data["units"]["totalCount"] == len(nodes) == 547
        assert all(n["parent"]["name"].split()[0] in {"Huyện", "Thị", "Thành"} for n in nodes)
        assert len({n["parent"]["code"] for n in nodes}) == 26
        assert gql.upstream.calls == ["GET /v1/units", "POST /v1/units/lookup"]

    async def test_children_of_every_province_cost_one_call_per_level(self, gql: GraphQL) -> None:
        data = await gql.data(
            '{ units(level: PROVINCE, asOf:"2024-01-01", first: 100) {'
            " nodes { code children(first: 1) { totalCount } } } }"
        )
        provinces = data["units"]["nodes"]
        assert len(provinces) == 63
        assert sum(p["children"]["totalCount"] for p in provinces) == 696
        assert gql.upstream.calls == ["GET /v1/units", "POST /v1/units/children/lookup"]

    async def test_lineage_of_a_list_costs_one_call_per_nesting_level(self, gql: GraphQL) -> None:
        data = await gql.data(
            '{ units(parentCode:"395", asOf:"2023-05-19", first: 50) {'
            " nodes { code successors { code predecessors { code } } } } }"
        )
        nodes = data["units"]["nodes"]
        assert len(nodes) == 30
        for node in nodes:
            assert node["successors"]
            for successor in node["successors"]:
                assert node["code"] in {p["code"] for p in successor["predecessors"]}
        assert gql.upstream.calls == [
            "GET /v1/units",
            "POST /v1/units/lineage/lookup",
            "POST /v1/units/lineage/lookup",
        ]

    async def test_cursor_pagination_walks_every_child_once(self, gql: GraphQL) -> None:
        query = (
            'query($after: String) { units(parentCode:"395", asOf:"2023-05-19", first: 8,'
            " after: $after) { totalCount edges { cursor node { code } }"
            " pageInfo { hasNextPage endCursor } } }"
        )
        seen: list[str] = []
        after = None
        for _ in range(10):
            page = (await gql.data(query, {"after": after}))["units"]
            seen += [e["node"]["code"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
            assert after == page["edges"][-1]["cursor"]
        assert len(seen) == len(set(seen)) == 30
        assert seen == sorted(seen)

    async def test_first_over_the_limit_is_refused_before_any_upstream_call(
        self, gql: GraphQL
    ) -> None:
        body = await gql("{ units(level: PROVINCE, first: 5000) { totalCount } }")
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert body["errors"][0]["extensions"]["field"] == "first"
        assert gql.upstream.calls == []

    async def test_unknown_parent_is_a_not_found_error(self, gql: GraphQL) -> None:
        body = await gql('{ units(parentCode:"99") { totalCount } }')
        extensions = body["errors"][0]["extensions"]
        assert extensions["code"] == "NOT_FOUND"
        assert extensions["upstream_code"] == "unit.not_found"
        assert extensions["message_vi"]

    async def test_tampered_cursor_is_bad_input(self, gql: GraphQL) -> None:
        body = await gql('{ units(level: PROVINCE, after: "!!not-a-cursor") { totalCount } }')
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    async def test_over_deep_query_is_refused_before_any_upstream_call(self, gql: GraphQL) -> None:
        nested = "parent { " * 15 + "code" + " }" * 15
        body = await gql(f'{{ unit(code:"15592") {{ {nested} }} }}')
        assert body["errors"]
        assert "depth" in body["errors"][0]["message"].lower()
        assert gql.upstream.calls == []


class _Unreachable(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)


class _Garbled(httpx.AsyncBaseTransport):
    """An upstream that answers 200 with a body that is not JSON: a bug, not user input."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>oops</html>")


@pytest.fixture
async def gql_down(settings: Settings) -> AsyncIterator[GraphQL]:
    async for client in gateway_for(settings, _Unreachable()):
        yield client


@pytest.fixture
async def gql_garbled(settings: Settings) -> AsyncIterator[GraphQL]:
    async for client in gateway_for(settings, _Garbled()):
        yield client


class TestUpstreamFailures:
    async def test_unreachable_service_is_a_typed_error_after_one_retry(
        self, gql_down: GraphQL
    ) -> None:
        body = await gql_down('{ unit(code:"38") { name } }')
        assert body["data"] == {"unit": None}
        extensions = body["errors"][0]["extensions"]
        assert extensions["code"] == "UPSTREAM_UNAVAILABLE"
        assert extensions["service"] == "criteria"
        assert len(gql_down.upstream.calls) == 2

    async def test_unexpected_failure_is_masked_with_a_request_id(
        self, gql_garbled: GraphQL
    ) -> None:
        body = await gql_garbled('{ unit(code:"38") { name } }')
        [error] = body["errors"]
        assert error["message"] == "Unexpected error."
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert "oops" not in str(body)
        assert "JSONDecodeError" not in str(body)
