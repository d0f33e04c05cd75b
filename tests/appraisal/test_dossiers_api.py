"""Dossiers over REST: creation through the criteria service, content, the workflow's moves
with gates computed from the dossier, the audit chain, the task inbox, signed decisions, the
outbox reaching the criteria service, and revocation."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.appraisal.app import attach_relay
from services.appraisal.outbox import HttpPublisher, OutboxRelay
from services.appraisal.signing import verify
from shared.db import Database
from tests.conftest import auth_headers
from tests.criteria.test_titles_and_derived import indicator_result, share_indicator
from tests.criteria.test_values_and_evaluation import meeting_value, recordable, row

COMMUNE = "15592"  # Xã Xuân Minh, Huyện Thọ Xuân (395), Thanh Hóa (38), before 2025
H_COMMUNE = auth_headers("commune_officer", COMMUNE, subject="can.bo.xa")
H_DISTRICT = auth_headers("district_officer", "395", subject="can.bo.huyen")
H_OTHER_DISTRICT = auth_headers("district_officer", "396")
H_PROVINCE = auth_headers("province_officer", "38", subject="can.bo.tinh")
H_APPRAISER = auth_headers("appraiser", "38", subject="so.gtvt")
DECISION = {"number": "123/QĐ-UBND", "date": "2023-12-20", "signer": "Chủ tịch UBND tỉnh"}


async def meet_every_indicator(criteria: httpx.AsyncClient) -> None:
    profile = await criteria.put(
        f"/v1/units/{COMMUNE}/profile", params={"as_of": "2023-05-19"}, json={"region": "BTB"}
    )
    assert profile.status_code == 200, profile.text
    rows = [row(i["code"], meeting_value(i, "BTB")) for i in await recordable(criteria)]
    response = await criteria.post("/v1/indicator-values", json={"values": rows})
    assert response.status_code == 201, response.text


async def create(appraisal: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    body = {"unit": COMMUNE, "title": "xa-ntm", "year": 2023, **extra}
    response = await appraisal.post("/v1/dossiers", json=body, headers=H_COMMUNE)
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out


async def put(
    appraisal: httpx.AsyncClient, dossier: str, piece: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    url = f"/v1/dossiers/{dossier}/content/{piece}"
    return await appraisal.put(url, json=body, headers=headers)


async def act(
    appraisal: httpx.AsyncClient, dossier: str, action: str, headers: dict[str, str], **extra: Any
) -> httpx.Response:
    return await appraisal.post(
        f"/v1/dossiers/{dossier}/actions", json={"action": action, **extra}, headers=headers
    )


async def ok(response: httpx.Response, step: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["step"] == step
    return body


POSTING = {"where": "Nhà văn hóa xã", "from": "2023-06-01", "to": "2023-06-20"}
VOTE_OK = {"for": 19, "against": 1, "total": 20}


async def walk_to_decision(appraisal: httpx.AsyncClient, dossier: str) -> dict[str, Any]:
    """From self-assessment to the decision step, each step's content recorded by its level."""
    await ok(await act(appraisal, dossier, "submit", H_COMMUNE), "survey_and_posting")
    survey = {"households_surveyed": 900, "households_total": 1000, "satisfied_share": "0.95"}
    assert (await put(appraisal, dossier, "satisfaction", survey, H_COMMUNE)).status_code == 200
    assert (await put(appraisal, dossier, "posting.commune", POSTING, H_COMMUNE)).status_code == 200
    await ok(await act(appraisal, dossier, "submit", H_COMMUNE), "commune_vote")
    assert (await put(appraisal, dossier, "vote.commune_board", VOTE_OK, H_COMMUNE)).is_success
    security = {"stable": True, "attested_by": "Công an xã", "attested_on": "2023-07-01"}
    assert (await put(appraisal, dossier, "security", security, H_COMMUNE)).is_success
    await ok(await act(appraisal, dossier, "submit", H_COMMUNE), "district_verification")
    await ok(await act(appraisal, dossier, "accept", H_DISTRICT), "district_posting")
    assert (await put(appraisal, dossier, "posting.district", POSTING, H_DISTRICT)).is_success
    await ok(await act(appraisal, dossier, "submit", H_DISTRICT), "provincial_appraisal")
    for n in range(1, 20):
        review = {"department": "Sở", "reviewer": "chuyên viên", "result": "met"}
        assert (await put(appraisal, dossier, f"sector_review.{n}", review, H_APPRAISER)).is_success
    survey_body = {"surveyed_on": "2023-10-01", "members": ["A", "B"], "findings": "Đạt"}
    assert (await put(appraisal, dossier, "field_survey", survey_body, H_APPRAISER)).is_success
    await ok(await act(appraisal, dossier, "accept", H_APPRAISER), "council_vote")
    assert (await put(appraisal, dossier, "vote.council", VOTE_OK, H_PROVINCE)).is_success
    await ok(await act(appraisal, dossier, "approve", H_PROVINCE), "publication")
    assert (await put(appraisal, dossier, "posting.province", POSTING, H_PROVINCE)).is_success
    return await ok(await act(appraisal, dossier, "submit", H_PROVINCE), "decision")


