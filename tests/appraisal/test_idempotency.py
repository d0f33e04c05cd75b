"""Idempotency-Key on appraisal's writes (contract.md): the same key and request answer the first
result, another request under the key is a 409, a refused write leaves the key free, and two
concurrent requests with one key act once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from tests.appraisal.test_dossiers_api import (
    COMMUNE,
    H_COMMUNE,
    H_DISTRICT,
    POSTING,
    act,
    create,
    ok,
    recognised_commune,
)


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def new_key() -> str:
    return f"test-{uuid.uuid4()}"


def conflict(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == "idempotency.conflict"
    assert [e["field"] for e in body["errors"]] == ["Idempotency-Key"]
    assert body["message_vi"]
    assert body["message_en"]
    return body


async def audit_actions(appraisal: httpx.AsyncClient, dossier: str) -> list[str]:
    timeline = (await appraisal.get(f"/v1/dossiers/{dossier}/timeline")).json()["items"]
    return [e["entry"]["action"] for e in timeline]


class TestCreate:
    async def test_a_repeated_create_answers_the_first_dossier_and_another_body_is_a_409(
        self, appraisal: httpx.AsyncClient
    ) -> None:
        key = new_key()
        headers = keyed(H_COMMUNE, key)
        body = {"unit": COMMUNE, "title": "xa-ntm", "year": 2023}
        first = await appraisal.post("/v1/dossiers", json=body, headers=headers)
        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers
        again = await appraisal.post("/v1/dossiers", json=body, headers=headers)
        assert again.status_code == 201, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        # without the key the same request is a second attempt, refused by the domain
        unkeyed = await appraisal.post("/v1/dossiers", json=body, headers=H_COMMUNE)
        assert unkeyed.json()["code"] == "dossier.exists"

        other_year = {**body, "year": 2022}
        conflict(await appraisal.post("/v1/dossiers", json=other_year, headers=headers))
        # the same body under the key, sent by someone else, is another request too
        conflict(await appraisal.post("/v1/dossiers", json=body, headers=keyed(H_DISTRICT, key)))
        listed = (await appraisal.get("/v1/dossiers", params={"unit": COMMUNE})).json()
        assert [d["id"] for d in listed["items"]] == [first.json()["id"]]

    async def test_a_malformed_key_is_a_422_naming_the_header(
        self, appraisal: httpx.AsyncClient
    ) -> None:
        body = {"unit": COMMUNE, "title": "xa-ntm", "year": 2023}
        for bad in ("", " spaced out", "x" * 101):
            response = await appraisal.post(
                "/v1/dossiers", json=body, headers=keyed(H_COMMUNE, bad)
            )
            assert response.status_code == 422, (bad, response.text)
            assert "Idempotency-Key" in str(response.json()["errors"])
        assert (await appraisal.get("/v1/dossiers")).json()["items"] == []


class TestActions:
    async def test_a_repeated_action_moves_the_dossier_once(
        self, appraisal: httpx.AsyncClient
    ) -> None:
        dossier = (await create(appraisal))["id"]
        key = new_key()
        headers = keyed(H_COMMUNE, key)
        moved = await ok(await act(appraisal, dossier, "submit", headers), "survey_and_posting")
        replay = await act(appraisal, dossier, "submit", headers)
        assert replay.status_code == 200
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == moved
        assert await audit_actions(appraisal, dossier) == ["create", "action.submit"]

        conflict(await act(appraisal, dossier, "withdraw", headers))
        conflict(await act(appraisal, dossier, "submit", headers, comment="lần hai"))
        now = (await appraisal.get(f"/v1/dossiers/{dossier}")).json()
        assert (now["step"], now["status"], now["version"]) == (
            "survey_and_posting",
            "open",
            moved["version"],
        )

    async def test_a_refused_action_leaves_its_key_free_for_the_retry(
        self, appraisal: httpx.AsyncClient
    ) -> None:
        dossier = (await create(appraisal))["id"]
        headers = keyed(H_COMMUNE, new_key())
        refused = await act(appraisal, dossier, "approve", headers)
        assert refused.json()["code"] == "workflow.action_not_allowed"
        # nothing was done, so nothing is replayed: the corrected request runs
        await ok(await act(appraisal, dossier, "submit", headers), "survey_and_posting")

    async def test_two_concurrent_requests_with_one_key_act_once(
        self, appraisal: httpx.AsyncClient
    ) -> None:
        dossier = (await create(appraisal))["id"]
        headers = keyed(H_COMMUNE, new_key())
        one, two = await asyncio.gather(
            act(appraisal, dossier, "submit", headers), act(appraisal, dossier, "submit", headers)
        )
        assert (one.status_code, two.status_code) == (200, 200), (one.text, two.text)
        assert one.json() == two.json()
        replayed = [r.headers.get("idempotent-replayed") for r in (one, two)]
        assert replayed.count("true") == 1
        assert await audit_actions(appraisal, dossier) == ["create", "action.submit"]


class TestContentAndComments:
    async def test_a_repeated_content_put_records_once(self, appraisal: httpx.AsyncClient) -> None:
        dossier = (await create(appraisal))["id"]
        await ok(await act(appraisal, dossier, "submit", H_COMMUNE), "survey_and_posting")
        url = f"/v1/dossiers/{dossier}/content/posting.commune"
        headers = keyed(H_COMMUNE, new_key())
        first = await appraisal.put(url, json=POSTING, headers=headers)
        assert first.status_code == 200, first.text
        again = await appraisal.put(url, json=POSTING, headers=headers)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        conflict(await appraisal.put(url, json={**POSTING, "to": "2023-06-30"}, headers=headers))
        # If-Match is part of the request: the same body at another version is another one
        conflict(await appraisal.put(url, json=POSTING, headers={**headers, "If-Match": "1"}))
        actions = await audit_actions(appraisal, dossier)
        assert actions.count("content.posting.commune") == 1

    async def test_a_repeated_comment_is_posted_once(self, appraisal: httpx.AsyncClient) -> None:
        dossier = (await create(appraisal))["id"]
        url = f"/v1/dossiers/{dossier}/comments"
        headers = keyed(H_DISTRICT, new_key())
        comment = {"body": "Bổ sung biên bản tiêu chí 2", "criterion": 2}
        first = await appraisal.post(url, json=comment, headers=headers)
        assert first.status_code == 201, first.text
        again = await appraisal.post(url, json=comment, headers=headers)
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        conflict(await appraisal.post(url, json={**comment, "criterion": 3}, headers=headers))
        # the key is the service's, not the route's: reused on another route it is a 409
        elsewhere = keyed(H_COMMUNE, headers["Idempotency-Key"])
        conflict(await act(appraisal, dossier, "submit", elsewhere))
        listed = (await appraisal.get(url)).json()["items"]
        assert [c["id"] for c in listed] == [first.json()["id"]]


class TestRevocation:
    async def test_a_repeated_revocation_opens_one_dossier(
        self, appraisal: httpx.AsyncClient, appraisal_app: FastAPI, criteria: httpx.AsyncClient
    ) -> None:
        await recognised_commune(appraisal, appraisal_app, criteria)
        url = f"/v1/units/{COMMUNE}/revocations"
        headers = keyed(H_DISTRICT, new_key())
        body = {"title": "xa-ntm", "year": 2023, "reason": "Tiêu chí môi trường không duy trì"}
        first = await appraisal.post(url, json=body, headers=headers)
        assert first.status_code == 201, first.text
        again = await appraisal.post(url, json=body, headers=headers)
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        conflict(await appraisal.post(url, json={**body, "reason": "khác"}, headers=headers))
        revocations = (await appraisal.get("/v1/dossiers", params={"kind": "revocation"})).json()
        assert [d["id"] for d in revocations["items"]] == [first.json()["id"]]
