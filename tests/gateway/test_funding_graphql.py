"""Funding through the gateway: Unit.funding batched into one funding call, the BigInt scalar,
and the recordTransfer / reverseTransfer mutations with their typed errors."""

from __future__ import annotations

from typing import Any

import httpx

from tests.gateway.conftest import GraphQL

COMMUNE = "15592"
NEIGHBOUR = "15583"

RECORD = """
mutation($input: TransferInput!, $key: String) {
  recordTransfer(input: $input, idempotencyKey: $key) {
    __typename
    ... on TransferRecorded { replayed transfer { id externalId amount unit source date } }
    ... on UserError { code messageVi messageEn }
    ... on ValidationError { fieldErrors { field code messageVi messageEn } }
    ... on NotFound { fieldErrors { field code } }
    ... on IdempotencyConflict { idempotencyKey }
  }
}
"""

REVERSE = """
mutation($id: ID!, $reason: String!, $key: String) {
  reverseTransfer(id: $id, reason: $reason, idempotencyKey: $key) {
    __typename
    ... on TransferReversed { replayed reversal { id reverses amount sign } }
    ... on UserError { code messageVi messageEn }
    ... on ValidationError { fieldErrors { field code } }
    ... on AlreadyReversed { transferId }
    ... on NotReversible { transferId }
  }
}
"""


async def post(funding: httpx.AsyncClient, external_id: str, **body: Any) -> dict[str, Any]:
    body = {"external_id": external_id, "date": "2023-04-12", **body}
    response = await funding.post("/v1/transfers", json=body)
    assert response.status_code == 201, response.text
    posted: dict[str, Any] = response.json()
    return posted


def transfer_input(**extra: Any) -> dict[str, Any]:
    return {"unit": COMMUNE, "source": "NSTW-DT", "amount": 1_250_000_000, "date": "2023-04-12",
            **extra}  # fmt: skip


