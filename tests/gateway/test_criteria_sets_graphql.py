"""Query.criteriaSet and Query.criteriaSets through the gateway."""

from __future__ import annotations

from tests.gateway.conftest import GraphQL


class TestCriteriaSetsGraphQL:
    async def test_criteria_set_with_criteria_and_thresholds(self, gql: GraphQL) -> None:
        data = await gql.data(
            '{ criteriaSet(code:"xa-ntm-2021") { code level legalBasis indicatorCount'
            " criteria { number name indicators { code kind verified"
            " thresholds { region year comparator value } } } } }"
        )
        s = data["criteriaSet"]
        assert s["level"] == "COMMUNE"
        assert s["indicatorCount"] == 57
        assert [c["number"] for c in s["criteria"]] == list(range(1, 20))
        income = next(i for c in s["criteria"] for i in c["indicators"] if c["number"] == 10)
        assert income["kind"] == "NUMBER"
        assert {t["region"] for t in income["thresholds"]} >= {"TDMNPB", "DBSCL"}

    async def test_listing_sets_with_criteria_costs_one_call_per_level(self, gql: GraphQL) -> None:
        data = await gql.data("{ criteriaSets { code criteria { number } } }")
        assert len(data["criteriaSets"]) == 6
        assert all(s["criteria"] for s in data["criteriaSets"])
        assert gql.upstream.calls == ["GET /v1/criteria-sets", "POST /v1/criteria-sets/lookup"]

    async def test_unknown_set_is_null(self, gql: GraphQL) -> None:
        assert await gql('{ criteriaSet(code:"nope") { code } }') == {"data": {"criteriaSet": None}}