async def recognised_commune(
    appraisal: httpx.AsyncClient, appraisal_app: FastAPI, criteria: httpx.AsyncClient
) -> tuple[str, OutboxRelay]:
    """The commune walked to its recognition, the title delivered to criteria by the relay."""
    await meet_every_indicator(criteria)
    recognition: str = (await create(appraisal))["id"]
    await walk_to_decision(appraisal, recognition)
    await ok(
        await act(appraisal, recognition, "approve", H_PROVINCE, decision=DECISION), "recognised"
    )
    relay = attach_relay(appraisal_app, appraisal_app.state.settings)
    assert await relay.run_once() == 1
    return recognition, relay


class TestSchema:
    async def test_the_audit_chain_and_decisions_refuse_update_and_delete(
        self, db: Database
    ) -> None:
        for statement in (
            "UPDATE appraisal.audit_entries SET seq = seq",
            "DELETE FROM appraisal.audit_entries",
            "UPDATE appraisal.decisions SET number = number",
        ):
            async with db.engine.connect() as conn:
                # a row must exist for a row trigger to fire: insert one in the same transaction
                trans = await conn.begin()
                dossier = uuid.uuid4()
                await conn.execute(
                    text(
                        "INSERT INTO appraisal.dossiers (id, unit_code, unit_edition, unit_level,"
                        " unit_name, unit_path, province_code, has_district, unit_as_of, title,"
                        " year, set_code, workflow_code, workflow_version, step, step_entered_on)"
                        " VALUES (:id, '15592', 'legacy', 'commune', 'x', '38.395.15592', '38',"
                        " true, '2023-12-31', 'xa-ntm', 2023, 'xa-ntm-2021', 'qd18-2022', 1,"
                        " 'self_assessment', '2023-01-01')"
                    ),
                    {"id": dossier},
                )
                await conn.execute(
                    text(
                        "INSERT INTO appraisal.audit_entries (dossier_id, seq, entry, prev_hash,"
                        " hash) VALUES (:id, 1, '{}', '\\x00', '\\x00')"
                    ),
                    {"id": dossier},
                )
                await conn.execute(
                    text(
                        "INSERT INTO appraisal.decisions (id, dossier_id, kind, number, date,"
                        " signer, effective_on, record, signature, key_id) VALUES (:d, :id,"
                        " 'recognition', '1/QĐ', '2023-01-01', 's', '2023-01-01', '{}', '\\x00',"
                        " 'k')"
                    ),
                    {"id": dossier, "d": uuid.uuid4()},
                )
                with pytest.raises(DBAPIError, match="append-only"):
                    await conn.execute(text(statement))
                await trans.rollback()