class TestUnitFunding:
    async def test_communes_of_a_district_cost_one_funding_call(
        self, gql_funding: GraphQL, funding: httpx.AsyncClient
    ) -> None:
        await post(funding, "G-1", unit=COMMUNE, source="NSTW-DT", amount=1_000_000_000)
        await post(funding, "G-2", unit=COMMUNE, source="CD-TM", amount=500_000_000)
        await post(funding, "G-3", unit=NEIGHBOUR, source="NST", amount=300_000_000)
        await post(funding, "G-4", unit=COMMUNE, source="NSX", amount=7, date="2022-01-05")
        data = await gql_funding.data(
            '{ units(parentCode:"395", asOf:"2023-05-19", first: 50) { nodes { code'
            " funding(year: 2023) { total cumulative bySource { source name amount share }"
            " inKind { kind quantity unit valueVnd households } } } } }"
        )
        nodes = {n["code"]: n["funding"] for n in data["units"]["nodes"]}
        assert len(nodes) == 30
        assert gql_funding.upstream.calls == ["GET /v1/units", "POST /v1/summaries/lookup"]
        mine = nodes[COMMUNE]
        assert mine["total"] == 1_500_000_000
        assert mine["cumulative"] == 1_500_000_007
        by_source = {s["source"]: s for s in mine["bySource"]}
        assert by_source["NSTW-DT"]["amount"] == 1_000_000_000
        assert by_source["NSTW-DT"]["share"] == 0.6667
        assert by_source["CD-TM"]["share"] == 0.3333
        assert by_source["NSTW-DT"]["name"] == "Ngân sách trung ương - vốn đầu tư phát triển"
        assert sum(s["share"] for s in mine["bySource"]) == 1.0
        assert nodes[NEIGHBOUR]["total"] == 300_000_000
        quiet = next(code for code in nodes if code not in (COMMUNE, NEIGHBOUR))
        assert nodes[quiet]["total"] == 0
        assert all(s["share"] == 0 for s in nodes[quiet]["bySource"])

    async def test_district_summary_with_groups_in_kind_and_the_paragraph(
        self, gql_funding: GraphQL, funding: httpx.AsyncClient
    ) -> None:
        await post(funding, "G-5", unit=COMMUNE, source="NSTW-DT", amount=2_000_000_000)
        await post(funding, "G-6", unit="395", source="NSH", amount=1_000_000_000)
        await post(funding, "G-7", unit=COMMUNE, source="CD-HV", kind="land", quantity=1200,
                   households=35)  # fmt: skip
        data = await gql_funding.data(
            '{ unit(code:"395", asOf:"2023-05-19") { funding(from: "2023-01-01",'
            ' to: "2023-12-31") { total byGroup { group amount shareBp shareVi }'
            " inKind { kind quantity unit valueVnd households quantityVi }"
            " summaryVi summaryParts { label amount shareBp printed } totalTy } } }"
        )
        summary = data["unit"]["funding"]
        [land] = summary["inKind"]
        assert (land["kind"], land["quantity"], land["unit"], land["households"]) == (
            "land",
            1200.0,
            "m2",
            35,
        )
        assert summary["total"] == 3_000_000_000 + land["valueVnd"]
        groups = {g["group"]: g for g in summary["byGroup"]}
        assert groups["NSNN"]["amount"] == 3_000_000_000
        assert groups["XHH"]["amount"] == land["valueVnd"]
        assert sum(g["shareBp"] for g in summary["byGroup"]) == 10_000
        assert sum(p["amount"] for p in summary["summaryParts"]) == summary["total"]
        assert summary["summaryVi"].startswith("Tổng nguồn lực huy động từ 01/01/2023")
        assert "hiến 1.200 m² đất của 35 hộ" in summary["summaryVi"]

    async def test_amounts_beyond_2_pow_53_are_strings(
        self, gql_funding: GraphQL, funding: httpx.AsyncClient
    ) -> None:
        for n in range(10):
            await post(funding, f"BIG-{n}", unit=COMMUNE, source="LG", amount=10**15)
        data = await gql_funding.data(
            '{ unit(code:"15592", asOf:"2023-05-19") { funding(year: 2023) { total'
            " bySource { source amount } } } }"
        )
        funding_data = data["unit"]["funding"]
        assert funding_data["total"] == "10000000000000000"
        assert {s["source"]: s["amount"] for s in funding_data["bySource"]}["NST"] == 0

    async def test_a_window_that_cuts_a_month_is_a_bad_input_naming_from(
        self, gql_funding: GraphQL
    ) -> None:
        body = await gql_funding(
            '{ unit(code:"395", asOf:"2023-05-19") { code funding(from: "2023-01-15") { total } } }'
        )
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["upstream_code"] == "report.from_not_month_start"
        assert error["extensions"]["errors"][0]["field"] == "from"
        assert error["extensions"]["message_vi"]

    async def test_without_a_funding_service_the_field_fails_clearly(self, gql: GraphQL) -> None:
        body = await gql('{ unit(code:"395", asOf:"2023-05-19") { funding { total } } }')
        [error] = body["errors"]
        assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
        assert error["path"] == ["unit", "funding"]


