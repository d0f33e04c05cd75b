"""Funding reports on real PostgreSQL, fed through the real REST API: rollups by path, shares
that add to exactly 100%, cumulative vs yearly, in kind, reversals, the 2025 reorganisation,
the workbook and the batch lookup."""

from __future__ import annotations

import io
import itertools
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from shared.db import Database

DISTRICT = "395"  # Huyện Thọ Xuân, Thanh Hóa (legacy)
COMMUNE = "15592"  # Xã Xuân Lập, in 395; passed into the 2025 commune 15592
NEIGHBOUR = "15583"  # also in 395, also passed into the 2025 commune 15592
OTHER_DISTRICT_COMMUNE = "14755"  # in district 380 of the same province
NEW_COMMUNE_ELSEWHERE = "14797"  # a 2025 commune of province 38 (Phường Hạc Thành)

_ids = itertools.count(1)


async def post(funding: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("external_id", f"RPT-{next(_ids)}")
    body.setdefault("date", "2023-04-12")
    response = await funding.post("/v1/transfers", json=body)
    assert response.status_code == 201, response.text
    posted: dict[str, Any] = response.json()
    return posted


async def report(funding: httpx.AsyncClient, code: str, **params: Any) -> dict[str, Any]:
    response = await funding.get(f"/v1/units/{code}/report", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def amounts(body: dict[str, Any]) -> dict[str, int]:
    return {s["source"]: s["amount"] for s in body["by_source"] if s["amount"]}


async def seed_district_2023(funding: httpx.AsyncClient) -> None:
    """Central, provincial, district, commune and people's money in district 395 in 2023."""
    await post(funding, unit=COMMUNE, source="NSTW-DT", amount=10_000_000_000)
    await post(funding, unit=NEIGHBOUR, source="NSTW-SN", amount=500_400_000)
    await post(funding, unit=COMMUNE, source="NST", amount=3_000_000_000)
    await post(funding, unit=DISTRICT, source="NSH", amount=1_500_000_000, date="2023-09-30")
    await post(funding, unit=COMMUNE, source="NSX", amount=500_000_000)
    await post(funding, unit=NEIGHBOUR, source="CD-TM", amount=2_000_000_001)
    # elsewhere in the province, and another year: not in the district's 2023 figures
    await post(funding, unit=OTHER_DISTRICT_COMMUNE, source="NSTW-DT", amount=7_000_000_000)
    await post(funding, unit=COMMUNE, source="NSTW-DT", amount=4_000_000_000, date="2022-03-01")


class TestDistrictReport:
    async def test_parts_add_up_to_the_total_and_shares_to_100_percent(
        self, funding: httpx.AsyncClient
    ) -> None:
        await seed_district_2023(funding)
        body = await report(funding, DISTRICT, year=2023)
        assert amounts(body) == {
            "NSTW-DT": 10_000_000_000,
            "NSTW-SN": 500_400_000,
            "NST": 3_000_000_000,
            "NSH": 1_500_000_000,
            "NSX": 500_000_000,
            "CD-TM": 2_000_000_001,
        }
        total = 17_500_400_001
        assert body["total"] == total
        assert sum(s["amount"] for s in body["by_source"]) == total
        assert sum(s["share_bp"] for s in body["by_source"]) == 10_000
        assert sum(g["share_bp"] for g in body["by_group"]) == 10_000
        groups = {g["group"]: g["amount"] for g in body["by_group"]}
        assert groups == {"NSNN": 15_500_400_000, "LG": 0, "TD": 0, "XHH": 2_000_000_001}
        central = next(s for s in body["by_source"] if s["source"] == "NSTW-DT")
        assert central["share_bp"] == 5714  # 10,000 / 17,500.4 = 57.1415…%
        assert central["share"] == 0.5714
        assert central["share_vi"] == "57,14%"
        assert body["total_ty"] == "17,500 tỷ đồng"
        assert body["total_trieu"] == "17.500 triệu đồng"
        parts = {p["label"]: p for p in body["summary_parts"]}
        assert {k: p["amount"] for k, p in parts.items()} == {
            "ngân sách trung ương": 10_500_400_000,
            "ngân sách tỉnh": 3_000_000_000,
            "ngân sách huyện, xã": 2_000_000_000,
            "nhân dân đóng góp": 2_000_000_001,
        }
        assert sum(p["share_bp"] for p in parts.values()) == 10_000
        assert body["summary_vi"].startswith(
            "Tổng nguồn lực huy động năm 2023 của Huyện Thọ Xuân là 17,500 tỷ đồng, trong đó: "
            "ngân sách trung ương 10,500 tỷ đồng (60,00%); ngân sách tỉnh 3,000 tỷ đồng (17,14%);"
            " ngân sách huyện, xã 2,000 tỷ đồng (11,43%); nhân dân đóng góp 2,000 tỷ đồng "
            "(11,43%)."
        )

    async def test_cumulative_runs_from_2021_and_a_year_does_not(
        self, funding: httpx.AsyncClient
    ) -> None:
        await seed_district_2023(funding)
        year_2023 = await report(funding, DISTRICT, year=2023)
        year_2022 = await report(funding, DISTRICT, year=2022)
        since_start = await report(funding, DISTRICT, as_of="2023-12-31")
        first_half = await report(funding, DISTRICT, **{"from": "2023-01-01", "to": "2023-06-30"})
        assert year_2022["total"] == 4_000_000_000
        assert year_2022["cumulative"] == 4_000_000_000
        assert year_2023["cumulative"] == 17_500_400_001 + 4_000_000_000
        assert since_start["window"]["kind"] == "cumulative"
        assert since_start["total"] == since_start["cumulative"] == year_2023["cumulative"]
        assert "Lũy kế từ năm 2021 đến 31/12/2023: 21,500 tỷ đồng." in year_2023["summary_vi"]
        assert first_half["total"] == 17_500_400_001 - 1_500_000_000  # NSH came in September
        assert first_half["cumulative"] == first_half["total"] + 4_000_000_000
        assert first_half["window"] == {
            "kind": "range",
            "year": None,
            "from": "2023-01-01",
            "to": "2023-06-30",
            "cumulative_from": "2021-01-01",
            "label_vi": "từ 01/01/2023 đến 30/06/2023",
        }

    async def test_the_province_holds_its_districts(self, funding: httpx.AsyncClient) -> None:
        await seed_district_2023(funding)
        province = await report(funding, "38", year=2023)
        commune = await report(funding, COMMUNE, year=2023)
        assert province["total"] == 17_500_400_001 + 7_000_000_000
        assert commune["total"] == 10_000_000_000 + 3_000_000_000 + 500_000_000


class TestInKind:
    async def test_land_in_square_metres_with_households_and_value(
        self, funding: httpx.AsyncClient
    ) -> None:
        gift = await post(
            funding,
            unit=COMMUNE,
            source="CD-HV",
            kind="land",
            quantity=1200,
            quantity_unit="m2",
            households=35,
        )
        await post(funding, unit=NEIGHBOUR, source="CD-HV", kind="land", quantity=800.5,
                   households=4, amount=120_000_000)  # fmt: skip
        await post(funding, unit=NEIGHBOUR, source="CD-TM", amount=880_000_000)
        body = await report(funding, DISTRICT, year=2023)
        [land] = body["in_kind"]
        assert land["kind"] == "land"
        assert land["unit"] == "m2"
        assert land["unit_vi"] == "m²"
        assert land["quantity_exact"] == "2000.500"
        assert land["quantity"] == 2000.5
        assert land["quantity_vi"] == "2.000,5 m²"
        assert land["households"] == 39
        assert land["value_vnd"] == gift["amount"] + 120_000_000
        people = {s["source"]: s for s in body["by_source"]}
        assert people["CD-HV"]["amount"] == land["value_vnd"]
        assert people["CD-HV"]["in_kind"] is True
        assert "hiến 2.000,5 m² đất của 39 hộ" in body["summary_vi"]


class TestReversal:
    async def test_a_reversal_removes_the_amount_from_every_report(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        await seed_district_2023(funding)
        wrong = await post(funding, unit=COMMUNE, source="DN", amount=999_000_000)
        before = [
            (await report(funding, code, year=2023))["total"] for code in (COMMUNE, DISTRICT, "38")
        ]
        response = await funding.post(
            f"/v1/transfers/{wrong['id']}/reversal", json={"reason": "nhập trùng"}
        )
        assert response.status_code == 201, response.text
        after = [
            (await report(funding, code, year=2023))["total"] for code in (COMMUNE, DISTRICT, "38")
        ]
        assert [b - a for b, a in zip(before, after, strict=True)] == [999_000_000] * 3
        district = await report(funding, DISTRICT, year=2023)
        assert amounts(district).get("DN") is None
        assert sum(s["share_bp"] for s in district["by_source"]) == 10_000
        lookup = await funding.post(
            "/v1/summaries/lookup", json={"keys": [{"unit": COMMUNE}], "year": 2023}
        )
        assert lookup.json()["items"][0]["total"] == after[0]
        async with db.engine.connect() as conn:
            kept = await conn.scalar(
                text("SELECT count(*) FROM funding.transfers WHERE source_code = 'DN'")
            )
        assert kept == 2  # the posting and its reversal: nothing deleted


class TestReorganisation:
    async def test_a_2025_province_report_includes_the_legacy_units_history(
        self, funding: httpx.AsyncClient
    ) -> None:
        await post(funding, unit=COMMUNE, source="NSTW-DT", amount=1_000_000_000)
        await post(funding, unit=DISTRICT, source="NSH", amount=200_000_000)
        await post(funding, unit="38", source="NST", amount=30_000_000, date="2025-03-01")
        await post(funding, unit=NEW_COMMUNE_ELSEWHERE, source="NSX", amount=4_000_000,
                   date="2025-08-01")  # fmt: skip
        await post(funding, unit=COMMUNE, source="NSX", amount=5_000_000, date="2025-09-01")
        province = await report(funding, "38", as_of="2025-12-31")
        assert province["edition"] == "2025"
        assert province["cumulative"] == 1_239_000_000
        assert amounts(province) == {
            "NSTW-DT": 1_000_000_000,
            "NST": 30_000_000,
            "NSH": 200_000_000,
            "NSX": 9_000_000,
        }
        new_commune = await report(funding, COMMUNE, as_of="2025-12-31")
        assert new_commune["edition"] == "2025"
        # the legacy commune's history and its own, not the district's budget
        assert amounts(new_commune) == {"NSTW-DT": 1_000_000_000, "NSX": 5_000_000}
        legacy = await report(funding, COMMUNE, as_of="2024-12-31")
        assert legacy["edition"] == "legacy"
        assert amounts(legacy) == {"NSTW-DT": 1_000_000_000}


class TestPledgesAndWorks:
    async def test_pledged_outstanding_disbursed_and_by_criterion(
        self, funding: httpx.AsyncClient, db: Database
    ) -> None:
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO funding.works (unit_id, code, name, kind, set_code,"
                    " criterion_number, planned_vnd)"
                    " SELECT id, 'DUONG-01', 'Đường trục xã', 'road', 'xa-ntm-2021', 2,"
                    " 2000000000 FROM funding.units WHERE edition = 'legacy' AND code = :c"
                ),
                {"c": COMMUNE},
            )
        await post(funding, unit=COMMUNE, source="DN", amount=300_000_000, type="pledge",
                   external_id="PL-1")  # fmt: skip
        await post(funding, unit=COMMUNE, source="DN", amount=200_000_000, pledge="PL-1")
        await post(funding, unit=COMMUNE, source="NSTW-DT", amount=1_000_000_000)
        await post(funding, unit=COMMUNE, source="NSTW-DT", amount=600_000_000,
                   type="disbursement", work="DUONG-01", date="2023-06-01")  # fmt: skip
        body = await report(funding, DISTRICT, year=2023)
        dn = next(s for s in body["by_source"] if s["source"] == "DN")
        assert (dn["amount"], dn["pledged"], dn["pledged_outstanding"]) == (
            200_000_000,
            300_000_000,
            100_000_000,
        )
        assert body["total"] == 1_200_000_000  # disbursement is not mobilisation
        assert body["disbursed"] == 600_000_000
        assert body["pledged_outstanding"] == 100_000_000
        [work] = body["by_work"]
        assert (work["code"], work["unit"], work["disbursed"], work["planned_vnd"]) == (
            "DUONG-01",
            COMMUNE,
            600_000_000,
            2_000_000_000,
        )
        [criterion] = body["by_criterion"]
        assert criterion["criterion_number"] == 2
        assert criterion["criterion_name"] == "Giao thông"
        assert criterion["disbursed"] == 600_000_000
        assert "Đã giải ngân cho các công trình 600 triệu đồng." in body["summary_vi"]
        assert "cam kết chưa nhận còn 100 triệu đồng" in body["summary_vi"]
        earlier = await report(funding, DISTRICT, year=2022)
        assert earlier["pledged_outstanding"] == 0


class TestWorkbook:
    async def test_xlsx_opens_and_holds_the_same_totals(self, funding: httpx.AsyncClient) -> None:
        await seed_district_2023(funding)
        body = await report(funding, DISTRICT, year=2023)
        response = await funding.get(f"/v1/units/{DISTRICT}/report.xlsx", params={"year": 2023})
        assert response.status_code == 200
        assert response.headers["content-disposition"].endswith('_395_2023.xlsx"')
        wb = load_workbook(io.BytesIO(response.content))
        assert wb.sheetnames == ["Tổng hợp", "Theo công trình", "Theo tiêu chí"]
        rows = [r for r in wb["Tổng hợp"].iter_rows(values_only=True) if r and r[0]]
        label = {r[0]: r for r in rows}
        assert label["Tổng nguồn lực huy động (đồng)"][1] == body["total"]
        assert label["Lũy kế từ 01/01/2021 (đồng)"][1] == body["cumulative"]
        by_code = {r[1]: r for r in rows if r[1] in {s["source"] for s in body["by_source"]}}
        for s in body["by_source"]:
            assert by_code[s["source"]][3] == s["amount"]
            assert by_code[s["source"]][4] == pytest.approx(s["share"])
        totals = [r for r in rows if r[0] == "Tổng cộng"]
        assert [r[3] for r in totals] == [body["total"], body["total"]]
        assert [r[4] for r in totals] == [1.0, 1.0]
        assert body["summary_vi"] in {r[0] for r in rows}


class TestLookup:
    async def test_many_units_one_window_in_key_order(self, funding: httpx.AsyncClient) -> None:
        await seed_district_2023(funding)
        response = await funding.post(
            "/v1/summaries/lookup",
            json={
                "keys": [
                    {"unit": COMMUNE},
                    {"unit": "99999"},
                    {"unit": DISTRICT, "as_of": "2023-05-01"},
                    {"unit": "38", "as_of": "2025-08-01"},
                ],
                "year": 2023,
            },
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert items[1] is None
        assert [i["unit"] for i in (items[0], items[2], items[3])] == [COMMUNE, DISTRICT, "38"]
        assert items[0]["total"] == 13_500_000_000
        assert items[2]["total"] == 17_500_400_001
        assert items[3]["edition"] == "2025"
        assert items[3]["total"] == 17_500_400_001 + 7_000_000_000
        for item in (items[0], items[2], items[3]):
            assert sum(s["share_bp"] for s in item["by_source"]) == 10_000

    async def test_totals_are_the_full_summaries_without_their_breakdown(
        self, funding: httpx.AsyncClient
    ) -> None:
        await seed_district_2023(funding)
        pledge = {"external_id": "T-pledge", "unit": COMMUNE, "source": "DN", "type": "pledge",
                  "amount": 50_000_000, "date": "2023-03-01"}  # fmt: skip
        assert (await funding.post("/v1/transfers", json=pledge)).status_code == 201
        for window in ({"year": 2023}, {"from": "2023-01-01", "to": "2023-06-30"}, {}):
            keys = [{"unit": COMMUNE, "as_of": "2023-05-01"}, {"unit": "99999"},
                    {"unit": DISTRICT, "as_of": "2023-05-01"},
                    {"unit": "38", "as_of": "2025-08-01"}]  # fmt: skip
            full, totals = [
                (
                    await funding.post(
                        "/v1/summaries/lookup", json={"keys": keys, **window, "detail": detail}
                    )
                ).json()["items"]
                for detail in ("full", "totals")
            ]
            assert totals[1] is full[1] is None
            breakdown = {"by_source", "by_group", "in_kind", "summary_vi", "summary_parts"}
            for whole, part in zip(full, totals, strict=True):
                if whole is None:
                    continue
                assert part == {k: v for k, v in whole.items() if k not in breakdown}
                assert part["total"] == sum(s["amount"] for s in whole["by_source"])
            assert {i["edition"] for i in totals if i} == {"legacy", "2025"}
            assert any(i["pledged"] or i["pledged_outstanding"] for i in totals if i)


class TestBadInput:
    @pytest.mark.parametrize(
        ("path", "params", "status", "field"),
        [
            ("/v1/units/395/report", {"year": 2019}, 422, "year"),
            ("/v1/units/395/report", {"year": "hai nghìn"}, 422, "year"),
            ("/v1/units/395/report", {"year": 2023, "from": "2023-01-01"}, 422, "year"),
            ("/v1/units/395/report", {"from": "2023-01-15"}, 422, "from"),
            ("/v1/units/395/report", {"to": "2023-02-27"}, 422, "to"),
            ("/v1/units/395/report", {"from": "2023-02-31"}, 422, "from"),
            ("/v1/units/395/report", {"year": 2023, "as_of": "hôm nay"}, 422, "as_of"),
            ("/v1/units/99999/report", {"year": 2023}, 404, "code"),
            ("/v1/units/395/report", {"year": 2025, "as_of": "2025-12-31"}, 404, "code"),
            ("/v1/units/3x5/report", {"year": 2023}, 422, "code"),
            ("/v1/units/395/report.xlsx", {"to": "2023-02-27"}, 422, "to"),
        ],
    )
    async def test_bad_input_is_a_problem_naming_the_field(
        self,
        funding: httpx.AsyncClient,
        path: str,
        params: dict[str, Any],
        status: int,
        field: str,
    ) -> None:
        response = await funding.get(path, params=params)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert field in {e["field"] for e in problem["errors"]}
        assert problem["message_vi"]
        assert problem["message_en"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"keys": [], "year": 2023}, "keys"),
            ({"keys": [{"unit": "x"}], "year": 2023}, "keys.0.unit"),
            ({"keys": [{"unit": "395"}], "year": 2023, "to": "2023-12-31"}, "year"),
            ({"keys": [{"unit": "395"}] * 1001}, "keys"),
        ],
    )
    async def test_bad_lookup_names_the_field(
        self, funding: httpx.AsyncClient, body: dict[str, Any], field: str
    ) -> None:
        response = await funding.post("/v1/summaries/lookup", json=body)
        assert response.status_code == 422, response.text
        assert field in {e["field"] for e in response.json()["errors"]}
