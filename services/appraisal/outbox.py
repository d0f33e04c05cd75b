"""The outbox relay: publishes pending `appraisal.outbox` rows after their transaction commits.

Two publishers: in the embedded mode (and whenever no NATS URL is set) an HTTP POST to the
criteria service's `POST /v1/events/titles` (through its in-process transport, or
`settings.criteria_url`); with `NATS_URL` set, JetStream (stream `NTM_APPRAISAL`, subjects
`ntm.appraisal.<type>`, `Nats-Msg-Id` = event id so the server drops duplicates within its
window). Delivery is at least once: the consumer's inbox makes a redelivery harmless."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from services.appraisal.repository import OutboxRepository
from services.appraisal.upstream import Upstreams
from shared.auth import ServiceCredentials
from shared.db import Database
from shared.events import JetStreamPublisher, StreamSpec
from shared.settings import Settings

log = logging.getLogger("ntm.appraisal.outbox")

STREAM = "NTM_APPRAISAL"
SUBJECT_PREFIX = "ntm.appraisal"
TITLE_EVENTS_SCOPE = "events:titles"


class Publisher(Protocol):
    async def publish(self, event_type: str, payload: Mapping[str, Any]) -> None: ...

    async def aclose(self) -> None: ...


class PublishFailed(Exception):
    pass


class HttpPublisher:
    """Delivers title events straight to the criteria service (idempotent by event id), as
    the service itself: an integrator with scope `events:titles`, not whoever caused them."""

    def __init__(self, upstreams: Upstreams) -> None:
        self.upstreams = upstreams
        self.credentials = ServiceCredentials(upstreams.settings, scopes=[TITLE_EVENTS_SCOPE])

    async def publish(self, event_type: str, payload: Mapping[str, Any]) -> None:
        authorization = self.credentials.header()
        if authorization is None:
            raise PublishFailed("no credentials for criteria: set NTM_AUTH_SERVICE_TOKEN")
        response = await self.upstreams.client("criteria").post(
            "/v1/events/titles", json=dict(payload), headers={"Authorization": authorization}
        )
        if response.status_code >= 300:
            raise PublishFailed(f"criteria answered {response.status_code}: {response.text[:500]}")

    async def aclose(self) -> None:
        return None


class NatsPublisher:
    """Publishes to JetStream (shared.events): returns only once the server acknowledged the
    message, so the relay marks a row published after that and never before."""

    def __init__(
        self,
        url: str,
        *,
        stream: str = STREAM,
        subject_prefix: str = SUBJECT_PREFIX,
        create_stream: bool = True,
    ) -> None:
        self.url = url
        self.jetstream = JetStreamPublisher(
            url, StreamSpec(stream, subject_prefix), create_stream=create_stream
        )

    async def publish(self, event_type: str, payload: Mapping[str, Any]) -> None:
        await self.jetstream.publish(
            event_type,
            json.dumps(dict(payload), ensure_ascii=False).encode(),
            msg_id=str(payload["event_id"]),
        )

    async def aclose(self) -> None:
        await self.jetstream.aclose()


class OutboxRelay:
    """Publishes pending rows in id order; a failed row stays pending (attempts, last_error)."""

    def __init__(
        self,
        db_of: Callable[[], Database | None],
        publisher: Publisher,
        *,
        batch: int = 100,
        interval_s: float = 2.0,
    ) -> None:
        self.db_of = db_of
        self.publisher = publisher
        self.batch = batch
        self.interval_s = interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """Publish what is pending now; the number of rows published."""
        db = self.db_of()
        if db is None:
            return 0
        published = 0
        async for session in db.session_scope():
            repo = OutboxRepository(session)
            for row in await repo.claim_pending(self.batch):
                try:
                    await self.publisher.publish(row["type"], row["payload"])
                except Exception as exc:  # any failure leaves the row for the next round
                    log.warning("outbox publish failed", extra={"event_id": str(row["event_id"])})
                    await repo.mark_failed(row["id"], f"{type(exc).__name__}: {exc}")
                    break  # keep the order: later events wait for this one
                await repo.mark_published(row["id"])
                published += 1
        return published

    def nudge(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the relay must outlive a database hiccup
                log.exception("outbox relay round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="appraisal-outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.publisher.aclose()


def build_relay(
    db_of: Callable[[], Database | None], upstreams: Upstreams, settings: Settings
) -> OutboxRelay:
    publisher: Publisher
    if settings.nats_url:
        publisher = NatsPublisher(
            settings.nats_url,
            stream=settings.nats_appraisal_stream,
            subject_prefix=settings.nats_appraisal_subject_prefix,
        )
    else:
        publisher = HttpPublisher(upstreams)
    return OutboxRelay(db_of, publisher)


Runner = Callable[[], Awaitable[int]]