class TestCreateAndList:
    async def test_a_dossier_is_opened_on_the_unit_the_criteria_service_knows(
        self, appraisal: httpx.AsyncClient
    ) -> None:
        body = await create(appraisal)
        assert body["unit"]["name"].startswith("Xã")
        assert body["unit"]["has_district"] is True
        assert body["unit"]["province_code"] == "38"
        assert body["set"] == "xa-ntm-2021"
        assert body["step"] == "self_assessment"
        assert body["status"] == "open"
        assert body["editable_by"] == "commune"
        assert body["audit_entries"] == 1
        again = await appraisal.post(
            "/v1/dossiers", json={"unit": COMMUNE, "title": "xa-ntm", "year": 2023},
            headers=H_COMMUNE,
        )  # fmt: skip
        assert again.status_code == 409
        assert again.json()["code"] == "dossier.exists"

    @pytest.mark.parametrize(
        ("body", "field", "code"),
        [
            ({"unit": "99999", "title": "xa-ntm", "year": 2023}, "unit", "unit.not_found"),
            ({"unit": COMMUNE, "title": "huyen-ntm", "year": 2023}, "title",
             "title.level_mismatch"),
            ({"unit": COMMUNE, "title": "xa-ntm", "year": 2023, "set": "khong-co"}, "set",
             "set.not_found"),
            ({"unit": COMMUNE, "title": "xa-ntm", "year": 1999}, "year", "body.greater_than_equal"),
        ],
    )  # fmt: skip
    async def test_bad_input_is_a_422_naming_the_field(
        self, appraisal: httpx.AsyncClient, body: dict[str, Any], field: str, code: str
    ) -> None:
        response = await appraisal.post("/v1/dossiers", json=body, headers=H_COMMUNE)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["errors"][0]["field"] == field
        assert problem["errors"][0]["code"] == code
        assert problem["message_vi"]
        assert problem["message_en"]

    async def test_a_unit_outside_the_actors_scope_is_refused(
        self, appraisal: httpx.AsyncClient
    ) -> None:
        response = await appraisal.post(
            "/v1/dossiers", json={"unit": COMMUNE, "title": "xa-ntm", "year": 2023},
            headers=H_OTHER_DISTRICT,
        )  # fmt: skip
        assert response.status_code == 403
        assert response.json()["code"] == "dossier.out_of_scope"

    async def test_the_list_filters_and_pages_with_a_cursor(
        self, appraisal: httpx.AsyncClient
    ) -> None:
        ids = [(await create(appraisal, year=year))["id"] for year in (2021, 2022, 2023)]
        first = (await appraisal.get("/v1/dossiers", params={"limit": 2})).json()
        assert [d["id"] for d in first["items"]] == ids[:2]
        assert first["total_count"] == 3
        second = (
            await appraisal.get("/v1/dossiers", params={"limit": 2, "cursor": first["next_cursor"]})
        ).json()
        assert [d["id"] for d in second["items"]] == ids[2:]
        assert second["next_cursor"] is None
        assert second["total_count"] == 3  # over all pages, not what is left after the cursor
        only = (await appraisal.get("/v1/dossiers", params={"year": 2022, "unit": COMMUNE})).json()
        assert [d["id"] for d in only["items"]] == [ids[1]]
        assert only["total_count"] == 1
        none = (await appraisal.get("/v1/dossiers", params={"status": "recognised"})).json()
        assert (none["items"], none["total_count"]) == ([], 0)
        bad = await appraisal.get("/v1/dossiers", params={"cursor": "!!"})
        assert bad.status_code == 422


