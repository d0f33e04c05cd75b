"""Bad input the OpenAPI fuzzing found answered with a 500 (or a 503 blaming criteria): each is
a 422 naming its field."""

from __future__ import annotations

import httpx
import pytest

from tests.appraisal.test_dossiers_api import COMMUNE, H_COMMUNE, create
from tests.contract.problem import assert_refused

LETTER = {"number": "12/TTr-UBND", "date": "2023-06-01", "signed_by": "Chủ tịch UBND xã"}


@pytest.fixture
async def dossier(appraisal: httpx.AsyncClient) -> str:
    out: str = (await create(appraisal))["id"]
    return out


class TestCreateDossier:
    async def test_a_four_digit_unit_code_is_refused_here_not_upstream(
        self, appraisal: httpx.AsyncClient
    ) -> None:
        body = {"unit": COMMUNE[:4], "title": "xa-ntm", "year": 2023}
        response = await appraisal.post("/v1/dossiers", json=body, headers=H_COMMUNE)
        assert_refused(response, "unit")


class TestIfMatch:
    async def test_a_version_in_other_digits_is_refused(
        self, appraisal: httpx.AsyncClient, dossier: str
    ) -> None:
        response = await appraisal.put(
            f"/v1/dossiers/{dossier}/content/request_letter",
            json=LETTER,
            # as bytes: a real client may send any Latin-1 byte, httpx only ASCII text
            headers={
                **{k.encode(): v.encode() for k, v in H_COMMUNE.items()},
                b"If-Match": "²".encode("latin-1"),
            },
        )
        assert_refused(response, "If-Match", code="if_match.invalid")


class TestContent:
    async def test_a_nul_in_a_piece_is_refused(
        self, appraisal: httpx.AsyncClient, dossier: str
    ) -> None:
        response = await appraisal.put(
            f"/v1/dossiers/{dossier}/content/request_letter",
            json={**LETTER, "number": "12\x00"},
            headers=H_COMMUNE,
        )
        assert_refused(response, "request_letter.number")


class TestCommentsAndActions:
    async def test_a_nul_in_a_comment_is_refused(
        self, appraisal: httpx.AsyncClient, dossier: str
    ) -> None:
        response = await appraisal.post(
            f"/v1/dossiers/{dossier}/comments", json={"body": "Ý kiến\x00"}, headers=H_COMMUNE
        )
        assert_refused(response, "body")

    async def test_a_nul_in_an_action_comment_is_refused(
        self, appraisal: httpx.AsyncClient, dossier: str
    ) -> None:
        response = await appraisal.post(
            f"/v1/dossiers/{dossier}/actions",
            json={"action": "submit", "comment": "Gửi\x00"},
            headers=H_COMMUNE,
        )
        assert_refused(response, "comment")


class TestEvidenceCriterion:
    async def test_a_criterion_in_other_digits_is_refused(
        self, appraisal: httpx.AsyncClient, dossier: str
    ) -> None:
        response = await appraisal.post(
            f"/v1/dossiers/{dossier}/evidence",
            files={"file": ("bien-ban.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
            data={"criterion": "²"},
            headers=H_COMMUNE,
        )
        assert_refused(response, "criterion", code="evidence.criterion_invalid")
