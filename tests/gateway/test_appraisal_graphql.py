"""Appraisal through the gateway: dossiers (Query.dossier / dossiers, Unit.dossiers batched into
one appraisal call), recognitions from criteria's titles (batched into one criteria call), and
the createDossier / dossierAction mutations with their typed errors and the caller's token
forwarded."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import auth_headers
from tests.criteria.test_titles_and_derived import event
from tests.gateway.conftest import GraphQL

COMMUNE = "15592"  # Xã Xuân Minh, Huyện Thọ Xuân (395), before 2025
NEIGHBOUR = "15583"
H_COMMUNE = auth_headers("commune_officer", COMMUNE, subject="can.bo.xa")
H_DISTRICT = auth_headers("district_officer", "395", subject="can.bo.huyen")
H_OTHER_DISTRICT = auth_headers("district_officer", "396")

DOSSIER_FIELDS = """
  id kind unitCode title year set status step stepName stepEnteredOn dueOn overdue editableBy
  submittedEvaluationHash decisionEvaluationHash timelineEntries auditHead version createdAt
  unit { code name level }
"""

CREATE = f"""
mutation($input: DossierInput!, $key: String) {{
  createDossier(input: $input, idempotencyKey: $key) {{
    __typename
    ... on DossierCreated {{ dossier {{ {DOSSIER_FIELDS} }} }}
    ... on UserError {{ code messageVi messageEn }}
    ... on ValidationError {{ fieldErrors {{ field code messageVi messageEn }} }}
    ... on DossierConflict {{ fieldErrors {{ field code }} }}
  }}
}}
"""

ACT = """
mutation($id: ID!, $action: DossierActionKind!, $comment: String, $version: Int) {
  dossierAction(id: $id, action: $action, comment: $comment, expectedVersion: $version) {
    __typename
    ... on DossierActed { dossier { id step status version timelineEntries
                                    submittedEvaluationHash } }
    ... on UserError { code messageVi messageEn }
    ... on WorkflowRefused { action forbidden failedGates { gate code messageVi messageEn } }
    ... on ValidationError { fieldErrors { field code } }
    ... on DossierConflict { fieldErrors { field code } }
  }
}
"""


async def create(gql: GraphQL, headers: dict[str, str] = H_COMMUNE, **extra: Any) -> dict[str, Any]:
    variables = {"input": {"unit": COMMUNE, "title": "xa-ntm", "year": 2023, **extra}}
    data = await gql.data(CREATE, variables, headers=headers)
    payload: dict[str, Any] = data["createDossier"]
    return payload


async def act(gql: GraphQL, dossier: str, action: str, headers: dict[str, str],
              **variables: Any) -> dict[str, Any]:  # fmt: skip
    data = await gql.data(ACT, {"id": dossier, "action": action, **variables}, headers=headers)
    payload: dict[str, Any] = data["dossierAction"]
    return payload


class TestDossiers:
    async def test_a_dossier_created_by_the_mutation_is_listed_by_query_and_unit(
        self, gql_appraisal: GraphQL
    ) -> None:
        created = await create(gql_appraisal)
        assert created["__typename"] == "DossierCreated", created
        dossier = created["dossier"]
        assert dossier["status"] == "OPEN"
        assert dossier["kind"] == "RECOGNITION"
        assert dossier["step"] == "self_assessment"
        assert dossier["stepName"]
        assert dossier["set"] == "xa-ntm-2021"
        assert dossier["timelineEntries"] == 1
        assert dossier["unit"]["code"] == COMMUNE
        assert dossier["unit"]["name"].startswith("Xã")
        assert dossier["unit"]["level"] == "COMMUNE"
        assert gql_appraisal.upstream.calls == ["POST /v1/dossiers", "POST /v1/units/lookup"]

        listed = await gql_appraisal.data(
            "query($unit: String) { dossiers(unitCode: $unit, status: OPEN) { totalCount"
            " pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { id } }"
            " nodes { id title year } } }",
            {"unit": COMMUNE},
        )
        connection = listed["dossiers"]
        assert connection["totalCount"] == 1
        assert [n["id"] for n in connection["nodes"]] == [dossier["id"]]
        assert connection["pageInfo"]["hasNextPage"] is False
        assert connection["pageInfo"]["endCursor"] == connection["edges"][0]["cursor"]
        closed = await gql_appraisal.data(
            "{ dossiers(status: RECOGNISED) { totalCount nodes { id } } }"
        )
        assert closed["dossiers"] == {"totalCount": 0, "nodes": []}

        one = await gql_appraisal.data(
            "query($id: ID!) { dossier(id: $id) { id unitCode version } }", {"id": dossier["id"]}
        )
        assert one["dossier"]["unitCode"] == COMMUNE
        missing = await gql_appraisal.data(
            "query($id: ID!) { dossier(id: $id) { id } }", {"id": str(uuid.uuid4())}
        )
        assert missing["dossier"] is None
        bad = await gql_appraisal('{ dossier(id: "nope") { id } }')
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

        by_unit = await gql_appraisal.data(
            '{ unit(code: "15592", asOf: "2023-05-19") { dossiers { id status unit { code } } } }'
        )
        assert by_unit["unit"]["dossiers"] == [
            {"id": dossier["id"], "status": "OPEN", "unit": {"code": COMMUNE}}
        ]

    async def test_dossiers_page_through_appraisals_cursor(
        self, gql_appraisal: GraphQL, appraisal: httpx.AsyncClient
    ) -> None:
        ids = []
        for year in (2021, 2022, 2023):
            response = await appraisal.post(
                "/v1/dossiers", json={"unit": COMMUNE, "title": "xa-ntm", "year": year},
                headers=H_COMMUNE,
            )  # fmt: skip
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        query = (
            "query($after: String) { dossiers(first: 2, after: $after) { totalCount"
            " pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { id } } } }"
        )
        first = (await gql_appraisal.data(query))["dossiers"]
        assert [e["node"]["id"] for e in first["edges"]] == ids[:2]
        assert first["pageInfo"]["hasNextPage"] is True
        assert first["totalCount"] == 3  # the whole list, though the page holds two
        second = (await gql_appraisal.data(query, {"after": first["pageInfo"]["endCursor"]}))[
            "dossiers"
        ]
        assert [e["node"]["id"] for e in second["edges"]] == ids[2:]
        assert second["totalCount"] == 3
        counted = await gql_appraisal.data("{ dossiers(first: 0) { totalCount nodes { id } } }")
        assert counted["dossiers"] == {"totalCount": 3, "nodes": []}
        assert second["pageInfo"] == {
            "hasNextPage": False,
            "hasPreviousPage": True,
            "endCursor": second["edges"][0]["cursor"],
        }
        # every edge's cursor resumes right after it
        from_first = (await gql_appraisal.data(query, {"after": first["edges"][0]["cursor"]}))[
            "dossiers"
        ]
        assert [e["node"]["id"] for e in from_first["edges"]] == ids[1:]
        bad = await gql_appraisal('{ dossiers(after: "!!") { totalCount } }')
        assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert bad["data"] is None

    async def test_unit_dossiers_over_a_district_cost_one_appraisal_call(
        self, gql_appraisal: GraphQL, appraisal: httpx.AsyncClient
    ) -> None:
        for unit in (COMMUNE, NEIGHBOUR):
            response = await appraisal.post(
                "/v1/dossiers", json={"unit": unit, "title": "xa-ntm", "year": 2023},
                headers=H_DISTRICT,
            )  # fmt: skip
            assert response.status_code == 201, response.text
        data = await gql_appraisal.data(
            '{ units(parentCode: "395", asOf: "2023-05-19", first: 50) { nodes { code'
            " dossiers { unitCode year status } } } }"
        )
        nodes = {n["code"]: n["dossiers"] for n in data["units"]["nodes"]}
        assert len(nodes) == 30
        assert gql_appraisal.upstream.calls == ["GET /v1/units", "POST /v1/dossiers/lookup"]
        assert nodes[COMMUNE] == [{"unitCode": COMMUNE, "year": 2023, "status": "OPEN"}]
        assert nodes[NEIGHBOUR] == [{"unitCode": NEIGHBOUR, "year": 2023, "status": "OPEN"}]
        assert sum(len(d) for d in nodes.values()) == 2


class TestMutations:
    async def test_an_action_refused_by_a_gate_names_it_and_moves_nothing(
        self, gql_appraisal: GraphQL, appraisal: httpx.AsyncClient
    ) -> None:
        dossier = (await create(gql_appraisal))["dossier"]
        moved = await act(gql_appraisal, dossier["id"], "SUBMIT", H_COMMUNE, comment="Gửi")
        assert moved["__typename"] == "DossierActed", moved
        assert moved["dossier"]["step"] == "survey_and_posting"
        assert moved["dossier"]["submittedEvaluationHash"]
        assert gql_appraisal.upstream.calls == [f"POST /v1/dossiers/{dossier['id']}/actions"]

        refused = await act(gql_appraisal, dossier["id"], "SUBMIT", H_COMMUNE)
        assert refused["__typename"] == "WorkflowRefused"
        assert refused["code"] == "workflow.gate_failed"
        assert refused["action"] == "submit"
        assert refused["forbidden"] is False
        assert {g["gate"] for g in refused["failedGates"]} == {
            "satisfaction_recorded",
            "posting_completed",
        }
        assert all(g["messageVi"] and g["messageEn"] for g in refused["failedGates"])
        assert "hài lòng" in refused["messageVi"]

        wrong_level = await act(gql_appraisal, dossier["id"], "SUBMIT", H_DISTRICT)
        assert wrong_level["__typename"] == "WorkflowRefused"
        assert wrong_level["code"] == "workflow.forbidden"
        assert wrong_level["forbidden"] is True
        not_here = await act(gql_appraisal, dossier["id"], "APPROVE", H_COMMUNE)
        assert not_here["__typename"] == "WorkflowRefused"
        assert not_here["code"] == "workflow.action_not_allowed"

        stale = await act(
            gql_appraisal, dossier["id"], "WITHDRAW", H_COMMUNE, version=dossier["version"]
        )
        assert stale["__typename"] == "DossierConflict"
        assert stale["code"] == "dossier.version_conflict"

        still = (await appraisal.get(f"/v1/dossiers/{dossier['id']}")).json()
        assert still["step"] == "survey_and_posting"
        assert still["version"] == moved["dossier"]["version"]
        # the actor's headers reached appraisal: its audit chain names the person
        timeline = (await appraisal.get(f"/v1/dossiers/{dossier['id']}/timeline")).json()["items"]
        assert [e["entry"]["who"] for e in timeline] == ["can.bo.xa", "can.bo.xa"]
        assert timeline[-1]["entry"]["role"] == "commune_officer"

    async def test_refusals_are_typed_errors(self, gql_appraisal: GraphQL) -> None:
        assert (await create(gql_appraisal))["__typename"] == "DossierCreated"
        again = await create(gql_appraisal, set="xa-ntm-2021")
        assert again["__typename"] == "DossierConflict"
        assert again["code"] == "dossier.exists"

        unknown = await create(gql_appraisal, unit="99999")
        assert unknown["__typename"] == "ValidationError"
        assert unknown["fieldErrors"][0]["field"] == "unit"
        assert unknown["fieldErrors"][0]["code"] == "unit.not_found"
        too_early = await create(gql_appraisal, year=1999)
        assert too_early["__typename"] == "ValidationError"
        assert too_early["fieldErrors"][0]["field"] == "year"

        outside = await create(gql_appraisal, headers=H_OTHER_DISTRICT, year=2022)
        assert outside["__typename"] == "AccessDenied"
        assert outside["code"] == "dossier.out_of_scope"

        missing = await act(gql_appraisal, str(uuid.uuid4()), "SUBMIT", H_COMMUNE)
        assert missing["__typename"] == "NotFound"
        assert missing["code"] == "dossier.not_found"
        malformed = await act(gql_appraisal, "../units", "SUBMIT", H_COMMUNE)
        assert malformed["__typename"] == "ValidationError"
        assert malformed["fieldErrors"] == [{"field": "id", "code": "dossier.id_invalid"}]
        assert gql_appraisal.upstream.calls == []

    async def test_a_repeat_with_its_idempotency_key_answers_the_first_dossier(
        self, gql_appraisal: GraphQL
    ) -> None:
        key = f"gql-{uuid.uuid4()}"
        new = {"unit": COMMUNE, "title": "xa-ntm", "year": 2023}
        first = (await gql_appraisal.data(CREATE, {"input": new, "key": key}, headers=H_COMMUNE))[
            "createDossier"
        ]
        assert first["__typename"] == "DossierCreated", first
        again = (await gql_appraisal.data(CREATE, {"input": new, "key": key}, headers=H_COMMUNE))[
            "createDossier"
        ]
        assert again == first
        other = {**new, "year": 2022}
        reused = (
            await gql_appraisal.data(CREATE, {"input": other, "key": key}, headers=H_COMMUNE)
        )["createDossier"]
        assert reused["__typename"] == "DossierConflict"
        assert reused["code"] == "idempotency.conflict"
        assert reused["fieldErrors"] == [{"field": "Idempotency-Key",
                                          "code": "idempotency.conflict"}]  # fmt: skip


class TestRecognitions:
    async def test_granted_and_revoked_titles_with_their_decisions(
        self, gql_appraisal: GraphQL, criteria: httpx.AsyncClient
    ) -> None:
        grant = await criteria.post("/v1/events/titles", json=event(COMMUNE, "xa-ntm"))
        assert grant.status_code == 200, grant.text
        await criteria.post("/v1/events/titles", json=event(NEIGHBOUR, "xa-ntm"))
        revoke = event(
            NEIGHBOUR, "xa-ntm", kind="recognition.revoked",
            decision={"number": "9/QĐ-UBND", "date": "2024-02-01"},
        )  # fmt: skip
        assert (await criteria.post("/v1/events/titles", json=revoke)).status_code == 200
        data = await gql_appraisal.data(
            '{ units(parentCode: "395", asOf: "2023-05-19", first: 50) { nodes { code'
            " recognitions { title year grantedOn decisionNumber decisionDate revoked revokedOn"
            " revocationDecision } } } }"
        )
        nodes = {n["code"]: n["recognitions"] for n in data["units"]["nodes"]}
        assert nodes[COMMUNE] == [
            {
                "title": "xa-ntm",
                "year": 2023,
                "grantedOn": "2023-06-01",
                "decisionNumber": "123/QĐ-UBND",
                "decisionDate": "2023-06-01",
                "revoked": False,
                "revokedOn": None,
                "revocationDecision": None,
            }
        ]
        (revoked,) = nodes[NEIGHBOUR]
        assert revoked["revoked"] is True
        assert revoked["revokedOn"] == "2024-02-01"
        assert revoked["revocationDecision"] == "9/QĐ-UBND"
        assert sum(len(r) for r in nodes.values()) == 2
        # the 30 communes' titles cost one call to criteria
        assert gql_appraisal.upstream.calls == ["GET /v1/units", "POST /v1/titles/lookup"]
