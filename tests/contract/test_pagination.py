"""Cursor pagination on every REST list (contract.md: `?cursor=&limit=`): every GET that answers
a list of unbounded size takes `cursor` and `limit` and answers `items` and `next_cursor`;
paging one to its end with small pages gives every item once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.registry import SERVICES
from shared.db import Database
from shared.settings import Settings
from tests.conftest import auth_headers

# GET routes answering a whole list (an array, or `items` without a cursor), each with why
# its length is bounded. A new one fails
# `test_every_unbounded_list_takes_a_cursor` until it is paginated or added here with its
# reason.
BOUNDED_LISTS: dict[str, str] = {
    "criteria GET /v1/criteria-sets": "the catalog: six national sets and provinces' variants",
    "criteria GET /v1/units/{code}/indicator-values": "the current value of each indicator"
    " of one set (its indicator count)",
    "criteria GET /v1/units/{code}/titles": "the titles of one unit: a few per year since 2021",
    "criteria GET /v1/units/{code}/targets/{year}": "one target per kind for one unit and year",
    "funding GET /v1/sources": "the funding source catalog (11 codes)",
    "funding GET /v1/in-kind-kinds": "the in-kind catalog (land, labour, materials, structures)",
    "funding GET /v1/work-kinds": "the catalog of kinds of works",
    "funding GET /v1/valuation-rates": "the valuation table: a rate per province, kind and"
    " period of validity, filtered by province, kind and day",
}


def schema_of(document: dict[str, Any], ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    ref = ref_or_schema.get("$ref")
    if ref is None:
        return ref_or_schema
    found: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return found


def get_lists() -> tuple[list[str], list[str]]:
    """(GET routes answering a whole list: an array or `items` without `next_cursor`; GET
    routes answering a page) of every service, as "service GET /path"."""
    settings = Settings(env="test")
    arrays: list[str] = []
    pages: list[str] = []
    for name, spec in SERVICES.items():
        document = spec.create_app(settings, None).openapi()
        for path, item in document["paths"].items():
            operation = item.get("get")
            if operation is None:
                continue
            content = operation["responses"].get("200", {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            if body is None:
                continue
            body = schema_of(document, body)
            key = f"{name} GET {path}"
            properties = body.get("properties", {})
            if body.get("type") == "array" or (
                "items" in properties and "next_cursor" not in properties
            ):
                arrays.append(key)
            elif "next_cursor" in properties:
                params = {p["name"] for p in operation.get("parameters", [])}
                assert {"cursor", "limit"} <= params, f"{key} pages without cursor / limit"
                assert body["properties"]["items"]["type"] == "array", key
                pages.append(key)
    return arrays, pages


class TestEveryRestListIsPaginated:
    def test_every_unbounded_list_takes_a_cursor(self) -> None:
        arrays, pages = get_lists()
        unpaginated = sorted(set(arrays) - set(BOUNDED_LISTS))
        assert unpaginated == [], (
            "GET routes answering a whole list: paginate them (shared.pagination) or add them"
            f" to BOUNDED_LISTS with the reason they stay small: {unpaginated}"
        )
        assert sorted(set(BOUNDED_LISTS) - set(arrays)) == []  # no stale entry
        assert len(pages) >= 11  # units, children, transfers, works, dossiers, and the rest


async def all_pages(
    client: httpx.AsyncClient, url: str, params: dict[str, Any], limit: int
) -> tuple[list[Any], list[int]]:
    """Every item of a list read `limit` at a time, and the total_count of each page."""
    items: list[Any] = []
    totals: list[int] = []
    cursor: str | None = None
    while True:
        response = await client.get(url, params={**params, "limit": limit, "cursor": cursor})
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        totals.append(page["total_count"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items, totals


class TestPagingThroughRestLists:
    async def test_small_pages_of_children_give_each_unit_once(
        self, criteria: httpx.AsyncClient
    ) -> None:
        params = {"as_of": "2023-05-19"}
        whole = await criteria.get("/v1/units/395/children", params={**params, "limit": 1000})
        expected = [u["code"] for u in whole.json()["items"]]
        assert len(expected) == 30
        items, totals = await all_pages(criteria, "/v1/units/395/children", params, limit=7)
        codes = [u["code"] for u in items]
        assert len(codes) == len(set(codes))
        assert codes == expected
        assert set(totals) == {30}
        assert len(totals) == 5  # 7 + 7 + 7 + 7 + 2

    async def test_small_pages_of_tasks_give_each_dossier_once(
        self, appraisal: httpx.AsyncClient, criteria: httpx.AsyncClient, db: Database
    ) -> None:
        children = await criteria.get(
            "/v1/units/395/children", params={"as_of": "2023-05-19", "limit": 7}
        )
        communes = [u["code"] for u in children.json()["items"]]
        created = []
        for code in communes:
            response = await appraisal.post(
                "/v1/dossiers",
                json={"unit": code, "unit_as_of": "2023-05-19", "title": "xa-ntm", "year": 2023},
                headers=auth_headers("commune_officer", code),
            )
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])
        # tasks sort by due date, undated last: give them distinct and missing ones, so that
        # pages cross from one due date to another and from dated to undated dossiers
        async with db.engine.begin() as conn:
            for i, dossier in enumerate(created):
                await conn.execute(
                    text(
                        "UPDATE appraisal.dossiers SET due_on ="
                        " CASE WHEN :i % 3 = 0 THEN NULL ELSE current_date + :i % 2 END"
                        " WHERE id = :d"
                    ),
                    {"i": i, "d": dossier},
                )
        params = {"role": "commune_officer", "level": "commune", "unit": "395"}
        whole = await appraisal.get("/v1/tasks", params={**params, "limit": 100})
        expected = [t["dossier_id"] for t in whole.json()["items"]]
        assert sorted(expected) == sorted(created)
        dues = [t["due_on"] for t in whole.json()["items"]]
        assert dues[-3:] == [None, None, None]  # undated last
        assert dues[:4] == sorted(dues[:4])
        for limit in (1, 2, 3):
            items, totals = await all_pages(appraisal, "/v1/tasks", params, limit)
            ids = [t["dossier_id"] for t in items]
            assert len(ids) == len(set(ids))
            assert ids == expected
            assert set(totals) == {len(created)}
        # another district's officer sees none of them, on every page
        other = {"role": "commune_officer", "level": "commune", "unit": "396"}
        assert (await all_pages(appraisal, "/v1/tasks", other, 2))[0] == []

    @pytest.mark.parametrize("cursor", ["not-a-cursor", "WzFd", "WyJ4IiwiMjAyMyJd"])
    async def test_a_cursor_this_list_did_not_make_is_a_422_naming_it(
        self, appraisal: httpx.AsyncClient, cursor: str
    ) -> None:
        params = {"role": "commune_officer", "level": "commune", "unit": "395", "cursor": cursor}
        response = await appraisal.get("/v1/tasks", params=params)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "cursor"