class TestWorkflow:
    async def test_gates_are_computed_from_the_dossier_and_named_in_the_refusal(
        self, appraisal: httpx.AsyncClient, criteria: httpx.AsyncClient
    ) -> None:
        dossier = (await create(appraisal))["id"]
        await ok(await act(appraisal, dossier, "submit", H_COMMUNE), "survey_and_posting")
        refused = await act(appraisal, dossier, "submit", H_COMMUNE)
        assert refused.status_code == 409
        problem = refused.json()
        assert problem["code"] == "workflow.gate_failed"
        assert {e["field"] for e in problem["errors"]} == {
            "satisfaction_recorded",
            "posting_completed",
        }
        assert "hài lòng" in problem["message_vi"]
        assert "satisfaction" in problem["message_en"]
        still = (await appraisal.get(f"/v1/dossiers/{dossier}")).json()
        assert still["step"] == "survey_and_posting"

    async def test_the_submitted_evaluation_is_frozen_with_its_hash(
        self, appraisal: httpx.AsyncClient, criteria: httpx.AsyncClient
    ) -> None:
        await meet_every_indicator(criteria)
        dossier = (await create(appraisal))["id"]
        body = await ok(await act(appraisal, dossier, "submit", H_COMMUNE), "survey_and_posting")
        frozen = body["submitted_evaluation"]
        assert frozen["data"]["meets_standard"] is True
        assert len(frozen["hash"]) == 64
        # later values do not change the frozen snapshot
        await criteria.post(
            "/v1/indicator-values", json={"values": [row("3.1", "10", as_of="2023-08-01")]}
        )
        again = (await appraisal.get(f"/v1/dossiers/{dossier}")).json()
        assert again["submitted_evaluation"] == frozen

    async def test_another_level_may_neither_act_nor_edit(
        self, appraisal: httpx.AsyncClient
    ) -> None:
        dossier = (await create(appraisal))["id"]
        forbidden = await act(appraisal, dossier, "accept", H_DISTRICT)
        assert forbidden.status_code == 409  # accept is not an action of self-assessment
        wrong_level = await act(appraisal, dossier, "submit", H_DISTRICT)
        assert wrong_level.status_code == 403
        assert wrong_level.json()["code"] == "workflow.forbidden"
        await ok(await act(appraisal, dossier, "submit", H_COMMUNE), "survey_and_posting")
        survey = {"households_surveyed": 900, "households_total": 1000, "satisfied_share": "0.95"}
        locked = await put(appraisal, dossier, "satisfaction", survey, H_DISTRICT)
        assert locked.status_code == 403
        assert locked.json()["code"] == "dossier.locked"

    async def test_a_bad_content_piece_is_a_422_naming_the_field(
        self, appraisal: httpx.AsyncClient
    ) -> None:
        dossier = (await create(appraisal))["id"]
        bad = await put(
            appraisal, dossier, "satisfaction",
            {"households_surveyed": 900, "satisfied_share": "1.5"}, H_COMMUNE,
        )  # fmt: skip
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "satisfaction.satisfied_share"
        unknown = await put(appraisal, dossier, "gossip", {}, H_COMMUNE)
        assert unknown.status_code == 422
        assert unknown.json()["errors"][0]["field"] == "piece"
        vote = await put(
            appraisal,
            dossier,
            "vote.commune_board",
            {"for": 30, "against": 0, "total": 20},
            H_COMMUNE,
        )
        assert vote.status_code == 422

    async def test_a_stale_version_is_a_409(self, appraisal: httpx.AsyncClient) -> None:
        dossier = await create(appraisal)
        security = {"stable": True, "attested_by": "Công an xã", "attested_on": "2023-07-01"}
        response = await appraisal.put(
            f"/v1/dossiers/{dossier['id']}/content/security", json=security,
            headers={**H_COMMUNE, "If-Match": str(dossier["version"] + 5)},
        )  # fmt: skip
        assert response.status_code == 409
        assert response.json()["code"] == "dossier.version_conflict"

    async def test_outstanding_construction_debt_blocks_the_decision(
        self, appraisal: httpx.AsyncClient, criteria: httpx.AsyncClient, funding: httpx.AsyncClient
    ) -> None:
        await meet_every_indicator(criteria)
        work = await funding.post(
            f"/v1/units/{COMMUNE}/works",
            params={"as_of": "2023-05-19"},
            json={"code": "GT-01", "name": "Đường trục xã", "kind": "road",
                  "planned_vnd": 3_500_000_000, "started_on": "2023-03-01"},
        )  # fmt: skip
        assert work.status_code == 201, work.text
        contract = await funding.post(
            f"/v1/works/{work.json()['id']}/obligations",
            json={"basis": "contract", "amount": 3_200_000_000, "date": "2023-03-15"},
        )
        assert contract.status_code == 201, contract.text
        dossier = (await create(appraisal))["id"]
        await walk_to_decision(appraisal, dossier)
        refused = await act(appraisal, dossier, "approve", H_PROVINCE, decision=DECISION)
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert [e["field"] for e in problem["errors"]] == ["recognition_conditions"]
        assert "nợ đọng XDCB" in problem["message_vi"]
        assert "3,200,000,000" in problem["message_en"]


