"""Valuation rates of in-kind gifts: provinces override the national default for a period, and a
rate that valued a posting never changes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.db import Database

COMMUNE = "15592"  # Thanh Hóa (province 38), legacy edition
PROVINCE = "38"
NATIONAL_LAND = 150_000  # services/funding/catalog/sources.yaml


def rate(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "valid_from": "2023-01-01",
        "valid_to": None,
        "rate_vnd": 200_000,
        "verified": True,
        "source_note": "QĐ 44/2019/QĐ-UBND Thanh Hóa, bảng giá đất",
    }
    body.update(extra)
    return body


async def put(funding: httpx.AsyncClient, body: dict[str, Any], kind: str = "land") -> Any:
    return await funding.put(f"/v1/valuation-rates/{PROVINCE}/{kind}", json=body)


async def give_land(funding: httpx.AsyncClient, external_id: str, day: str) -> dict[str, Any]:
    response = await funding.post(
        "/v1/transfers",
        json={
            "external_id": external_id,
            "unit": COMMUNE,
            "source": "CD-HV",
            "date": day,
            "kind": "land",
            "quantity": 100,
            "households": 2,
        },
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_the_national_defaults_are_listed_with_verified_and_source_note(
    funding: httpx.AsyncClient,
) -> None:
    response = await funding.get("/v1/valuation-rates?kind=land")
    assert response.status_code == 200
    (land,) = response.json()["items"]
    assert land["province"] is None
    assert land["rate_vnd"] == NATIONAL_LAND
    assert land["verified"] is False
    assert land["source_note"].startswith("Placeholder")


async def test_a_province_rate_applies_to_later_postings_and_earlier_ones_keep_theirs(
    funding: httpx.AsyncClient,
) -> None:
    before = await give_land(funding, "HV-1", "2023-03-01")
    assert before["rate_vnd"] == NATIONAL_LAND
    assert before["amount"] == 100 * NATIONAL_LAND

    created = await put(funding, rate())
    assert created.status_code == 201, created.text
    assert created.json()["province"] == PROVINCE
    assert created.json()["used"] is False

    after = await give_land(funding, "HV-2", "2023-03-02")
    assert after["rate_vnd"] == 200_000
    assert after["amount"] == 100 * 200_000
    kept = (await funding.get(f"/v1/transfers/{before['id']}")).json()
    assert kept["rate_vnd"] == NATIONAL_LAND
    assert kept["amount"] == 100 * NATIONAL_LAND

    listed = (await funding.get(f"/v1/valuation-rates?province={PROVINCE}&kind=land")).json()
    assert [(r["province"], r["used"]) for r in listed["items"]] == [
        (None, True),
        (PROVINCE, True),
    ]
    on_day = (
        await funding.get(f"/v1/valuation-rates?province={PROVINCE}&kind=land&on=2023-03-02")
    ).json()
    assert [r["rate_vnd"] for r in on_day["in_force"]] == [200_000]
    elsewhere = (await funding.get("/v1/valuation-rates?province=01&on=2023-03-02")).json()
    assert {r["kind"]: r["province"] for r in elsewhere["in_force"]}["land"] is None


async def test_a_new_period_replaces_a_closed_one_without_touching_its_postings(
    funding: httpx.AsyncClient,
) -> None:
    assert (await put(funding, rate())).status_code == 201
    first = await give_land(funding, "HV-1", "2023-06-01")
    assert first["rate_vnd"] == 200_000

    overlapping = await put(funding, rate(valid_from="2024-01-01", rate_vnd=260_000))
    assert overlapping.status_code == 409
    problem = overlapping.json()
    assert problem["code"] == "valuation.overlap"
    assert problem["errors"][0]["field"] == "valid_from"
    assert "01/01/2023" in problem["message_vi"]

    closed = await put(funding, rate(valid_to="2023-12-31"))
    assert closed.status_code == 200, closed.text
    assert closed.json()["valid_to"] == "2023-12-31"
    added = await put(funding, rate(valid_from="2024-01-01", rate_vnd=260_000))
    assert added.status_code == 201, added.text

    later = await give_land(funding, "HV-2", "2024-02-01")
    assert later["rate_vnd"] == 260_000
    earlier = (await funding.get(f"/v1/transfers/{first['id']}")).json()
    assert earlier["rate_vnd"] == 200_000
    assert earlier["amount"] == 100 * 200_000


async def test_a_used_rate_cannot_change_its_rate_nor_end_before_its_postings(
    funding: httpx.AsyncClient,
) -> None:
    await put(funding, rate())
    await give_land(funding, "HV-1", "2023-06-01")

    changed = await put(funding, rate(rate_vnd=210_000))
    assert changed.status_code == 409
    assert changed.json()["code"] == "valuation.rate_in_use"
    assert changed.json()["errors"][0]["field"] == "rate_vnd"
    too_early = await put(funding, rate(valid_to="2023-05-31"))
    assert too_early.status_code == 409
    assert too_early.json()["code"] == "valuation.rate_in_use"

    relabelled = await put(funding, rate(verified=False, source_note="Chưa đối chiếu"))
    assert relabelled.status_code == 200
    assert relabelled.json()["verified"] is False
    assert relabelled.json()["rate_vnd"] == 200_000


async def test_an_unused_rate_may_be_corrected_in_place(funding: httpx.AsyncClient) -> None:
    await put(funding, rate())
    corrected = await put(funding, rate(rate_vnd=210_000))
    assert corrected.status_code == 200
    assert corrected.json()["rate_vnd"] == 210_000
    again = await put(funding, rate(rate_vnd=210_000))
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    listed = (await funding.get(f"/v1/valuation-rates?province={PROVINCE}&kind=land")).json()
    assert [r["rate_vnd"] for r in listed["items"] if r["province"]] == [210_000]


async def test_the_database_refuses_to_change_a_used_rate(
    funding: httpx.AsyncClient, db: Database
) -> None:
    await put(funding, rate())
    await give_land(funding, "HV-1", "2023-06-01")
    with pytest.raises(DBAPIError, match="used by postings"):
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE funding.valuation_rates SET rate_vnd = 1 WHERE province_code = '38'")
            )


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("38/land", rate(rate_vnd=0), 422, "rate_vnd"),
        ("38/land", rate(rate_vnd=1.5), 422, "rate_vnd"),
        ("38/land", rate(rate_vnd="200000"), 422, "rate_vnd"),
        ("38/land", rate(valid_from="2023-02-30"), 422, "valid_from"),
        ("38/land", rate(valid_to="2022-12-31"), 422, "valid_to"),
        ("38/land", rate(source_note=""), 422, "source_note"),
        ("38/gold", rate(), 422, "kind"),
        ("99/land", rate(), 422, "province"),
        ("380/land", rate(), 422, "province"),
    ],
)
async def test_bad_rate_names_the_field(
    funding: httpx.AsyncClient,
    db: Database,
    path: str,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    response = await funding.put(f"/v1/valuation-rates/{path}", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert field in {e["field"] for e in problem["errors"]}
    assert problem["message_vi"]
    assert problem["message_en"]
    async with db.engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM funding.valuation_rates WHERE province_code <> ''")
        )
    assert count == 0


async def test_bad_query_is_a_422(funding: httpx.AsyncClient) -> None:
    assert (await funding.get("/v1/valuation-rates?on=2023-02-30")).status_code == 422
    assert (await funding.get("/v1/valuation-rates?kind=gold")).status_code == 422
    assert (await funding.get("/v1/valuation-rates?province=99")).status_code == 422
