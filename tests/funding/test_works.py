"""Works, their obligations and the construction debt of a unit as of a date, over REST on real
PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.funding.domain.debt import Obligation, Payment, unit_debt, work_debt
from services.funding.models import ObligationBasis
from shared.db import Database

COMMUNE = "15592"  # Xã Xuân Minh, Thanh Hóa (legacy edition, valid until 2025-06-30)
OTHER_COMMUNE = "15493"  # Xã Xuân Hồng, another commune of the same legacy district (395)
ELSEWHERE = "15064"  # Xã Lam Sơn, in another district (389, Ngọc Lặc)
DISTRICT = "395"
ON = "2023-01-10"  # a date the legacy units are valid


def work(code: str = "GT-01", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "name": "Đường trục xã Thôn 1 - Thôn 3",
        "kind": "road",
        "set_code": "xa-ntm-2021",
        "criterion_number": 2,
        "planned_vnd": 3_500_000_000,
        "started_on": "2023-01-05",
    }
    body.update(extra)
    return body


async def create_work(
    funding: httpx.AsyncClient, unit: str = COMMUNE, **extra: Any
) -> dict[str, Any]:
    response = await funding.post(f"/v1/units/{unit}/works?as_of={ON}", json=work(**extra))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def obligate(
    funding: httpx.AsyncClient, work_id: int, basis: str, amount: int, day: str, **headers: str
) -> httpx.Response:
    return await funding.post(
        f"/v1/works/{work_id}/obligations",
        json={"basis": basis, "amount": amount, "date": day, "document": f"{basis} {day}"},
        headers=headers,
    )


async def disburse(
    funding: httpx.AsyncClient, external_id: str, amount: int, day: str, work_code: str = "GT-01"
) -> dict[str, Any]:
    response = await funding.post(
        "/v1/transfers",
        json={
            "external_id": external_id,
            "unit": COMMUNE,
            "source": "NSTW-DT",
            "amount": amount,
            "date": day,
            "type": "disbursement",
            "work": work_code,
        },
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def debt_on(funding: httpx.AsyncClient, day: str, unit: str = COMMUNE) -> dict[str, Any]:
    response = await funding.get(f"/v1/units/{unit}/construction-debt?as_of={day}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


class TestDebtDefinition:
    """The pure definition in services/funding/domain/debt.py."""

    def test_obligation_is_the_larger_of_contract_and_acceptance(self) -> None:
        obligations = [
            Obligation(ObligationBasis.contract, 100, date(2023, 1, 1)),
            Obligation(ObligationBasis.acceptance, 120, date(2023, 6, 1)),
        ]
        assert work_debt(obligations, [], date(2023, 5, 31)).obligation == 100
        assert work_debt(obligations, [], date(2023, 6, 1)).obligation == 120

    def test_payments_after_the_date_do_not_count_and_overpayment_is_no_debt(self) -> None:
        obligations = [Obligation(ObligationBasis.contract, 100, date(2023, 1, 1))]
        payments = [Payment(60, date(2023, 2, 1)), Payment(70, date(2023, 3, 1))]
        assert work_debt(obligations, payments, date(2023, 2, 15)).debt == 40
        assert work_debt(obligations, payments, date(2023, 3, 1)).debt == 0
        assert work_debt(obligations, payments, None).paid == 130

    def test_a_unit_owes_the_sum_of_its_works_without_netting(self) -> None:
        owed = work_debt([Obligation(ObligationBasis.contract, 100, date(2023, 1, 1))], [], None)
        overpaid = work_debt([], [Payment(500, date(2023, 1, 1))], None)
        assert unit_debt([owed, overpaid]) == 100


class TestWorks:
    async def test_create_then_read(self, funding: httpx.AsyncClient) -> None:
        created = await create_work(funding)
        assert created["unit"] == COMMUNE
        assert created["edition"] == "legacy"
        assert created["kind_name_vi"] == "Đường giao thông"
        assert created["criterion_number"] == 2
        assert created["criterion_name"] == "Giao thông"
        assert created["planned_vnd"] == 3_500_000_000
        assert created["debt"] == 0
        read = await funding.get(f"/v1/works/{created['id']}")
        assert read.status_code == 200
        assert read.json()["code"] == "GT-01"

    async def test_same_code_same_body_answers_the_existing_work(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        first = await create_work(funding)
        again = await funding.post(f"/v1/units/{COMMUNE}/works?as_of={ON}", json=work())
        assert again.status_code == 200
        assert again.json()["id"] == first["id"]
        assert again.json()["replayed"] is True
        async with db.engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM funding.works")) == 1

    async def test_same_work_from_concurrent_requests_is_recorded_once(
        self, funding: httpx.AsyncClient
    ) -> None:
        responses = await asyncio.gather(
            *(funding.post(f"/v1/units/{COMMUNE}/works?as_of={ON}", json=work()) for _ in range(6))
        )
        assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
        assert len({r.json()["id"] for r in responses}) == 1

    async def test_same_code_other_body_is_a_conflict(self, funding: httpx.AsyncClient) -> None:
        await create_work(funding)
        response = await funding.post(
            f"/v1/units/{COMMUNE}/works?as_of={ON}", json=work(planned_vnd=1)
        )
        assert response.status_code == 409
        assert response.json()["code"] == "work.conflict"
        assert response.json()["errors"][0]["field"] == "code"

    async def test_the_same_code_in_another_unit_is_another_work(
        self, funding: httpx.AsyncClient
    ) -> None:
        one = await create_work(funding)
        two = await create_work(funding, unit=OTHER_COMMUNE)
        assert one["id"] != two["id"]

    @pytest.mark.parametrize(
        ("extra", "field", "code"),
        [
            ({"kind": "castle"}, "kind", "work.kind_unknown"),
            ({"criterion_number": 20}, "criterion_number", "criterion.number_out_of_range"),
            ({"criterion_number": 0}, "criterion_number", "criterion.number_out_of_range"),
            (
                {"set_code": "xa-ntm-2026", "criterion_number": 11},
                "criterion_number",
                "criterion.number_out_of_range",
            ),
            ({"set_code": "xa-ntm-1999"}, "set_code", "criterion.set_unknown"),
            ({"set_code": None}, "set_code", "work.set_required"),
            ({"criterion_number": None}, "criterion_number", "work.criterion_required"),
            ({"criterion_number": "2"}, "criterion_number", "validation_failed"),
            ({"planned_vnd": 12.5}, "planned_vnd", "validation_failed"),
            ({"planned_vnd": -1}, "planned_vnd", "validation_failed"),
            ({"code": ""}, "code", "validation_failed"),
            ({"name": ""}, "name", "validation_failed"),
            ({"name": "  "}, "name", "validation_failed"),
            ({"name": "a\x00b"}, "name", "validation_failed"),
            ({"note": "a\x00b"}, "note", "validation_failed"),
        ],
    )
    async def test_bad_input_names_the_field(
        self,
        funding: httpx.AsyncClient,
        db: Database,
        extra: dict[str, Any],
        field: str,
        code: str,
    ) -> None:
        response = await funding.post(f"/v1/units/{COMMUNE}/works?as_of={ON}", json=work(**extra))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["code"] == code
        assert field in {e["field"] for e in problem["errors"]}
        assert problem["message_vi"]
        assert problem["message_en"]
        async with db.engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM funding.works")) == 0

    @pytest.mark.parametrize(
        ("set_code", "number"),
        [("xa-ntm-2021", 19), ("xa-ntm-2026", 10), ("xa-ntm-2021@38", 17)],
    )
    async def test_last_criteria_of_each_set_are_accepted(
        self, funding: httpx.AsyncClient, set_code: str, number: int
    ) -> None:
        created = await create_work(funding, set_code=set_code, criterion_number=number)
        assert created["set_code"] == set_code

    async def test_an_unknown_unit_is_a_404_naming_the_code(
        self, funding: httpx.AsyncClient
    ) -> None:
        response = await funding.post("/v1/units/99999/works", json=work())
        assert response.status_code == 404
        assert response.json()["errors"][0]["field"] == "code"

    async def test_an_unknown_work_is_a_404(self, funding: httpx.AsyncClient) -> None:
        assert (await funding.get("/v1/works/987654")).status_code == 404
        assert (await funding.get("/v1/works/abc")).status_code == 422

    async def test_the_district_lists_the_works_of_its_communes_page_by_page(
        self, funding: httpx.AsyncClient
    ) -> None:
        ids = [(await create_work(funding, code=f"W-{n}"))["id"] for n in range(3)]
        ids.append((await create_work(funding, unit=OTHER_COMMUNE, code="W-X"))["id"])
        await create_work(funding, unit=ELSEWHERE, code="W-ELSEWHERE")  # not listed
        seen: list[int] = []
        cursor = ""
        for _ in range(5):
            page = await funding.get(
                f"/v1/units/{DISTRICT}/works?as_of={ON}&limit=3&cursor={cursor}"
            )
            assert page.status_code == 200, page.text
            body = page.json()
            assert body["total_count"] == 4
            seen += [w["id"] for w in body["items"]]
            if body["next_cursor"] is None:
                break
            cursor = body["next_cursor"]
        assert seen == ids
        only_commune = (await funding.get(f"/v1/units/{OTHER_COMMUNE}/works?as_of={ON}")).json()
        assert [w["code"] for w in only_commune["items"]] == ["W-X"]

    async def test_a_tampered_cursor_is_a_422(self, funding: httpx.AsyncClient) -> None:
        response = await funding.get(f"/v1/units/{COMMUNE}/works?as_of={ON}&cursor=%22x%22")
        assert response.status_code == 422
        assert response.json()["code"] == "cursor.invalid"

    async def test_the_list_shows_committed_accepted_paid_settled_and_debt(
        self, funding: httpx.AsyncClient
    ) -> None:
        created = await create_work(funding)
        await obligate(funding, created["id"], "contract", 1_000, "2023-02-01")
        await obligate(funding, created["id"], "acceptance", 1_200, "2023-05-01")
        await funding.post(
            "/v1/transfers",
            json={
                "external_id": "R-1",
                "unit": COMMUNE,
                "source": "NSTW-DT",
                "amount": 5_000,
                "date": "2023-02-01",
            },
        )
        await disburse(funding, "D-1", 700, "2023-03-01")
        settled = await funding.post(
            "/v1/transfers",
            json={
                "external_id": "S-1",
                "unit": COMMUNE,
                "source": "NSTW-DT",
                "amount": 300,
                "date": "2023-06-01",
                "type": "settlement",
                "work": "GT-01",
            },
        )
        assert settled.status_code == 201, settled.text
        page = (await funding.get(f"/v1/units/{COMMUNE}/works?as_of={ON}")).json()
        (listed,) = page["items"]
        assert {k: listed[k] for k in ("committed", "accepted", "paid", "settled", "debt")} == {
            "committed": 1_000,
            "accepted": 1_200,
            "paid": 700,
            "settled": 300,
            "debt": 500,
        }


class TestObligations:
    async def test_obligation_is_recorded_and_listed(self, funding: httpx.AsyncClient) -> None:
        created = await create_work(funding)
        response = await obligate(funding, created["id"], "contract", 3_200_000_000, "2023-03-15")
        assert response.status_code == 201, response.text
        out = response.json()
        assert out["amount"] == 3_200_000_000
        assert out["basis"] == "contract"
        assert out["work"] == "GT-01"
        listed = (await funding.get(f"/v1/works/{created['id']}/obligations")).json()["items"]
        assert [o["id"] for o in listed] == [out["id"]]

    async def test_idempotency_key_same_body_answers_the_first(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        created = await create_work(funding)
        key = {"Idempotency-Key": "HD-12-2023"}
        first = await obligate(funding, created["id"], "contract", 100, "2023-03-15", **key)
        again = await obligate(funding, created["id"], "contract", 100, "2023-03-15", **key)
        other = await obligate(funding, created["id"], "contract", 101, "2023-03-15", **key)
        assert first.status_code == 201
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["replayed"] is True
        assert other.status_code == 409
        assert other.json()["code"] == "obligation.idempotency_conflict"
        assert other.json()["errors"][0]["field"] == "Idempotency-Key"
        async with db.engine.connect() as conn:
            count = await conn.scalar(text("SELECT count(*) FROM funding.work_obligations"))
        assert count == 1

    async def test_same_key_from_concurrent_requests_records_once(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        created = await create_work(funding)
        key = {"Idempotency-Key": "HD-CONCURRENT"}
        responses = await asyncio.gather(
            *(
                obligate(funding, created["id"], "contract", 100, "2023-03-15", **key)
                for _ in range(6)
            )
        )
        assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
        assert len({r.json()["id"] for r in responses}) == 1
        async with db.engine.connect() as conn:
            count = await conn.scalar(text("SELECT count(*) FROM funding.work_obligations"))
        assert count == 1

    async def test_without_a_key_each_post_records_a_row(self, funding: httpx.AsyncClient) -> None:
        created = await create_work(funding)
        await obligate(funding, created["id"], "contract", 100, "2023-03-15")
        await obligate(funding, created["id"], "contract", 100, "2023-03-15")
        read = (await funding.get(f"/v1/works/{created['id']}")).json()
        assert read["committed"] == 200

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"basis": "promise"}, "basis"),
            ({"amount": 0}, "amount"),
            ({"amount": -5}, "amount"),
            ({"amount": 10.5}, "amount"),
            ({"amount": "100"}, "amount"),
            ({"date": "2023-02-30"}, "date"),
            ({"date": "2099-01-01"}, "date"),
            ({"date": "2005-01-01"}, "date"),
            ({"document": "a\x00b"}, "document"),
        ],
    )
    async def test_bad_obligation_names_the_field(
        self, funding: httpx.AsyncClient, body: dict[str, Any], field: str
    ) -> None:
        created = await create_work(funding)
        payload = {"basis": "contract", "amount": 100, "date": "2023-03-15"} | body
        response = await funding.post(f"/v1/works/{created['id']}/obligations", json=payload)
        assert response.status_code == 422, response.text
        assert field in {e["field"] for e in response.json()["errors"]}

    async def test_obligation_of_an_unknown_work_is_a_404(self, funding: httpx.AsyncClient) -> None:
        response = await obligate(funding, 987654, "contract", 100, "2023-03-15")
        assert response.status_code == 404
        assert response.json()["code"] == "work.not_found"

    async def test_reversal_mirrors_once(self, funding: httpx.AsyncClient) -> None:
        created = await create_work(funding)
        original = (await obligate(funding, created["id"], "contract", 900, "2023-03-15")).json()
        url = f"/v1/works/{created['id']}/obligations/{original['id']}/reversal"
        reversal = await funding.post(url, json={"document": "Phụ lục HĐ 01"})
        assert reversal.status_code == 201, reversal.text
        out = reversal.json()
        assert out["amount"] == -900
        assert out["date"] == "2023-03-15"
        assert out["reverses"] == original["id"]
        again = await funding.post(url, json={"document": "Phụ lục HĐ 01"})
        assert again.status_code == 200
        assert again.json()["id"] == out["id"]
        other = await funding.post(url, json={"document": "Phụ lục HĐ 02"})
        assert other.status_code == 409
        assert other.json()["code"] == "obligation.already_reversed"
        of_reversal = await funding.post(
            f"/v1/works/{created['id']}/obligations/{out['id']}/reversal", json={"document": "x"}
        )
        assert of_reversal.status_code == 409
        assert of_reversal.json()["code"] == "obligation.not_reversible"
        read = (await funding.get(f"/v1/works/{created['id']}")).json()
        assert read["committed"] == 0
        listed = (await funding.get(f"/v1/works/{created['id']}/obligations")).json()["items"]
        assert listed[0]["reversed_by"] == out["id"]

    async def test_reversal_of_another_works_obligation_is_a_404(
        self, funding: httpx.AsyncClient
    ) -> None:
        one = await create_work(funding)
        two = await create_work(funding, code="GT-02")
        original = (await obligate(funding, one["id"], "contract", 900, "2023-03-15")).json()
        response = await funding.post(
            f"/v1/works/{two['id']}/obligations/{original['id']}/reversal",
            json={"document": "x"},
        )
        assert response.status_code == 404
        assert response.json()["code"] == "obligation.not_found"

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE funding.work_obligations SET amount = 1",
            "DELETE FROM funding.work_obligations",
            # a correction that does not mirror its original
            "INSERT INTO funding.work_obligations (work_id, basis, amount, date, reverses)"
            " SELECT work_id, basis, -amount + 1, date, id FROM funding.work_obligations",
            "INSERT INTO funding.work_obligations (work_id, basis, amount, date, reverses)"
            " SELECT work_id, 'acceptance', -amount, date, id FROM funding.work_obligations",
        ],
    )
    async def test_the_database_refuses_to_change_or_mis_correct_an_obligation(
        self, funding: httpx.AsyncClient, db: Database, statement: str
    ) -> None:
        created = await create_work(funding)
        await obligate(funding, created["id"], "contract", 900, "2023-03-15")
        with pytest.raises(DBAPIError):
            async with db.engine.begin() as conn:
                await conn.execute(text(statement))


class TestConstructionDebt:
    async def test_debt_as_of_each_date(self, funding: httpx.AsyncClient) -> None:
        """Contract 1,000 on 1 Feb; payment 400 on 1 Mar; acceptance 1,300 on 1 Apr; payment 900
        on 1 May (which is then reversed); payment 900 again on 1 Jun."""
        created = await create_work(funding)
        work_id = created["id"]
        assert (await obligate(funding, work_id, "contract", 1_000, "2023-02-01")).is_success
        await disburse(funding, "D-1", 400, "2023-03-01")
        assert (await obligate(funding, work_id, "acceptance", 1_300, "2023-04-01")).is_success
        paid_may = await disburse(funding, "D-2", 900, "2023-05-01")

        expected = {
            "2023-01-31": 0,  # nothing owed yet
            "2023-02-01": 1_000,  # the contract
            "2023-02-28": 1_000,
            "2023-03-01": 600,  # 1,000 − 400
            "2023-04-01": 900,  # acceptance 1,300 exceeds the contract: 1,300 − 400
            "2023-04-30": 900,
            "2023-05-01": 0,  # 1,300 − 1,300
            "2023-12-31": 0,
        }
        for day, debt in expected.items():
            result = await debt_on(funding, day)
            assert result["total_debt"] == debt, day
            assert result["has_debt"] is (debt > 0), day

        reversed_ = await funding.post(
            f"/v1/transfers/{paid_may['id']}/reversal", json={"reason": "chuyển nhầm"}
        )
        assert reversed_.status_code == 201, reversed_.text
        after = await debt_on(funding, "2023-05-31")
        assert after["total_debt"] == 900
        assert after["has_debt"] is True
        (in_debt,) = after["works_in_debt"]
        assert in_debt["code"] == "GT-01"
        assert in_debt["contract"] == 1_000
        assert in_debt["acceptance"] == 1_300
        assert in_debt["obligation"] == 1_300
        assert in_debt["paid"] == 400
        assert in_debt["criterion_name"] == "Giao thông"
        assert "Đường giao thông" in in_debt["label_vi"]
        assert "900 đồng" in in_debt["label_vi"]
        assert "còn nợ đọng xây dựng cơ bản 900 đồng ở 1 công trình" in after["summary_vi"]
        assert (await debt_on(funding, "2023-03-01"))["total_debt"] == 600  # history unchanged

        await disburse(funding, "D-3", 900, "2023-06-01")
        settled = await debt_on(funding, "2023-06-01")
        assert settled["total_debt"] == 0
        assert settled["works_in_debt"] == []
        assert "không có nợ đọng" in settled["summary_vi"]

    async def test_corrected_contract_no_longer_counts(self, funding: httpx.AsyncClient) -> None:
        created = await create_work(funding)
        wrong = (await obligate(funding, created["id"], "contract", 5_000, "2023-02-01")).json()
        await obligate(funding, created["id"], "contract", 1_000, "2023-02-01")
        assert (await debt_on(funding, "2023-03-01"))["total_debt"] == 6_000
        await funding.post(
            f"/v1/works/{created['id']}/obligations/{wrong['id']}/reversal",
            json={"document": "Biên bản điều chỉnh"},
        )
        assert (await debt_on(funding, "2023-03-01"))["total_debt"] == 1_000

    async def test_a_district_owes_what_its_communes_owe_per_work(
        self, funding: httpx.AsyncClient
    ) -> None:
        one = await create_work(funding)
        overpaid = await create_work(funding, code="GT-02")
        other = await create_work(funding, unit=OTHER_COMMUNE, code="TH-01", kind="school")
        await obligate(funding, one["id"], "contract", 1_000, "2023-02-01")
        await obligate(funding, overpaid["id"], "contract", 100, "2023-02-01")
        await obligate(funding, other["id"], "contract", 2_000, "2023-02-01")
        await funding.post(
            "/v1/transfers",
            json={
                "external_id": "R-1",
                "unit": COMMUNE,
                "source": "NSTW-DT",
                "amount": 5_000,
                "date": "2023-02-01",
            },
        )
        await disburse(funding, "D-1", 300, "2023-02-02", work_code="GT-02")
        district = await debt_on(funding, "2023-03-01", unit=DISTRICT)
        assert district["total_debt"] == 3_000  # the overpaid work does not offset the others
        assert {w["code"]: w["debt"] for w in district["works"]} == {
            "GT-01": 1_000,
            "GT-02": 0,
            "TH-01": 2_000,
        }
        # by unit code (15493 before 15592), then work code
        assert [w["code"] for w in district["works_in_debt"]] == ["TH-01", "GT-01"]
        commune = await debt_on(funding, "2023-03-01")
        assert commune["total_debt"] == 1_000

    async def test_the_2025_commune_inherits_the_debt_of_the_legacy_commune(
        self, funding: httpx.AsyncClient
    ) -> None:
        created = await create_work(funding)
        await obligate(funding, created["id"], "contract", 1_000, "2023-02-01")
        after_merger = await debt_on(funding, "2025-08-01")  # 15592 is then the 2025 commune
        assert after_merger["edition"] == "2025"
        assert after_merger["total_debt"] == 1_000
        assert after_merger["has_debt"] is True

    async def test_bad_date_or_unit_is_a_4xx(self, funding: httpx.AsyncClient) -> None:
        bad_date = await funding.get(f"/v1/units/{COMMUNE}/construction-debt?as_of=2023-13-01")
        assert bad_date.status_code == 422
        assert "as_of" in {e["field"] for e in bad_date.json()["errors"]}
        unknown = await funding.get("/v1/units/99999/construction-debt?as_of=2023-01-01")
        assert unknown.status_code == 404
