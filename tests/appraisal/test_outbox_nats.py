"""Appraisal's outbox relay over the REAL local NATS JetStream server: a row is marked
published only once JetStream acknowledged it, and an approval reaches the criteria service's
titles through the stream and its consumer."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from nats.js import JetStreamContext
from sqlalchemy import text

from services.appraisal.app import attach_relay
from services.appraisal.outbox import NatsPublisher, OutboxRelay
from services.appraisal.repository import OutboxRepository
from shared.db import Database
from shared.settings import Settings
from tests.appraisal.test_dossiers_api import (
    DECISION,
    H_PROVINCE,
    act,
    create,
    meet_every_indicator,
    ok,
    walk_to_decision,
)
from tests.criteria import test_title_events_nats as on_nats
from tests.criteria.test_title_events_nats import eventually, title_event, titles_of

# the real-NATS fixtures (server check, a stream and durable of each test's own)
nats_url = on_nats.nats_url
nats_settings = on_nats.nats_settings
jetstream = on_nats.jetstream
consuming_criteria = on_nats.consuming_criteria


async def outbox_rows(db: Database) -> list[dict[str, object]]:
    async with db.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT event_id, published_at, attempts, last_error FROM appraisal.outbox")
        )
        return [dict(r) for r in result.mappings().all()]


class TestRelayOverJetStream:
    async def test_a_row_is_marked_published_only_after_jetstream_acknowledged_it(
        self, nats_settings: Settings, db: Database, jetstream: JetStreamContext
    ) -> None:
        event = title_event()
        async for session in db.session_scope():
            await OutboxRepository(session).add(uuid.UUID(event["event_id"]), event["type"], event)
        stream = nats_settings.nats_appraisal_stream
        prefix = nats_settings.nats_appraisal_subject_prefix

        # no stream stores the subject yet: JetStream does not acknowledge, the row stays
        unacked = OutboxRelay(
            lambda: db,
            NatsPublisher(
                nats_settings.nats_url or "",
                stream=stream,
                subject_prefix=prefix,
                create_stream=False,
            ),
        )
        try:
            assert await unacked.run_once() == 0
        finally:
            await unacked.publisher.aclose()
        [row] = await outbox_rows(db)
        assert row["published_at"] is None
        assert row["attempts"] == 1
        assert "NoStreamResponse" in str(row["last_error"])

        relay = OutboxRelay(
            lambda: db, NatsPublisher(nats_settings.nats_url or "", stream=stream,
                                      subject_prefix=prefix)
        )  # fmt: skip
        try:
            assert await relay.run_once() == 1
            assert await relay.run_once() == 0
        finally:
            await relay.publisher.aclose()
        [row] = await outbox_rows(db)
        assert row["published_at"] is not None
        assert row["last_error"] is None

        info = await jetstream.stream_info(stream)
        assert info.state.messages == 1
        stored = await jetstream.get_msg(stream, 1)
        assert stored.subject == f"{prefix}.recognition.granted"
        assert (stored.headers or {}).get("Nats-Msg-Id") == event["event_id"]

        # published again (a relay that died before marking the row): the server drops it
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE appraisal.outbox SET published_at = NULL"))
        again = OutboxRelay(
            lambda: db, NatsPublisher(nats_settings.nats_url or "", stream=stream,
                                      subject_prefix=prefix)
        )  # fmt: skip
        try:
            assert await again.run_once() == 1
        finally:
            await again.publisher.aclose()
        assert (await jetstream.stream_info(stream)).state.messages == 1

    async def test_an_approval_reaches_criteria_titles_through_jetstream(
        self,
        nats_settings: Settings,
        appraisal: httpx.AsyncClient,
        appraisal_app: FastAPI,
        criteria: httpx.AsyncClient,
        consuming_criteria: tuple[FastAPI, httpx.AsyncClient],
    ) -> None:
        _, consuming = consuming_criteria
        await meet_every_indicator(criteria)
        dossier = (await create(appraisal))["id"]
        await walk_to_decision(appraisal, dossier)
        await ok(
            await act(appraisal, dossier, "approve", H_PROVINCE, decision=DECISION), "recognised"
        )
        assert await titles_of(consuming) == []
        relay = attach_relay(appraisal_app, nats_settings)
        assert isinstance(relay.publisher, NatsPublisher)
        try:
            assert await relay.run_once() == 1
        finally:
            await relay.publisher.aclose()

        async def arrived() -> bool:
            return len(await titles_of(consuming)) == 1

        await eventually(arrived)
        [title] = await titles_of(consuming)
        assert (title["title"], title["decision_number"]) == ("xa-ntm", "123/QĐ-UBND")
