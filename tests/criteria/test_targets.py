"""Yearly targets: a whole plan per unit and year, progress from recognised titles."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import auth_headers

DISTRICT = "395"
AS_OF = "2023-05-19"
PLAN = {
    "targets": [
        {"kind": "xa-ntm-nang-cao", "label_vi": "Xã NTM nâng cao", "quantity": 2},
        {"kind": "xa-ntm-kieu-mau", "label_vi": "Xã NTM kiểu mẫu", "quantity": 1},
        {
            "kind": "ocop-3-sao",
            "label_vi": "Sản phẩm OCOP 3 sao",
            "quantity": 3,
            "achieved_manual": 1,
        },
    ]
}


def grant(unit: str, title: str, effective: str) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "recognition.granted",
        "unit": unit,
        "unit_as_of": AS_OF,
        "title": title,
        "year": int(effective[:4]),
        "decision": {"number": "5/QĐ-UBND", "date": effective},
    }


class TestTargets:
    async def test_progress_counts_titles_granted_in_the_year_below_the_unit(
        self, criteria: httpx.AsyncClient
    ) -> None:
        url = f"/v1/units/{DISTRICT}/targets/2023"
        token = auth_headers("district_officer", DISTRICT, subject="vp-dieu-phoi")
        put = await criteria.put(url, json=PLAN, headers=token)
        assert put.status_code == 200, put.text
        for unit, title, day in [
            ("15592", "xa-ntm-nang-cao", "2023-08-01"),
            ("15583", "xa-ntm-nang-cao", "2022-08-01"),  # an earlier year does not count
            ("15586", "xa-ntm-kieu-mau", "2023-11-01"),
        ]:
            assert (await criteria.post("/v1/events/titles", json=grant(unit, title, day))).json()[
                "applied"
            ]
        progress = {t["kind"]: t for t in (await criteria.get(url)).json()}
        assert progress["xa-ntm-nang-cao"]["achieved"] == 1
        assert progress["xa-ntm-nang-cao"]["remaining"] == 1
        assert progress["xa-ntm-nang-cao"]["met"] is False
        assert progress["xa-ntm-kieu-mau"]["met"] is True
        assert progress["ocop-3-sao"]["source"] == "manual"
        assert progress["ocop-3-sao"]["achieved"] == 1
        assert progress["xa-ntm-kieu-mau"]["updated_by"] == "vp-dieu-phoi"

    async def test_putting_a_plan_again_replaces_it(self, criteria: httpx.AsyncClient) -> None:
        url = f"/v1/units/{DISTRICT}/targets/2023"
        await criteria.put(url, json=PLAN)
        smaller = {"targets": PLAN["targets"][:1]}
        body = (await criteria.put(url, json=smaller)).json()
        assert [t["kind"] for t in body] == ["xa-ntm-nang-cao"]

    async def test_a_kind_twice_or_a_zero_quantity_is_refused(
        self, criteria: httpx.AsyncClient
    ) -> None:
        url = f"/v1/units/{DISTRICT}/targets/2023"
        twice = {"targets": [PLAN["targets"][0], PLAN["targets"][0]]}
        zero = {"targets": [{"kind": "xa-ntm", "label_vi": "Xã NTM", "quantity": 0}]}
        for body in (twice, zero):
            response = await criteria.put(url, json=body)
            assert response.status_code == 422
            assert response.headers["content-type"] == "application/problem+json"
