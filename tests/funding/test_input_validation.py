"""Bad input the OpenAPI fuzzing found answered with a 500: each is a 4xx naming its field."""

from __future__ import annotations

import base64

import httpx
import orjson

from tests.contract.problem import assert_refused

COMMUNE = "15592"  # Xã Xuân Minh, Thọ Xuân, Thanh Hóa (pre-2025)


class TestTransferByExternalId:
    async def test_a_nul_in_the_external_id_is_refused(self, funding: httpx.AsyncClient) -> None:
        response = await funding.get("/v1/transfers/by-external-id/XM%00-1")
        assert_refused(response, "external_id")


class TestUnitAccounts:
    async def test_a_code_that_is_no_unit_code_is_refused(self, funding: httpx.AsyncClient) -> None:
        response = await funding.get("/v1/units/15%00/accounts")
        assert_refused(response, "code")


class TestInKindValuation:
    async def test_a_quantity_valued_beyond_the_largest_amount_is_refused(
        self, funding: httpx.AsyncClient
    ) -> None:
        gift = {
            "external_id": "HV-2023-0001",
            "unit": COMMUNE,
            "source": "CD-HV",
            "date": "2023-05-02",
            "kind": "land",
            "quantity": "99999999999999.999",
        }
        response = await funding.post("/v1/transfers", json=gift)
        assert_refused(response, "quantity", code="valuation.too_large")


class TestWorksCursor:
    async def test_a_cursor_beyond_bigint_is_refused(self, funding: httpx.AsyncClient) -> None:
        forged = base64.urlsafe_b64encode(orjson.dumps(2**64 - 1)).decode().rstrip("=")
        response = await funding.get(f"/v1/units/{COMMUNE}/works", params={"cursor": forged})
        assert_refused(response, "cursor", code="cursor.invalid")
