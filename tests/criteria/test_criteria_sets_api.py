"""Criteria sets served from the shipped catalog, over REST and GraphQL."""

from __future__ import annotations

import httpx


class TestCriteriaSetsRest:
    async def test_every_shipped_set_is_listed_with_its_counts(
        self, criteria: httpx.AsyncClient
    ) -> None:
        response = await criteria.get("/v1/criteria-sets")
        assert response.status_code == 200
        counts = {
            s["code"]: (s["criteria_count"], s["indicator_count"]) for s in response.json()["items"]
        }
        assert counts["xa-ntm-2021"] == (19, 57)
        assert counts["xa-ntm-2026"] == (10, 47)
        assert counts["huyen-ntm-2021"][0] == 9
        assert counts["huyen-ntm-nang-cao-2021"][0] == 9
        assert counts["xa-ntm-nang-cao-2021"][0] == 19
        assert 70 <= counts["xa-ntm-nang-cao-2021"][1] <= 80
        assert "xa-ntm-kieu-mau-2021" in counts

    async def test_sets_in_force_on_a_date(self, criteria: httpx.AsyncClient) -> None:
        in_2023 = await criteria.get(
            "/v1/criteria-sets", params={"level": "commune", "active_on": "2023-06-01"}
        )
        in_2026 = await criteria.get(
            "/v1/criteria-sets", params={"level": "commune", "active_on": "2026-06-01"}
        )
        codes_2023 = {s["code"] for s in in_2023.json()["items"]}
        codes_2026 = {s["code"] for s in in_2026.json()["items"]}
        assert "xa-ntm-2021" in codes_2023
        assert "xa-ntm-2026" not in codes_2023
        assert codes_2026 == {"xa-ntm-2026"}

    async def test_a_whole_set_carries_thresholds_and_verified_flags(
        self, criteria: httpx.AsyncClient
    ) -> None:
        body = (await criteria.get("/v1/criteria-sets/xa-ntm-2021")).json()
        assert body["legal_basis"].startswith("Quyết định")
        indicators = {i["code"]: i for c in body["criteria"] for i in c["indicators"]}
        assert len(indicators) == 57
        irrigation = indicators["3.1"]
        assert irrigation["verified"] is True
        assert irrigation["comparator"] == "ge"
        assert [t["value"] for t in irrigation["thresholds"] if t["region"] is None] == ["80"]

    async def test_unknown_set_is_a_problem_404(self, criteria: httpx.AsyncClient) -> None:
        response = await criteria.get("/v1/criteria-sets/xa-ntm-1999")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "criteria_set.not_found"
