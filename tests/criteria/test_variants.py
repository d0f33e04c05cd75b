"""A province's variant of a national set: thresholds overridden, indicators added."""

from __future__ import annotations

from typing import Any

import httpx

VARIANT = {
    "name": "Bộ tiêu chí xã NTM tỉnh Thanh Hóa 2022-2025",
    "legal_basis": "Quyết định số 1/2022/QĐ-UBND (ví dụ thử nghiệm)",
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


def value(set_code: str, indicator: str, v: object) -> dict[str, Any]:
    return {
        "unit": "15592",
        "set": set_code,
        "year": 2023,
        "indicator": indicator,
        "value": v,
        "as_of": "2023-05-19",
    }


async def criterion_3(criteria: httpx.AsyncClient, set_code: str) -> dict[str, Any]:
    response = await criteria.get(
        "/v1/units/15592/evaluation", params={"set": set_code, "year": 2023}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = next(c for c in response.json()["criteria"] if c["number"] == 3)
    return result


class TestProvinceVariant:
    async def test_variant_overrides_thresholds_and_reads_national_values(
        self, criteria: httpx.AsyncClient
    ) -> None:
        put = await criteria.put("/v1/criteria-sets/xa-ntm-2021/variants/38", json=VARIANT)
        assert put.status_code == 200, put.text
        body = put.json()
        assert body["code"] == "xa-ntm-2021@38"
        assert body["extends"] == "xa-ntm-2021"
        assert body["indicator_count"] == 58

        recorded = await criteria.post(
            "/v1/indicator-values",
            json={
                "values": [
                    value("xa-ntm-2021", "3.1", 85),
                    value("xa-ntm-2021", "3.2", True),
                    value("xa-ntm-2021@38", "3.9", True),
                ]
            },
        )
        assert recorded.status_code == 201, recorded.text
        national = await criterion_3(criteria, "xa-ntm-2021")
        provincial = await criterion_3(criteria, "xa-ntm-2021@38")
        assert national["met"] is True
        assert provincial["met"] is False
        i31 = next(i for i in provincial["indicators"] if i["code"] == "3.1")
        assert i31["gap"] == 5.0
        assert [i["code"] for i in provincial["indicators"]][-1] == "3.9"

    async def test_overriding_an_unknown_indicator_names_it(
        self, criteria: httpx.AsyncClient
    ) -> None:
        bad = VARIANT | {
            "overrides": [
                {"code": "3.77", "thresholds": [{"value": 1}], "verified": False, "source": "x"}
            ]
        }
        response = await criteria.put("/v1/criteria-sets/xa-ntm-2021/variants/38", json=bad)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "overrides.0.code"

    async def test_a_variant_needs_a_province_and_a_known_base(
        self, criteria: httpx.AsyncClient
    ) -> None:
        no_province = await criteria.put("/v1/criteria-sets/xa-ntm-2021/variants/99", json=VARIANT)
        no_base = await criteria.put("/v1/criteria-sets/xa-ntm-1999/variants/38", json=VARIANT)
        assert no_province.json()["code"] == "variant.not_a_province"
        assert no_base.status_code == 404
