"""The criteria report over REST, on the real database: district 395 (Huyện Thọ Xuân, 30
commune-level units on 2023-05-19), a dozen of its communes given values for xa-ntm-2021."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import event

from services.criteria.schemas.reports import CriteriaReportOut
from shared.db import Database
from tests.criteria.test_report_domain import SUMMARY, THIRTEEN, values_for

DISTRICT = "395"
AS_OF = "2023-05-19"
SET = "xa-ntm-2021"
YEAR = 2023
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# A province variant: 3.1 raised to 90 %, and an added boolean indicator 3.9.
VARIANT: dict[str, Any] = {
    "name": "Bộ tiêu chí xã NTM tỉnh Thanh Hóa (thử nghiệm)",
    "legal_basis": "Quyết định thử nghiệm",
    "overrides": [
        {"code": "3.1", "thresholds": [{"value": 90}], "verified": False, "source": "test"}
    ],
    "additions": [
        {
            "criterion": 3,
            "indicator": {
                "code": "3.9",
                "name": "Có tổ thủy nông cơ sở hoạt động hiệu quả",
                "kind": "boolean",
                "comparator": "eq",
                "thresholds": [{"value": True}],
                "verified": False,
                "source": "test",
            },
        }
    ],
}

# The twelve communes with data (Tây Hồ, 15523, stays without, like the other 17 of 395).
TWELVE = [spec for spec in THIRTEEN if not spec[4]]


def wire(value: bool | Decimal) -> bool | str:
    return value if isinstance(value, bool) else str(value)


async def give_values(
    criteria: httpx.AsyncClient, specs: list[tuple[str, str, set[str], set[str], bool]]
) -> None:
    """Region BTB for each commune, then every value in one atomic batch."""
    rows: list[dict[str, Any]] = []
    for code, _, fail, missing, _ in specs:
        profile = await criteria.put(
            f"/v1/units/{code}/profile", params={"as_of": AS_OF}, json={"region": "BTB"}
        )
        assert profile.status_code == 200, profile.text
        rows += [
            {
                "unit": code,
                "set": SET,
                "year": YEAR,
                "indicator": indicator,
                "value": wire(value),
                "as_of": AS_OF,
            }
            for indicator, value in values_for(fail, missing).items()
        ]
    response = await criteria.post("/v1/indicator-values", json={"values": rows})
    assert response.status_code == 201, response.text


async def report(
    criteria: httpx.AsyncClient, code: str = DISTRICT, **params: str | int
) -> dict[str, Any]:
    query: dict[str, str | int] = {"set": SET, "year": YEAR, "as_of": AS_OF}
    response = await criteria.get(f"/v1/units/{code}/criteria-report", params=query | params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    # the body is built by hand for speed: it must be exactly the documented model
    assert CriteriaReportOut.model_validate(body).model_dump(mode="json") == body
    return body


@contextmanager
def counting_statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement on the service's tables sent while the block runs: those SQLAlchemy
    executes, and those sent on the raw asyncpg connection behind a session (the bulk read of
    values)."""
    seen: list[str] = []
    engine = db.engine.sync_engine

    def record(statement: str) -> None:
        # asyncpg's own type introspection on a fresh connection reads pg_catalog: not ours
        if "criteria." in statement:
            seen.append(statement)

    def before(*args: Any) -> None:
        record(args[2])  # (conn, cursor, statement, parameters, context, executemany)

    def on_query(query: Any) -> None:
        record(query.query)

    def checkout(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(on_query)

    def checkin(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.driver_connection.remove_query_logger(on_query)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine.pool, "checkin", checkin)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine.pool, "checkin", checkin)


@pytest.fixture
async def twelve(criteria: httpx.AsyncClient) -> None:
    await give_values(criteria, TWELVE)


