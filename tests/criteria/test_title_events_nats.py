"""Appraisal's title events over the REAL local NATS JetStream server: the criteria service's
durable pull consumer applies them through the same code path as `POST /v1/events/titles`,
once, acknowledging after the commit; a malformed message is terminated, a failed one
redelivered after a delay.

Each test uses its own stream, subject prefix and durable name, so runs do not interfere. An
unreachable server fails the tests (it is part of the machine: see the handbook); it never
skips them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import nats
import pytest
from fastapi import FastAPI
from nats.aio.client import Client
from nats.js import JetStreamContext
from sqlalchemy import text

from services.appraisal.app import attach_relay
from services.appraisal.outbox import NatsPublisher
from services.appraisal.repository import OutboxRepository
from services.criteria.app import create_app as create_criteria_app
from services.runtime import create_embedded_app
from shared.db import Database
from shared.events import Delivery, JetStreamPublisher, PullConsumer, StreamSpec
from shared.settings import Settings
from tests.conftest import DEFAULT_HEADERS

NATS_URL = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")
COMMUNE = "15592"
AS_OF = "2023-05-19"


def title_event(event_id: uuid.UUID | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": str(event_id or uuid.uuid4()),
        "type": "recognition.granted",
        "unit": COMMUNE,
        "unit_as_of": AS_OF,
        "title": "xa-ntm",
        "year": 2023,
        "decision": {"number": "123/QĐ-UBND", "date": "2023-12-20", "effective_on": "2023-12-20"},
        **extra,
    }


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 15.0) -> None:
    """Wait until `check()` holds (the consumer runs in the background)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="session")
async def nats_url() -> str:
    """The local NATS server with JetStream; a clear failure when it is not there."""
    try:
        nc = await nats.connect(
            NATS_URL, connect_timeout=3, allow_reconnect=False, max_reconnect_attempts=0
        )
    except Exception as exc:
        pytest.fail(
            f"NATS is not reachable at {NATS_URL} ({type(exc).__name__}: {exc}). These tests need"
            " a NATS server with JetStream: start-stop-daemon --start --oknodo --background"
            " --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd"
            " /var/lib/nats-server (or set TEST_NATS_URL)."
        )
    try:
        await nc.jetstream().account_info()
    except Exception as exc:
        pytest.fail(f"NATS at {NATS_URL} answers but JetStream is not enabled (-js): {exc}")
    finally:
        await nc.close()
    return NATS_URL


@pytest.fixture
async def nats_settings(settings: Settings, nats_url: str) -> AsyncIterator[Settings]:
    """Settings with NATS on, and a stream, subject prefix and durable of this test alone;
    the stream (and so its consumers) is deleted afterwards."""
    tag = uuid.uuid4().hex[:10]
    configured = settings.model_copy(
        update={
            "nats_url": nats_url,
            "nats_appraisal_stream": f"NTM_TEST_{tag}",
            "nats_appraisal_subject_prefix": f"ntmtest.{tag}.appraisal",
            "nats_criteria_titles_durable": f"criteria-titles-{tag}",
            "nats_nak_delay_s": 0.2,
        }
    )
    yield configured
    nc = await nats.connect(nats_url)
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(configured.nats_appraisal_stream)
    finally:
        await nc.close()