class TestRecordTransfer:
    async def test_recorded_then_replayed_then_conflicting(
        self, gql_funding: GraphQL, db: Any
    ) -> None:
        first = (await gql_funding.data(RECORD, {"input": transfer_input(), "key": "GQL-1"}))[
            "recordTransfer"
        ]
        assert first["__typename"] == "TransferRecorded"
        assert first["replayed"] is False
        assert first["transfer"]["externalId"] == "GQL-1"
        assert first["transfer"]["amount"] == 1_250_000_000
        assert gql_funding.upstream.calls == ["POST /v1/transfers"]
        again = (await gql_funding.data(RECORD, {"input": transfer_input(), "key": "GQL-1"}))[
            "recordTransfer"
        ]
        assert again["replayed"] is True
        assert again["transfer"]["id"] == first["transfer"]["id"]
        other = (
            await gql_funding.data(RECORD, {"input": transfer_input(amount=5), "key": "GQL-1"})
        )["recordTransfer"]
        assert other["__typename"] == "IdempotencyConflict"
        assert other["code"] == "transfer.idempotency_conflict"
        assert other["idempotencyKey"] == "GQL-1"
        assert other["messageVi"]
        data = await gql_funding.data(
            '{ unit(code:"15592", asOf:"2023-05-19") { funding(year: 2023) { total } } }'
        )
        assert data["unit"]["funding"]["total"] == 1_250_000_000  # posted once

    async def test_invalid_input_is_a_validation_error_with_its_field(
        self, gql_funding: GraphQL
    ) -> None:
        cases = [
            (transfer_input(source="XYZ"), "ValidationError", "source"),
            (transfer_input(source="CD-HV"), "ValidationError", "kind"),
            (transfer_input(kind="land", quantity="5", quantityUnit="ha"), "ValidationError",
             "quantityUnit"),
            (transfer_input(unit="99999"), "NotFound", "unit"),
            (transfer_input(externalId="A"), "ValidationError", "idempotencyKey"),
        ]  # fmt: skip
        for payload, typename, field in cases:
            result = (await gql_funding.data(RECORD, {"input": payload, "key": "GQL-BAD"}))[
                "recordTransfer"
            ]
            assert result["__typename"] == typename, result
            assert field in {e["field"] for e in result["fieldErrors"]}
            assert result["messageVi"]
            assert result["messageEn"]
        data = await gql_funding.data(
            '{ unit(code:"38", asOf:"2023-05-19") { funding { cumulative } } }'
        )
        assert data["unit"]["funding"]["cumulative"] == 0  # nothing partially applied

    async def test_a_posting_without_any_idempotency_key_is_refused(
        self, gql_funding: GraphQL
    ) -> None:
        result = (await gql_funding.data(RECORD, {"input": transfer_input(), "key": None}))[
            "recordTransfer"
        ]
        assert result["__typename"] == "ValidationError"
        assert [e["field"] for e in result["fieldErrors"]] == ["idempotencyKey"]
        assert gql_funding.upstream.calls == []

    async def test_a_non_integer_amount_is_refused_by_the_schema(
        self, gql_funding: GraphQL
    ) -> None:
        body = await gql_funding(RECORD, {"input": transfer_input(amount=12.5), "key": "X"})
        assert body["errors"]
        assert gql_funding.upstream.calls == []


class TestReverseTransfer:
    async def test_reverse_then_every_error_member(
        self, gql_funding: GraphQL, funding: httpx.AsyncClient
    ) -> None:
        posted = await post(funding, "R-G-1", unit=COMMUNE, source="DN", amount=400_000_000)
        reversed_ = (await gql_funding.data(REVERSE, {"id": posted["id"], "reason": "nhập trùng"}))[
            "reverseTransfer"
        ]
        assert reversed_["__typename"] == "TransferReversed"
        assert reversed_["reversal"]["reverses"] == posted["id"]
        assert reversed_["reversal"]["sign"] == -1
        assert reversed_["reversal"]["amount"] == 400_000_000
        repeat = (await gql_funding.data(REVERSE, {"id": posted["id"], "reason": "nhập trùng"}))[
            "reverseTransfer"
        ]
        assert repeat["replayed"] is True
        twice = (
            await gql_funding.data(REVERSE, {"id": posted["id"], "reason": "x", "key": "R-2"})
        )["reverseTransfer"]
        assert twice["__typename"] == "AlreadyReversed"
        assert twice["transferId"] == posted["id"]
        of_reversal = (
            await gql_funding.data(
                REVERSE, {"id": reversed_["reversal"]["id"], "reason": "x", "key": "R-3"}
            )
        )["reverseTransfer"]
        assert of_reversal["__typename"] == "NotReversible"
        missing = (
            await gql_funding.data(
                REVERSE, {"id": "00000000-0000-0000-0000-000000000001", "reason": "x"}
            )
        )["reverseTransfer"]
        assert missing["__typename"] == "NotFound"
        assert missing["code"] == "transfer.not_found"
        malformed = (await gql_funding.data(REVERSE, {"id": "abc", "reason": "x"}))[
            "reverseTransfer"
        ]
        assert malformed["__typename"] == "ValidationError"
        assert malformed["fieldErrors"][0]["field"] == "id"
        assert gql_funding.upstream.calls == []  # refused before any call
        blank = (await gql_funding.data(REVERSE, {"id": posted["id"], "reason": ""}))[
            "reverseTransfer"
        ]
        assert blank["__typename"] == "ValidationError"
        assert "reason" in {e["field"] for e in blank["fieldErrors"]}
        data = await gql_funding.data(
            '{ unit(code:"15592", asOf:"2023-05-19") { funding(year: 2023) { total } } }'
        )
        assert data["unit"]["funding"]["total"] == 0
