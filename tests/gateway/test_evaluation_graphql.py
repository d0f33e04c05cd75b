"""Unit.evaluation through the gateway: batched, explained, unknown kept apart from not met."""

from __future__ import annotations

import httpx

from tests.gateway.conftest import GraphQL


class TestUnitEvaluation:
    async def test_communes_of_a_district_with_evaluations_cost_one_call_per_level(
        self, gql: GraphQL, criteria: httpx.AsyncClient
    ) -> None:
        recorded = await criteria.post(
            "/v1/indicator-values",
            json={
                "values": [
                    {
                        "unit": "15592",
                        "set": "xa-ntm-2021",
                        "year": 2023,
                        "indicator": "3.1",
                        "value": 50,
                        "as_of": "2023-05-19",
                    },
                    {
                        "unit": "15592",
                        "set": "xa-ntm-2021",
                        "year": 2023,
                        "indicator": "3.2",
                        "value": True,
                        "as_of": "2023-05-19",
                    },
                ]
            },
        )
        assert recorded.status_code == 201, recorded.text
        data = await gql.data(
            '{ units(parentCode:"395", asOf:"2023-05-19", first: 50) { nodes { code'
            ' evaluation(criteriaSet:"xa-ntm-2021", year: 2023) { criteriaTotal indicatorsTotal'
            " meetsStandard criteria { number met status indicators { code value met missing"
            " gap } } } } } }"
        )
        nodes = {n["code"]: n["evaluation"] for n in data["units"]["nodes"]}
        assert len(nodes) == 30
        assert gql.upstream.calls == ["GET /v1/units", "POST /v1/evaluations/lookup"]
        evaluation = nodes["15592"]
        assert evaluation["criteriaTotal"] == 19
        assert evaluation["indicatorsTotal"] == 57
        assert evaluation["meetsStandard"] is False
        irrigation = next(c for c in evaluation["criteria"] if c["number"] == 3)
        assert irrigation["status"] == "NOT_MET"
        assert irrigation["met"] is False
        i31 = next(i for i in irrigation["indicators"] if i["code"] == "3.1")
        assert i31["met"] is False
        assert i31["gap"] == 30.0
        transport = next(c for c in evaluation["criteria"] if c["number"] == 2)
        assert transport["status"] == "UNKNOWN"

    async def test_unknown_set_gives_null_evaluation(self, gql: GraphQL) -> None:
        data = await gql.data(
            '{ unit(code:"15592", asOf:"2023-05-19") { evaluation(criteriaSet:"nope", year: 2023)'
            " { meetsStandard } } }"
        )
        assert data == {"unit": {"evaluation": None}}

    async def test_evaluation_names_its_set(self, gql: GraphQL) -> None:
        data = await gql.data(
            '{ unit(code:"15592", asOf:"2023-05-19") {'
            ' evaluation(criteriaSet:"xa-ntm-2021", year: 2023) { criteriaSet { code } } } }'
        )
        assert data["unit"]["evaluation"]["criteriaSet"]["code"] == "xa-ntm-2021"


class TestUnitTargets:
    async def test_targets_of_a_district_with_progress(
        self, gql: GraphQL, criteria: httpx.AsyncClient
    ) -> None:
        plan = {
            "targets": [{"kind": "xa-ntm-kieu-mau", "label_vi": "Xã NTM kiểu mẫu", "quantity": 1}]
        }
        put = await criteria.put("/v1/units/395/targets/2023", json=plan)
        assert put.status_code == 200, put.text
        data = await gql.data(
            '{ unit(code:"395", asOf:"2023-05-19") { targets(year: 2023)'
            " { kind label quantity achieved remaining met source } } }"
        )
        assert data["unit"]["targets"] == [
            {
                "kind": "xa-ntm-kieu-mau",
                "label": "Xã NTM kiểu mẫu",
                "quantity": 1,
                "achieved": 0,
                "remaining": 1,
                "met": False,
                "source": "titles",
            }
        ]


class TestCriteriaReport:
    async def test_district_report_with_summary(
        self, gql: GraphQL, criteria: httpx.AsyncClient
    ) -> None:
        recorded = await criteria.post(
            "/v1/indicator-values",
            json={
                "values": [
                    {
                        "unit": "15592",
                        "set": "xa-ntm-2021",
                        "year": 2023,
                        "indicator": "3.1",
                        "value": 50,
                        "as_of": "2023-05-19",
                    }
                ]
            },
        )
        assert recorded.status_code == 201
        data = await gql.data(
            '{ unit(code:"395", asOf:"2023-05-19") { criteriaReport(criteriaSet:"xa-ntm-2021",'
            " year: 2023) { unitsEvaluated unitsTotal summaryVi"
            " criterionFailures { number unitsNotMet unitCodes } } } }"
        )
        report = data["unit"]["criteriaReport"]
        assert report["unitsTotal"] == 30
        assert report["unitsEvaluated"] == 1
        failure = next(f for f in report["criterionFailures"] if f["number"] == 3)
        assert failure == {"number": 3, "unitsNotMet": 1, "unitCodes": ["15592"]}
        assert "Tiêu chí số 3" in report["summaryVi"]

    async def test_a_set_of_the_wrong_level_is_a_coded_error(self, gql: GraphQL) -> None:
        body = await gql(
            '{ unit(code:"15592", asOf:"2023-05-19") { criteriaReport('
            'criteriaSet:"xa-ntm-2021", year: 2023) { unitsEvaluated } } }'
        )
        extensions = body["errors"][0]["extensions"]
        assert extensions["code"] == "BAD_USER_INPUT"
        assert extensions["upstream_code"] == "report.level_mismatch"
