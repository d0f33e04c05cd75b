"""The revocation watch on real data: QĐ 18/2022's bands, only for a unit holding the title."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.criteria.test_values_and_evaluation import (
    AS_OF,
    COMMUNE,
    SET,
    failing_value,
    recordable,
    row,
)

DISTRICT = "395"


def grant(unit: str, title: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "recognition.granted",
        "unit": unit,
        "unit_as_of": AS_OF,
        "title": title,
        "year": 2022,
        "decision": {"number": "1/QĐ-UBND", "date": "2022-12-01"},
    }


async def fail_criteria(criteria: httpx.AsyncClient, numbers: list[int]) -> None:
    """Record one failing value in each of the given criteria (the rest stays missing)."""
    rows = []
    for number in numbers:
        indicator = next(
            i for i in await recordable(criteria) if i["code"].startswith(f"{number}.")
        )
        rows.append(row(indicator["code"], failing_value(indicator, "BTB")))
    response = await criteria.post("/v1/indicator-values", json={"values": rows})
    assert response.status_code == 201, response.text


async def revocation(criteria: httpx.AsyncClient, unit: str, set_code: str) -> dict[str, Any]:
    response = await criteria.get(
        f"/v1/units/{unit}/evaluation", params={"set": set_code, "year": 2023}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return {"risk": body["revocation_risk"], **body["revocation"]}


class TestCommuneRevocationWatch:
    async def test_six_of_nineteen_not_met_with_income_is_a_risk_for_a_holder(
        self, criteria: httpx.AsyncClient
    ) -> None:
        await criteria.put(
            f"/v1/units/{COMMUNE}/profile", params={"as_of": AS_OF}, json={"region": "BTB"}
        )
        await fail_criteria(criteria, [2, 3, 4, 5, 6, 10])
        before = await revocation(criteria, COMMUNE, SET)
        assert before["holds_title"] is False
        assert before["at_risk"] is True
        assert before["risk"] is False  # no title, nothing to revoke
        assert before["rule"] == "commune_30_percent_with_key"
        assert before["key_not_met"] == [10]
        assert before["unknown_criteria"] == 13

        await criteria.post("/v1/events/titles", json=grant(COMMUNE, "xa-ntm"))
        after = await revocation(criteria, COMMUNE, SET)
        assert after["holds_title"] is True
        assert after["risk"] is True

    async def test_six_not_met_without_a_key_criterion_is_no_risk(
        self, criteria: httpx.AsyncClient
    ) -> None:
        await criteria.post("/v1/events/titles", json=grant(COMMUNE, "xa-ntm"))
        await fail_criteria(criteria, [2, 3, 4, 5, 6, 7])
        check = await revocation(criteria, COMMUNE, SET)
        assert check["risk"] is False
        assert check["rule"] is None
        assert check["not_met"] == [2, 3, 4, 5, 6, 7]

    async def test_half_of_the_criteria_not_met_is_a_risk_without_key(
        self, criteria: httpx.AsyncClient
    ) -> None:
        await criteria.post("/v1/events/titles", json=grant(COMMUNE, "xa-ntm"))
        await fail_criteria(criteria, [1, 2, 3, 4, 5, 6, 7, 8, 9, 11])
        check = await revocation(criteria, COMMUNE, SET)
        assert check["risk"] is True
        assert check["rule"] == "commune_50_percent"


class TestDistrictRevocationWatch:
    async def test_nine_of_thirty_communes_revoked_puts_the_district_at_risk(
        self, criteria: httpx.AsyncClient
    ) -> None:
        page = (
            await criteria.get(
                f"/v1/units/{DISTRICT}/children", params={"as_of": AS_OF, "limit": 100}
            )
        ).json()
        communes = [u["code"] for u in page["items"]]
        await criteria.post("/v1/events/titles", json=grant(DISTRICT, "huyen-ntm"))
        for code in communes:
            await criteria.post("/v1/events/titles", json=grant(code, "xa-ntm"))

        async def revoke(code: str) -> None:
            event = grant(code, "xa-ntm") | {
                "type": "recognition.revoked",
                "decision": {"number": "2/QĐ-UBND", "date": "2023-06-01"},
            }
            assert (await criteria.post("/v1/events/titles", json=event)).status_code == 200

        for code in communes[:8]:
            await revoke(code)
        eight = await revocation(criteria, DISTRICT, "huyen-ntm-2021")
        assert eight["rule"] != "district_communes_revoked_30_percent"
        assert round(eight["communes_revoked_share"], 4) == round(8 / 30, 4)

        await revoke(communes[8])
        nine = await revocation(criteria, DISTRICT, "huyen-ntm-2021")
        assert nine["rule"] == "district_communes_revoked_30_percent"
        assert nine["risk"] is True
