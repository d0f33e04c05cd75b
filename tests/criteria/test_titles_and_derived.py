"""Recognised titles fed by events (idempotent), and the derived indicators reading them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

DISTRICT = "395"  # Huyện Thọ Xuân, 30 communes before 2025
AS_OF = "2023-05-19"


def event(unit: str, title: str, kind: str = "recognition.granted", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "unit": unit,
        "unit_as_of": AS_OF,
        "title": title,
        "year": 2023,
        "decision": {"number": "123/QĐ-UBND", "date": "2023-06-01"},
        **extra,
    }


async def communes_of_district(criteria: httpx.AsyncClient) -> list[str]:
    page = (
        await criteria.get(f"/v1/units/{DISTRICT}/children", params={"as_of": AS_OF, "limit": 100})
    ).json()
    return [u["code"] for u in page["items"]]


async def share_indicator(criteria: httpx.AsyncClient, set_code: str) -> str:
    body = (await criteria.get(f"/v1/criteria-sets/{set_code}")).json()
    code: str = next(
        i["code"]
        for c in body["criteria"]
        for i in c["indicators"]
        if i["derived"]
        and i["derived"]["rule"] == "share_of_units_with_title"
        and i["derived"]["title"] == "xa-ntm"
    )
    return code


async def indicator_result(
    criteria: httpx.AsyncClient, unit: str, set_code: str, code: str
) -> dict[str, Any]:
    response = await criteria.get(
        f"/v1/units/{unit}/evaluation", params={"set": set_code, "year": 2023}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = next(
        i for c in response.json()["criteria"] for i in c["indicators"] if i["code"] == code
    )
    return result


class TestTitleEvents:
    async def test_a_grant_is_applied_once_however_often_it_is_delivered(
        self, criteria: httpx.AsyncClient
    ) -> None:
        grant = event("15592", "xa-ntm")
        first = await criteria.post("/v1/events/titles", json=grant)
        again = await criteria.post("/v1/events/titles", json=grant)
        assert first.json()["applied"] is True
        assert again.json()["applied"] is False
        titles = (await criteria.get("/v1/units/15592/titles", params={"as_of": AS_OF})).json()
        assert [(t["title"], t["decision_number"], t["revoked_on"]) for t in titles] == [
            ("xa-ntm", "123/QĐ-UBND", None)
        ]

    async def test_a_revocation_closes_the_title_and_keeps_its_history(
        self, criteria: httpx.AsyncClient
    ) -> None:
        await criteria.post("/v1/events/titles", json=event("15592", "xa-ntm"))
        revoke = event(
            "15592",
            "xa-ntm",
            "recognition.revoked",
            decision={"number": "9/QĐ-UBND", "date": "2024-03-01"},
        )
        response = await criteria.post("/v1/events/titles", json=revoke)
        assert response.json()["applied"] is True
        [title] = (await criteria.get("/v1/units/15592/titles", params={"as_of": AS_OF})).json()
        assert title["revoked_on"] == "2024-03-01"
        assert title["revocation_decision"] == "9/QĐ-UBND"

    async def test_revoking_a_title_not_held_is_a_conflict(
        self, criteria: httpx.AsyncClient
    ) -> None:
        response = await criteria.post(
            "/v1/events/titles", json=event("15592", "xa-ntm", "recognition.revoked")
        )
        assert response.status_code == 409
        assert response.json()["code"] == "title.not_held"

    async def test_an_event_for_an_unknown_unit_is_a_404_and_not_consumed(
        self, criteria: httpx.AsyncClient
    ) -> None:
        bad = event("99999", "xa-ntm")
        assert (await criteria.post("/v1/events/titles", json=bad)).status_code == 404
        bad["unit"] = "15592"
        assert (await criteria.post("/v1/events/titles", json=bad)).json()["applied"] is True


class TestTitleLookup:
    async def test_many_units_titles_are_answered_in_key_order(
        self, criteria: httpx.AsyncClient
    ) -> None:
        await criteria.post("/v1/events/titles", json=event("15592", "xa-ntm"))
        await criteria.post("/v1/events/titles", json=event("15592", "xa-ntm-nang-cao"))
        await criteria.post("/v1/events/titles", json=event("15583", "xa-ntm"))
        revoke = event(
            "15583", "xa-ntm", "recognition.revoked",
            decision={"number": "9/QĐ-UBND", "date": "2024-03-01"},
        )  # fmt: skip
        assert (await criteria.post("/v1/events/titles", json=revoke)).status_code == 200
        keys = [
            {"code": "15583", "as_of": AS_OF},
            {"code": "99999", "as_of": AS_OF},  # no such unit
            {"code": "15592", "as_of": AS_OF},
            {"code": DISTRICT, "as_of": AS_OF},  # a unit without titles
            {"code": "15583", "as_of": AS_OF},
        ]
        response = await criteria.post("/v1/titles/lookup", json={"keys": keys})
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [None if i is None else [t["title"] for t in i] for i in items] == [
            ["xa-ntm"],
            None,
            ["xa-ntm", "xa-ntm-nang-cao"],
            [],
            ["xa-ntm"],
        ]
        assert items[0][0]["revocation_decision"] == "9/QĐ-UBND"
        # the same answer as each unit's own list
        single = await criteria.get("/v1/units/15592/titles", params={"as_of": AS_OF})
        assert items[2] == single.json()

    async def test_a_bad_key_is_a_422_naming_it(self, criteria: httpx.AsyncClient) -> None:
        response = await criteria.post(
            "/v1/titles/lookup", json={"keys": [{"code": "1559", "as_of": AS_OF}]}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"].startswith("keys")
        assert (await criteria.post("/v1/titles/lookup", json={"keys": []})).json() == {"items": []}


class TestDerivedIndicators:
    async def test_district_share_of_ntm_communes_follows_grants_and_revocations(
        self, criteria: httpx.AsyncClient
    ) -> None:
        code = await share_indicator(criteria, "huyen-ntm-2021")
        before = await indicator_result(criteria, DISTRICT, "huyen-ntm-2021", code)
        assert before["missing"] is False
        assert before["met"] is False
        assert before["value"].startswith("0")

        communes = await communes_of_district(criteria)
        assert len(communes) == 30
        for commune in communes:
            response = await criteria.post("/v1/events/titles", json=event(commune, "xa-ntm"))
            assert response.status_code == 200, response.text
        all_granted = await indicator_result(criteria, DISTRICT, "huyen-ntm-2021", code)
        assert all_granted["met"] is True
        assert all_granted["value"].startswith("100")

        revoke = event(
            communes[0],
            "xa-ntm",
            "recognition.revoked",
            decision={"number": "9/QĐ-UBND", "date": "2023-09-01"},
        )
        assert (await criteria.post("/v1/events/titles", json=revoke)).status_code == 200
        after = await indicator_result(criteria, DISTRICT, "huyen-ntm-2021", code)
        assert after["met"] is False
        assert after["gap"] is not None
        assert after["gap"] > 0

    async def test_model_commune_needs_the_advanced_title(
        self, criteria: httpx.AsyncClient
    ) -> None:
        before = await indicator_result(criteria, "15592", "xa-ntm-kieu-mau-2021", "1.1")
        assert before["met"] is False
        await criteria.post("/v1/events/titles", json=event("15592", "xa-ntm-nang-cao"))
        after = await indicator_result(criteria, "15592", "xa-ntm-kieu-mau-2021", "1.1")
        assert after["met"] is True
