"""POST /v1/dossiers/lookup: the dossiers of many units in one call, in key order."""

from __future__ import annotations

import httpx

from tests.appraisal.test_dossiers_api import COMMUNE, H_DISTRICT

NEIGHBOUR = "15583"


async def test_the_dossiers_of_many_units_come_in_key_order(appraisal: httpx.AsyncClient) -> None:
    ids: dict[str, list[str]] = {COMMUNE: [], NEIGHBOUR: []}
    for unit, year in ((COMMUNE, 2022), (NEIGHBOUR, 2023), (COMMUNE, 2023)):
        response = await appraisal.post(
            "/v1/dossiers", json={"unit": unit, "title": "xa-ntm", "year": year},
            headers=H_DISTRICT,
        )  # fmt: skip
        assert response.status_code == 201, response.text
        ids[unit].append(response.json()["id"])
    response = await appraisal.post(
        "/v1/dossiers/lookup", json={"units": [NEIGHBOUR, "99999", COMMUNE, NEIGHBOUR]}
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [[d["id"] for d in unit] for unit in items] == [
        ids[NEIGHBOUR], [], ids[COMMUNE], ids[NEIGHBOUR]
    ]  # fmt: skip
    assert items[2][0]["unit"]["code"] == COMMUNE
    assert items[2][0]["status"] == "open"


async def test_bad_keys_are_a_422_naming_the_field(appraisal: httpx.AsyncClient) -> None:
    bodies: list[dict[str, list[str]]] = [
        {"units": []}, {"units": ["15592-T1"]}, {"units": ["1"] * 501}, {}
    ]  # fmt: skip
    for body in bodies:
        response = await appraisal.post("/v1/dossiers/lookup", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"].startswith("units")
