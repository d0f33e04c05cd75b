"""The criteria service's intake of appraisal's title events from NATS JetStream.

With `NATS_URL` set, a durable pull consumer (`settings.nats_criteria_titles_durable`) on
appraisal's stream applies each `recognition.granted` / `recognition.revoked` through the same
code path as `POST /v1/events/titles` (`titles.apply_title_event`), each in its own transaction,
idempotent by event id through `criteria.inbox`; the message is acknowledged after the commit.
A message that can never apply (not JSON, not a title event, a unit unknown on its date) is
logged and terminated; anything else (the database away, a revocation arriving before its
grant) is redelivered after `settings.nats_nak_delay_s`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI
from pydantic import ValidationError

from services.criteria import titles
from services.criteria.schemas.titles import TitleEvent, TitleEventResult
from shared.db import Database
from shared.errors import ProblemError
from shared.events import Delivery, MalformedEvent, PullConsumer, StreamSpec
from shared.settings import Settings

log = logging.getLogger("ntm.criteria.events")

# A conflict (revoking a title not held) may resolve once an earlier event is applied; after
# this many deliveries it is taken as permanent.
MAX_CONFLICT_DELIVERIES = 20


async def apply_delivery(db: Database, delivery: Delivery) -> TitleEventResult:
    """Apply one delivered title event in its own transaction (committed on return)."""
    try:
        event = TitleEvent.model_validate_json(delivery.data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(body)" for e in exc.errors())
        raise MalformedEvent(f"not a title event ({fields})") from exc
    result: TitleEventResult | None = None
    try:
        async for session in db.session_scope():
            result = await titles.apply_title_event(session, event)
    except ProblemError as exc:
        # a 409 may clear once an earlier event lands; any other refusal never will
        if exc.status != 409 or delivery.num_delivered >= MAX_CONFLICT_DELIVERIES:
            raise MalformedEvent(
                f"event {event.event_id} refused (delivery {delivery.num_delivered}):"
                f" {exc.message_en}"
            ) from exc
        raise
    assert result is not None
    log.info(
        "title event applied" if result.applied else "title event already applied",
        extra={"event_id": str(event.event_id), "type": event.type},
    )
    return result


def title_consumer(settings: Settings, db_of: Callable[[], Database | None]) -> PullConsumer:
    """The consumer for these settings (NATS_URL must be set)."""
    assert settings.nats_url is not None
    stream = StreamSpec(settings.nats_appraisal_stream, settings.nats_appraisal_subject_prefix)

    async def handle(delivery: Delivery) -> TitleEventResult:
        db = db_of()
        if db is None:
            raise RuntimeError("the database is not connected yet")
        return await apply_delivery(db, delivery)

    return PullConsumer(
        settings.nats_url,
        stream,
        durable=settings.nats_criteria_titles_durable,
        filter_subject=stream.subject("recognition.*"),
        handler=handle,
        nak_delay_s=settings.nats_nak_delay_s,
        name="ntm-criteria-titles",
    )


async def start_title_consumer(app: FastAPI) -> None:
    """Lifespan hook: start the consumer when NATS_URL is set (kept in app.state)."""
    settings: Settings = app.state.settings
    app.state.title_consumer = None
    if not settings.nats_url:
        return
    consumer = title_consumer(settings, lambda: app.state.db)
    consumer.start()
    app.state.title_consumer = consumer


async def stop_title_consumer(app: FastAPI) -> None:
    consumer = getattr(app.state, "title_consumer", None)
    if isinstance(consumer, PullConsumer):
        await consumer.stop()
    app.state.title_consumer = None