class TestDistrictReport:
    async def test_distribution_and_failures_match_what_was_recorded(
        self, criteria: httpx.AsyncClient, twelve: None
    ) -> None:
        body = await report(criteria)
        assert body["unit"]["name"] == "Huyện Thọ Xuân"
        assert (body["level"], body["criteria_total"], body["indicators_total"]) == (
            "commune",
            19,
            57,
        )
        assert (body["units_total"], body["units_evaluated"], body["units_without_data"]) == (
            30,
            12,
            18,
        )
        assert "15523" in body["without_data_unit_codes"]
        assert [
            (b["criteria_met"], b["units"], b["indicators_met_min"], b["indicators_met_max"])
            for b in body["distribution"]
        ] == [(19, 3, 57, 57), (18, 3, 55, 56), (17, 5, 52, 55), (16, 1, 53, 53)]
        assert body["distribution"][0]["unit_codes"] == ["15568", "15583", "15592"]
        assert (body["meeting_standard"], body["meeting_standard_codes"]) == (
            3,
            ["15568", "15583", "15592"],
        )
        failing = {
            f["number"]: (f["name"], f["units_not_met"], f["unit_codes"])
            for f in body["criterion_failures"]
            if f["units_not_met"]
        }
        assert failing == {
            2: ("Giao thông", 7, ["15493", "15502", "15508", "15511", "15514", "15517", "15526"]),
            5: ("Trường học", 1, ["15517"]),
            10: ("Thu nhập", 1, ["15511"]),
            17: ("Môi trường và an toàn thực phẩm", 4, ["15505", "15508", "15517", "15526"]),
        }
        assert body["incomplete_unit_codes"] == ["15514", "15520"]
        assert len(body["units"]) == 30

    async def test_the_paragraph_names_the_communes_and_those_without_data(
        self, criteria: httpx.AsyncClient, twelve: None
    ) -> None:
        summary = (await report(criteria))["summary_vi"]
        assert summary == SUMMARY.split(" Còn ")[0] + (
            " Còn 18 đơn vị gồm: thị trấn Thọ Xuân, xã Tây Hồ, xã Xuân Sinh, xã Xuân Hưng,"
            " xã Thọ Diên, xã Thọ Lâm, xã Thọ Xương, xã Xuân Bái, xã Xuân Phú, thị trấn Sao"
            " Vàng, thị trấn Lam Sơn, xã Xuân Thiên, xã Thuận Minh, xã Quảng Phú, xã Xuân Tín,"
            " xã Phú Xuân, xã Xuân Lập và xã Trường Xuân chưa có số liệu để đánh giá."
        )

    async def test_each_unit_matches_its_own_explained_evaluation(
        self, criteria: httpx.AsyncClient, twelve: None
    ) -> None:
        body = await report(criteria)
        for line in body["units"]:
            if not line["has_data"]:
                continue
            own = await criteria.get(
                f"/v1/units/{line['code']}/evaluation",
                params={"set": SET, "year": YEAR, "as_of": AS_OF},
            )
            explained = own.json()
            assert (line["criteria_met"], line["indicators_met"]) == (
                explained["criteria_met"],
                explained["indicators_met"],
            )
            assert line["criteria"] == [c["met"] for c in explained["criteria"]]

    async def test_a_variant_reads_national_values_and_its_own(
        self, criteria: httpx.AsyncClient, twelve: None
    ) -> None:
        put = await criteria.put("/v1/criteria-sets/xa-ntm-2021/variants/38", json=VARIANT)
        assert put.status_code == 200, put.text
        own = {"unit": "15592", "set": "xa-ntm-2021@38", "year": YEAR, "indicator": "3.9"}
        recorded = await criteria.post(
            "/v1/indicator-values", json={"values": [own | {"value": True, "as_of": AS_OF}]}
        )
        assert recorded.status_code == 201, recorded.text
        body = await report(criteria, set="xa-ntm-2021@38")
        assert body["indicators_total"] == 58
        xuan_minh = next(line for line in body["units"] if line["code"] == "15592")
        explained = (
            await criteria.get(
                "/v1/units/15592/evaluation",
                params={"set": "xa-ntm-2021@38", "year": YEAR, "as_of": AS_OF},
            )
        ).json()
        assert (xuan_minh["criteria_met"], xuan_minh["indicators_met"]) == (
            explained["criteria_met"],
            explained["indicators_met"],
        )
        assert xuan_minh["criteria"] == [c["met"] for c in explained["criteria"]]
        # 3.1 = 80 fails the variant's 90; the variant's own 3.9 is met for Xuân Minh only
        assert (xuan_minh["indicators_met"], xuan_minh["indicators_missing"]) == (57, 0)
        assert xuan_minh["criteria"][2] is False
        xuan_lai = next(line for line in body["units"] if line["code"] == "15583")
        assert (xuan_lai["indicators_met"], xuan_lai["indicators_missing"]) == (56, 1)


