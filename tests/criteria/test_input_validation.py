"""Bad input the OpenAPI fuzzing (and a review after it) answered with a 500, or took where
the import refuses it: each is a 422 naming its field. PostgreSQL text holds no NUL character
(JSON can carry one), and a cursor is client input."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson

from tests.contract.problem import assert_refused

COMMUNE = "15592"  # Xã Xuân Minh, Thọ Xuân, Thanh Hóa (pre-2025)
DISTRICT = "395"
SET = "xa-ntm-2021"


def row(**changes: Any) -> dict[str, Any]:
    value = {
        "unit": COMMUNE,
        "set": SET,
        "year": 2023,
        "indicator": "2.1",
        "value": True,
        "as_of": "2023-05-19",
    }
    return {**value, **changes}


def cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


class TestRecordValues:
    async def test_a_value_that_is_no_number_is_refused(self, criteria: httpx.AsyncClient) -> None:
        response = await criteria.post("/v1/indicator-values", json={"values": [row(value="")]})
        assert_refused(response, "values.0.value")

    async def test_a_value_beyond_the_numeric_range_is_refused(
        self, criteria: httpx.AsyncClient
    ) -> None:
        # not a 500 but recorded: the CSV/NDJSON import refuses it (value.out_of_range)
        response = await criteria.post(
            "/v1/indicator-values", json={"values": [row(value="1e200000")]}
        )
        assert_refused(response, "values.0.value")

    async def test_a_nul_in_the_set_code_is_refused(self, criteria: httpx.AsyncClient) -> None:
        response = await criteria.post(
            "/v1/indicator-values", json={"values": [row(set="xa-ntm\x00")]}
        )
        assert_refused(response, "values.0.set")


class TestReadingValues:
    async def test_a_nul_in_the_set_of_current_values_is_refused(
        self, criteria: httpx.AsyncClient
    ) -> None:
        response = await criteria.get(
            f"/v1/units/{COMMUNE}/indicator-values", params={"set": "a\x00", "year": 2023}
        )
        assert_refused(response, "set")

    async def test_a_nul_in_the_set_of_a_history_is_refused(
        self, criteria: httpx.AsyncClient
    ) -> None:
        response = await criteria.get(
            f"/v1/units/{COMMUNE}/indicator-values/2.1/history",
            params={"set": "a\x00", "year": 2023},
        )
        assert_refused(response, "set")


class TestEvaluation:
    async def test_a_nul_in_the_set_is_refused(self, criteria: httpx.AsyncClient) -> None:
        response = await criteria.get(
            f"/v1/units/{COMMUNE}/evaluation", params={"set": "a\x00", "year": 2023}
        )
        assert_refused(response, "set")

    async def test_a_nul_in_a_looked_up_set_is_refused(self, criteria: httpx.AsyncClient) -> None:
        key = {"unit": COMMUNE, "set": "a\x00", "year": 2023}
        response = await criteria.post("/v1/evaluations/lookup", json={"keys": [key]})
        assert_refused(response, "keys.0.set")


class TestCriteriaReport:
    async def test_a_nul_in_the_set_is_refused(self, criteria: httpx.AsyncClient) -> None:
        for path in ("criteria-report", "criteria-report.xlsx"):
            response = await criteria.get(
                f"/v1/units/{DISTRICT}/{path}", params={"set": "a\x00", "year": 2023}
            )
            assert_refused(response, "set")


class TestVillagesAndTitles:
    async def test_a_nul_in_a_village_name_is_refused(self, criteria: httpx.AsyncClient) -> None:
        response = await criteria.post(
            f"/v1/units/{COMMUNE}/villages",
            params={"as_of": "2023-01-01"},
            json={"code": "T09", "name": "Thôn\x00"},
        )
        assert_refused(response, "name")

    async def test_a_nul_in_a_decision_number_is_refused(self, criteria: httpx.AsyncClient) -> None:
        event = {
            "event_id": "7a0e3c9e-8f57-4a57-9d0e-5c1b1a3f0001",
            "type": "recognition.granted",
            "unit": COMMUNE,
            "unit_as_of": "2023-01-01",
            "title": "xa-ntm",
            "year": 2023,
            "decision": {"number": "12\x00/QĐ-UBND", "date": "2023-12-01"},
        }
        response = await criteria.post("/v1/events/titles", json=event)
        assert_refused(response, "decision.number")


class TestTargets:
    async def test_a_nul_in_a_label_is_refused(self, criteria: httpx.AsyncClient) -> None:
        target = {"kind": "xa-ntm", "label_vi": "Xã\x00 NTM", "quantity": 3}
        response = await criteria.put(
            f"/v1/units/{DISTRICT}/targets/2023", json={"targets": [target]}
        )
        assert_refused(response, "targets.0.label_vi")


class TestVariants:
    async def test_a_nul_in_the_name_is_refused(self, criteria: httpx.AsyncClient) -> None:
        response = await criteria.put(
            f"/v1/criteria-sets/{SET}/variants/38",
            json={"name": "Bộ\x00", "legal_basis": "QĐ 1/2022"},
        )
        assert_refused(response, "name")

    async def test_a_nul_in_an_override_source_is_refused(
        self, criteria: httpx.AsyncClient
    ) -> None:
        override = {"code": "3.1", "thresholds": [{"value": 90}], "verified": False}
        response = await criteria.put(
            f"/v1/criteria-sets/{SET}/variants/38",
            json={
                "name": "Bộ tỉnh",
                "legal_basis": "QĐ 1/2022",
                "overrides": [{**override, "source": "\x00"}],
            },
        )
        assert_refused(response, "overrides.0.source")

    async def test_a_nul_in_a_set_code_to_read_is_refused(
        self, criteria: httpx.AsyncClient
    ) -> None:
        response = await criteria.get("/v1/criteria-sets/xa%00")
        assert_refused(response, "code")

    async def test_a_nul_in_a_looked_up_set_code_is_refused(
        self, criteria: httpx.AsyncClient
    ) -> None:
        response = await criteria.post("/v1/criteria-sets/lookup", json={"codes": ["xa\x00"]})
        assert_refused(response, "codes.0")


class TestUnitLists:
    async def test_a_cursor_with_a_nul_is_refused(self, criteria: httpx.AsyncClient) -> None:
        forged = cursor([3, "15592\x00"])
        response = await criteria.get(
            f"/v1/units/{DISTRICT}/children", params={"cursor": forged, "as_of": "2023-01-01"}
        )
        assert_refused(response, "cursor", code="cursor.invalid")

    async def test_a_lookup_cursor_with_a_nul_is_refused(self, criteria: httpx.AsyncClient) -> None:
        key = {"code": DISTRICT, "as_of": "2023-01-01", "cursor": cursor([3, "\x00"])}
        response = await criteria.post("/v1/units/children/lookup", json={"keys": [key]})
        assert_refused(response, "cursor", code="cursor.invalid")