class TestDecisionAndEvents:
    async def test_approval_signs_a_decision_and_the_title_reaches_criteria_once(
        self,
        appraisal: httpx.AsyncClient,
        appraisal_app: FastAPI,
        criteria: httpx.AsyncClient,
        db: Database,
    ) -> None:
        await meet_every_indicator(criteria)
        share = await share_indicator(criteria, "huyen-ntm-2021")
        before = await indicator_result(criteria, "395", "huyen-ntm-2021", share)
        dossier = (await create(appraisal))["id"]
        await walk_to_decision(appraisal, dossier)
        missing = await act(appraisal, dossier, "approve", H_PROVINCE)
        assert missing.status_code == 409
        assert [e["field"] for e in missing.json()["errors"]] == ["decision_recorded"]
        done = await ok(
            await act(appraisal, dossier, "approve", H_PROVINCE, decision=DECISION), "recognised"
        )
        assert done["status"] == "recognised"
        assert done["construction_debt"]["data"]["total_debt"] == 0  # the real funding service
        assert done["decision_evaluation"]["hash"] == done["submitted_evaluation"]["hash"]

        decision = (await appraisal.get(f"/v1/decisions/{done['decision_id']}")).json()
        key = (await appraisal.get("/v1/decisions/public-key")).json()
        assert decision["key_id"] == key["key_id"]
        signed = decision["signed_bytes"].encode()
        assert verify(key["public_key_pem"], signed, decision["signature"])
        forged = signed.replace(b"123/", b"124/")
        assert not verify(key["public_key_pem"], forged, decision["signature"])
        assert decision["record"]["evaluation_hash"] == done["decision_evaluation"]["hash"]

        # nothing reaches criteria before the relay runs; then exactly once
        titles = await criteria.get(f"/v1/units/{COMMUNE}/titles", params={"as_of": "2023-05-19"})
        assert titles.json() == []
        relay: OutboxRelay = attach_relay(appraisal_app, appraisal_app.state.settings)
        assert await relay.run_once() == 1
        assert await relay.run_once() == 0
        titles = await criteria.get(f"/v1/units/{COMMUNE}/titles", params={"as_of": "2023-05-19"})
        assert [(t["title"], t["decision_number"]) for t in titles.json()] == [
            ("xa-ntm", "123/QĐ-UBND")
        ]
        after = await indicator_result(criteria, "395", "huyen-ntm-2021", share)
        assert after["value"] != before["value"]

        # a redelivery of the same event has no second effect
        assert isinstance(relay.publisher, HttpPublisher)
        async with db.engine.connect() as conn:
            result = await conn.execute(text("SELECT payload FROM appraisal.outbox"))
            payload = result.scalar_one()
        again = await criteria.post("/v1/events/titles", json=payload)
        assert again.json()["applied"] is False
        titles = await criteria.get(f"/v1/units/{COMMUNE}/titles", params={"as_of": "2023-05-19"})
        assert len(titles.json()) == 1
        assert (await indicator_result(criteria, "395", "huyen-ntm-2021", share)) == after


class TestTimelineAndTasks:
    async def test_a_row_altered_behind_the_trigger_is_reported(
        self, appraisal: httpx.AsyncClient, db: Database
    ) -> None:
        dossier = (await create(appraisal))["id"]
        await ok(await act(appraisal, dossier, "submit", H_COMMUNE), "survey_and_posting")
        security = {"stable": True, "attested_by": "Công an xã", "attested_on": "2023-07-01"}
        assert (await put(appraisal, dossier, "security", security, H_COMMUNE)).is_success
        timeline = (await appraisal.get(f"/v1/dossiers/{dossier}/timeline")).json()["items"]
        assert [e["entry"]["action"] for e in timeline] == [
            "create",
            "action.submit",
            "content.security",
        ]
        assert timeline[1]["prev_hash"] == timeline[0]["hash"]
        assert timeline[2]["entry"]["who"] == "can.bo.xa"
        intact = (await appraisal.get(f"/v1/dossiers/{dossier}/timeline/verify")).json()
        assert intact["intact"] is True
        assert intact["entries"] == 3

        async with db.engine.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(
                text(
                    "UPDATE appraisal.audit_entries SET entry = jsonb_set(entry, '{who}',"
                    " '\"someone.else\"') WHERE dossier_id = :d AND seq = 2"
                ),
                {"d": dossier},
            )
        broken = (await appraisal.get(f"/v1/dossiers/{dossier}/timeline/verify")).json()
        assert broken["intact"] is False
        assert broken["broken_seq"] == 2
        assert "altered" in broken["reason"]
        assert "mục 2" in broken["message_vi"]

    async def test_the_inbox_shows_waiting_dossiers_in_scope_with_overdue_flags(
        self, appraisal: httpx.AsyncClient, db: Database
    ) -> None:
        dossier = (await create(appraisal))["id"]
        mine = await appraisal.get(
            "/v1/tasks", params={"role": "commune_officer", "level": "commune", "unit": COMMUNE}
        )
        assert [t["dossier_id"] for t in mine.json()["items"]] == [dossier]
        assert mine.json()["items"][0]["actions"] == ["submit", "withdraw"]
        assert mine.json()["items"][0]["overdue"] is False
        district = {"role": "district_officer", "level": "district", "unit": "395"}
        assert (await appraisal.get("/v1/tasks", params=district)).json()["items"] == []
        async with db.engine.begin() as conn:  # the step began 40 days ago (30 allowed)
            await conn.execute(
                text(
                    "UPDATE appraisal.dossiers SET step = 'district_verification',"
                    " step_entered_on = current_date - 40 WHERE id = :d"
                ),
                {"d": dossier},
            )
        [task] = (await appraisal.get("/v1/tasks", params=district)).json()["items"]
        assert task["step"] == "district_verification"
        assert task["overdue"] is True
        other = {"role": "district_officer", "level": "district", "unit": "396"}
        assert (await appraisal.get("/v1/tasks", params=other)).json()["items"] == []
        province = {"role": "province_officer", "level": "province", "unit": "38"}
        assert (await appraisal.get("/v1/tasks", params=province)).json()["items"] == []