class TestWorkbook:
    async def test_the_workbook_holds_the_same_numbers(
        self, criteria: httpx.AsyncClient, twelve: None
    ) -> None:
        body = await report(criteria)
        response = await criteria.get(
            f"/v1/units/{DISTRICT}/criteria-report.xlsx",
            params={"set": SET, "year": YEAR, "as_of": AS_OF},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == XLSX
        assert response.headers["content-disposition"] == (
            'attachment; filename="bao-cao-tieu-chi_395_xa-ntm-2021_2023.xlsx"'
        )
        book = load_workbook(io.BytesIO(response.content), read_only=True)
        assert book.sheetnames == ["Tổng hợp", "Theo đơn vị"]

        rows = [list(r) for r in book["Tổng hợp"].iter_rows(values_only=True)]
        assert [body["summary_vi"]] == [r[0] for r in rows if r[0] == body["summary_vi"]]
        start = next(i for i, r in enumerate(rows) if r[0] == "Số tiêu chí đạt") + 1
        buckets = [tuple(r[:4]) for r in rows[start : start + len(body["distribution"])]]
        assert buckets == [
            (b["criteria_met"], b["units"], b["indicators_met_min"], b["indicators_met_max"])
            for b in body["distribution"]
        ]
        assert rows[start][4] == "15568, 15583, 15592"
        start = next(i for i, r in enumerate(rows) if r[0] == "Tiêu chí số") + 1
        failures = [tuple(r[:4]) for r in rows[start : start + 19]]
        assert failures == [
            (f["number"], f["name"], f["units_not_met"], f["units_unknown"])
            for f in body["criterion_failures"]
        ]

        per_unit = [list(r) for r in book["Theo đơn vị"].iter_rows(values_only=True)]
        assert per_unit[0][:5] == [
            "Mã",
            "Tên đơn vị",
            "Số tiêu chí đạt",
            "Số chỉ tiêu đạt",
            "TC 1 - Quy hoạch",
        ]
        assert len(per_unit) == 1 + 30
        by_code = {r[0]: r for r in per_unit[1:]}
        tho_hai = by_code["15520"]
        assert tho_hai[1:4] == ["Xã Thọ Hải", 17, 54]
        assert tho_hai[4 + 14] == "Thiếu dữ liệu"  # criterion 15
        assert by_code["15517"][4 + 1] == "Chưa đạt"  # Xuân Hòa, criterion 2
        assert by_code["15592"][4:] == ["Đạt"] * 19
        for line in body["units"]:
            assert by_code[line["code"]][2:4] == [line["criteria_met"], line["indicators_met"]]

    async def test_errors_of_the_workbook_are_problems_too(
        self, criteria: httpx.AsyncClient
    ) -> None:
        response = await criteria.get(
            "/v1/units/99999/criteria-report.xlsx", params={"set": SET, "year": YEAR}
        )
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


class TestStatements:
    async def test_the_number_of_statements_does_not_grow_with_the_communes(
        self, criteria: httpx.AsyncClient, db: Database
    ) -> None:
        await give_values(criteria, TWELVE[:3])
        with counting_statements(db) as few:
            assert (await report(criteria))["units_evaluated"] == 3
        await give_values(criteria, TWELVE[3:])
        with counting_statements(db) as many:
            assert (await report(criteria))["units_evaluated"] == 12
        assert len(few) == len(many)
        # the unit, the set, the units below with their profiles, their current values
        assert len(many) == 4, many
        assert any("DISTINCT ON" in statement for statement in many)


class TestErrors:
    @pytest.mark.parametrize(
        ("code", "params", "status", "problem"),
        [
            ("99999", {"set": SET}, 404, "unit.not_found"),
            (DISTRICT, {"set": "xa-ntm-1999"}, 404, "criteria_set.not_found"),
            ("15592", {"set": SET}, 422, "report.level_mismatch"),
            (DISTRICT, {"set": "huyen-ntm-2021"}, 422, "report.level_mismatch"),
            (DISTRICT, {"set": SET, "year": 1990}, 422, "validation_failed"),
        ],
    )
    async def test_bad_requests_are_problems_with_a_stable_code(
        self,
        criteria: httpx.AsyncClient,
        code: str,
        params: dict[str, str | int],
        status: int,
        problem: str,
    ) -> None:
        query: dict[str, str | int] = {"year": YEAR, "as_of": AS_OF}
        response = await criteria.get(f"/v1/units/{code}/criteria-report", params=query | params)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["code"] == problem
        assert body["message_vi"]
        assert body["message_en"]
        if problem == "report.level_mismatch":
            assert [e["field"] for e in body["errors"]] == ["set"]


class TestProvinceReport:
    async def test_a_province_report_counts_without_listing_hundreds_of_names(
        self, criteria: httpx.AsyncClient, twelve: None
    ) -> None:
        body = await report(criteria, "38")
        assert (body["units_total"], body["units_evaluated"]) == (547, 12)
        assert body["distribution"][0]["unit_codes"] == ["15568", "15583", "15592"]
        tail = body["summary_vi"].split(" Còn ")[1]
        assert tail.startswith("535 đơn vị (")
        assert "gồm" not in tail

    async def test_a_district_set_reports_on_the_districts_of_a_province(
        self, criteria: httpx.AsyncClient
    ) -> None:
        body = await report(criteria, "38", set="huyen-ntm-2021")
        assert body["level"] == "district"
        assert body["criteria_total"] == 9
        # nothing recorded: derived indicators (shares of communes holding a title) alone
        # do not make a district evaluated
        assert (body["units_evaluated"], body["units_without_data"]) == (0, body["units_total"])
        assert body["distribution"] == []
        assert body["summary_vi"].startswith(
            "Cả 26 đơn vị gồm: thành phố Thanh Hóa, thị xã Bỉm Sơn,"
        )