@pytest.fixture
async def jetstream(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc: Client = await nats.connect(nats_url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


def stream_of(s: Settings) -> StreamSpec:
    return StreamSpec(s.nats_appraisal_stream, s.nats_appraisal_subject_prefix)


@pytest.fixture
async def consuming_criteria(
    nats_settings: Settings, db: Database
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The criteria app run through its own lifespan (which starts the consumer)."""
    app = create_criteria_app(nats_settings, db)
    async with app.router.lifespan_context(app):
        consumer = app.state.title_consumer
        assert isinstance(consumer, PullConsumer)
        await consumer.wait_subscribed()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://criteria", headers=DEFAULT_HEADERS
        ) as client:
            yield app, client


async def titles_of(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/units/{COMMUNE}/titles", params={"as_of": AS_OF})
    assert response.status_code == 200, response.text
    out: list[dict[str, Any]] = response.json()
    return out


async def inbox_count(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM criteria.inbox"))).scalar_one())


async def publish_raw(s: Settings, data: bytes, msg_id: str, event_type: str) -> None:
    publisher = JetStreamPublisher(s.nats_url or "", stream_of(s))
    try:
        await publisher.publish(event_type, data, msg_id)
    finally:
        await publisher.aclose()


class TestTitleConsumer:
    async def test_an_outbox_row_relayed_through_jetstream_becomes_a_criteria_title(
        self,
        nats_settings: Settings,
        db: Database,
        appraisal_app: FastAPI,
        consuming_criteria: tuple[FastAPI, httpx.AsyncClient],
    ) -> None:
        app, criteria = consuming_criteria
        event = title_event()
        async for session in db.session_scope():
            await OutboxRepository(session).add(uuid.UUID(event["event_id"]), event["type"], event)
        relay = attach_relay(appraisal_app, nats_settings)
        assert isinstance(relay.publisher, NatsPublisher)
        try:
            assert await relay.run_once() == 1
        finally:
            await relay.publisher.aclose()

        async def arrived() -> bool:
            return len(await titles_of(criteria)) == 1

        await eventually(arrived)
        [title] = await titles_of(criteria)
        assert (title["title"], title["decision_number"]) == ("xa-ntm", "123/QĐ-UBND")
        consumer: PullConsumer = app.state.title_consumer

        async def acked() -> bool:
            return consumer.stats.acked == 1

        await eventually(acked)

    async def test_the_same_message_delivered_twice_has_no_second_effect(
        self,
        nats_settings: Settings,
        db: Database,
        jetstream: JetStreamContext,
        consuming_criteria: tuple[FastAPI, httpx.AsyncClient],
    ) -> None:
        app, criteria = consuming_criteria
        event = title_event()
        data = json.dumps(event).encode()
        # two distinct message ids, so the server's own de-duplication lets both through
        await publish_raw(nats_settings, data, "first", "recognition.granted")
        await publish_raw(nats_settings, data, "second", "recognition.granted")
        consumer: PullConsumer = app.state.title_consumer

        async def both_acked() -> bool:
            return consumer.stats.acked == 2

        await eventually(both_acked)
        assert len(await titles_of(criteria)) == 1
        assert await inbox_count(db) == 1
        info = await jetstream.consumer_info(
            nats_settings.nats_appraisal_stream, nats_settings.nats_criteria_titles_durable
        )
        assert info.num_ack_pending == 0
        assert info.num_redelivered == 0

    async def test_a_republished_event_id_is_dropped_by_the_server(
        self,
        nats_settings: Settings,
        jetstream: JetStreamContext,
        consuming_criteria: tuple[FastAPI, httpx.AsyncClient],
    ) -> None:
        _, criteria = consuming_criteria
        event = title_event()
        data = json.dumps(event).encode()
        for _ in range(2):
            await publish_raw(nats_settings, data, event["event_id"], "recognition.granted")
        info = await jetstream.stream_info(nats_settings.nats_appraisal_stream)
        assert info.state.messages == 1

        async def arrived() -> bool:
            return len(await titles_of(criteria)) == 1

        await eventually(arrived)

    async def test_a_malformed_message_is_terminated_and_the_next_one_applied(
        self,
        nats_settings: Settings,
        db: Database,
        jetstream: JetStreamContext,
        consuming_criteria: tuple[FastAPI, httpx.AsyncClient],
    ) -> None:
        app, criteria = consuming_criteria
        consumer: PullConsumer = app.state.title_consumer
        await publish_raw(nats_settings, b"not json", "bad-1", "recognition.granted")
        wrong = json.dumps(title_event(unit="99999")).encode()  # no such unit: never applies
        await publish_raw(nats_settings, wrong, "bad-2", "recognition.granted")
        good = json.dumps(title_event()).encode()
        await publish_raw(nats_settings, good, "good", "recognition.granted")

        async def settled() -> bool:
            return consumer.stats.terminated == 2 and consumer.stats.acked == 1

        await eventually(settled)
        assert len(await titles_of(criteria)) == 1
        assert await inbox_count(db) == 1
        info = await jetstream.consumer_info(
            nats_settings.nats_appraisal_stream, nats_settings.nats_criteria_titles_durable
        )
        assert info.num_ack_pending == 0
        assert info.num_redelivered == 0  # terminated, not redelivered

    async def test_a_revocation_before_its_grant_is_redelivered_until_it_applies(
        self,
        nats_settings: Settings,
        db: Database,
        consuming_criteria: tuple[FastAPI, httpx.AsyncClient],
    ) -> None:
        app, criteria = consuming_criteria
        consumer: PullConsumer = app.state.title_consumer
        revoke = title_event(
            type="recognition.revoked",
            decision={"number": "9/QĐ-UBND", "date": "2024-06-01", "effective_on": "2024-06-01"},
        )
        await publish_raw(
            nats_settings, json.dumps(revoke).encode(), revoke["event_id"], "recognition.revoked"
        )

        async def refused() -> bool:
            return consumer.stats.nacked >= 1

        await eventually(refused)
        grant = title_event()
        await publish_raw(
            nats_settings, json.dumps(grant).encode(), grant["event_id"], "recognition.granted"
        )

        async def both_applied() -> bool:
            return consumer.stats.acked == 2

        await eventually(both_applied)
        [title] = await titles_of(criteria)
        assert title["revoked_on"] == "2024-06-01"
        assert await inbox_count(db) == 2


class TestPullConsumer:
    async def test_a_failed_handler_is_nacked_and_the_message_redelivered_after_a_delay(
        self, nats_settings: Settings
    ) -> None:
        seen: list[int] = []

        async def flaky(delivery: Delivery) -> None:
            seen.append(delivery.num_delivered)
            if delivery.num_delivered == 1:
                raise ConnectionError("database away")

        stream = stream_of(nats_settings)
        consumer = PullConsumer(
            nats_settings.nats_url or "",
            stream,
            durable=f"flaky-{uuid.uuid4().hex[:8]}",
            filter_subject=stream.subject(">"),
            handler=flaky,
            nak_delay_s=0.3,
        )
        consumer.start()
        try:
            await consumer.wait_subscribed()
            await publish_raw(nats_settings, b"{}", "m1", "anything")

            async def acked() -> bool:
                return consumer.stats.acked == 1

            await eventually(acked)
            assert seen == [1, 2]
            assert consumer.stats.nacked == 1
        finally:
            await consumer.stop()


class TestEmbedded:
    async def test_the_embedded_process_with_nats_relays_and_consumes_through_jetstream(
        self, nats_settings: Settings, database_url: str, db: Database
    ) -> None:
        app = create_embedded_app(nats_settings, database_url)
        async with app.router.lifespan_context(app):
            mounted = {
                getattr(r, "path", ""): getattr(r, "app", None)
                for r in app.routes
                if getattr(r, "path", "") in ("/appraisal", "/criteria")
            }
            appraisal, criteria = mounted["/appraisal"], mounted["/criteria"]
            assert isinstance(appraisal, FastAPI)
            assert isinstance(criteria, FastAPI)
            assert isinstance(appraisal.state.relay.publisher, NatsPublisher)
            consumer = criteria.state.title_consumer
            assert isinstance(consumer, PullConsumer)
            await consumer.wait_subscribed()
            event = title_event()
            async for session in db.session_scope():
                await OutboxRepository(session).add(
                    uuid.UUID(event["event_id"]), event["type"], event
                )
            appraisal.state.relay.nudge()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://ntm", headers=DEFAULT_HEADERS
            ) as client:

                async def arrived() -> bool:
                    response = await client.get(
                        f"/criteria/v1/units/{COMMUNE}/titles", params={"as_of": AS_OF}
                    )
                    return len(response.json()) == 1

                await eventually(arrived)
        assert criteria.state.title_consumer is None  # stopped with the process