class TestRevocation:
    async def test_a_recognised_commune_is_revoked_by_a_signed_decision_and_may_apply_again(
        self,
        appraisal: httpx.AsyncClient,
        appraisal_app: FastAPI,
        criteria: httpx.AsyncClient,
    ) -> None:
        recognition, relay = await recognised_commune(appraisal, appraisal_app, criteria)

        not_held = await appraisal.post(
            f"/v1/units/{COMMUNE}/revocations",
            json={"title": "xa-ntm-nang-cao", "year": 2023, "reason": "x"},
            headers=H_DISTRICT,
        )
        assert not_held.status_code == 422
        own_level = await appraisal.post(
            f"/v1/units/{COMMUNE}/revocations",
            json={"title": "xa-ntm", "year": 2023, "reason": "x"},
            headers=H_COMMUNE,
        )
        assert own_level.status_code == 403
        opened = await appraisal.post(
            f"/v1/units/{COMMUNE}/revocations",
            json={"title": "xa-ntm", "year": 2023, "reason": "Tiêu chí môi trường không duy trì"},
            headers=H_DISTRICT,
        )
        assert opened.status_code == 201, opened.text
        revocation = opened.json()
        assert revocation["kind"] == "revocation"
        assert revocation["step"] == "revocation_proposal"
        assert revocation["revokes_dossier_id"] == recognition
        assert revocation["revocation_grounds"]["revocation_risk"] is False
        assert len(revocation["revocation_grounds"]["evaluation_hash"]) == 64

        rid = revocation["id"]
        await ok(await act(appraisal, rid, "submit", H_DISTRICT), "revocation_review")
        await ok(await act(appraisal, rid, "accept", H_PROVINCE), "decision")
        revoke_decision = {**DECISION, "number": "45/QĐ-UBND", "date": "2024-03-01"}
        done = await ok(
            await act(appraisal, rid, "approve", H_PROVINCE, decision=revoke_decision), "revoked"
        )
        assert done["status"] == "revoked"
        decision = (await appraisal.get(f"/v1/decisions/{done['decision_id']}")).json()
        assert decision["kind"] == "revocation"
        key = (await appraisal.get("/v1/decisions/public-key")).json()
        assert verify(key["public_key_pem"], decision["signed_bytes"].encode(),
                      decision["signature"])  # fmt: skip
        original = (await appraisal.get(f"/v1/dossiers/{recognition}")).json()
        assert original["status"] == "revoked"
        assert (await appraisal.get(f"/v1/dossiers/{recognition}/timeline/verify")).json()["intact"]

        assert await relay.run_once() == 1
        [title] = (
            await criteria.get(f"/v1/units/{COMMUNE}/titles", params={"as_of": "2023-05-19"})
        ).json()
        assert title["revoked_on"] == "2024-03-01"
        assert title["revocation_decision"] == "45/QĐ-UBND"

        again = await appraisal.post(
            "/v1/dossiers", json={"unit": COMMUNE, "title": "xa-ntm", "year": 2024},
            headers=H_COMMUNE,
        )  # fmt: skip
        assert again.status_code == 201, again.text
        signature = base64.b64decode(decision["signature"])
        assert len(signature) == 64
