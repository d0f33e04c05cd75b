"""Events between services over NATS JetStream: connecting, the stream, publishing with the
server's acknowledgement, and a durable pull consumer.

Delivery is at least once on both sides. A publisher returns only once JetStream has stored
the message (the `PubAck`), so an outbox row is marked published after that and never before;
`Nats-Msg-Id` lets the server drop a re-publication within its duplicate window. A consumer
acknowledges a message only after its handler returned, i.e. after the handler's transaction
committed; a handler raising `MalformedEvent` gets the message terminated (never redelivered),
any other exception a negative acknowledgement with a delay (redelivered later). Consumers keep
an inbox of applied event ids, so a redelivery has no second effect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger("ntm.events")


class MalformedEvent(Exception):
    """The message can never be applied (not JSON, not the schema, names nothing known):
    the consumer logs and terminates it instead of redelivering it forever."""


async def connect(url: str, *, name: str, reconnect: bool = True) -> Client:
    """A client connection; a long-lived consumer keeps reconnecting, a publisher gives up
    after a few attempts so the outbox row stays pending and is retried by the relay."""
    return await nats.connect(
        url,
        name=name,
        connect_timeout=5,
        allow_reconnect=True,
        max_reconnect_attempts=-1 if reconnect else 3,
    )


async def ensure_stream(js: JetStreamContext, name: str, subjects: Sequence[str]) -> None:
    """Create the stream if it does not exist; an existing one is left as the operator set it."""
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=name, subjects=list(subjects)))
        log.info("jetstream stream created", extra={"stream": name, "subjects": list(subjects)})


@dataclass(frozen=True)
class StreamSpec:
    """A stream and the subjects it stores (`<prefix>.>`)."""

    name: str
    subject_prefix: str

    @property
    def subjects(self) -> list[str]:
        return [f"{self.subject_prefix}.>"]

    def subject(self, event_type: str) -> str:
        return f"{self.subject_prefix}.{event_type}"


class JetStreamPublisher:
    """Publishes to one stream and waits for JetStream's acknowledgement (raises otherwise:
    no stream for the subject, timeout, connection lost)."""

    def __init__(
        self, url: str, stream: StreamSpec, *, create_stream: bool = True, timeout_s: float = 5.0
    ) -> None:
        self.url = url
        self.stream = stream
        self.create_stream = create_stream
        self.timeout_s = timeout_s
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    async def _context(self) -> JetStreamContext:
        if self._js is None or self._nc is None or self._nc.is_closed:
            self._nc = await connect(self.url, name="ntm-publisher", reconnect=False)
            self._js = self._nc.jetstream()
            if self.create_stream:
                await ensure_stream(self._js, self.stream.name, self.stream.subjects)
        return self._js

    async def publish(self, event_type: str, data: bytes, msg_id: str) -> int:
        """Store one message; its sequence number in the stream once JetStream acknowledged."""
        js = await self._context()
        ack = await js.publish(
            self.stream.subject(event_type),
            data,
            timeout=self.timeout_s,
            stream=self.stream.name,
            headers={"Nats-Msg-Id": msg_id},
        )
        return int(ack.seq)

    async def aclose(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
        self._nc = self._js = None


@dataclass(frozen=True)
class Delivery:
    """One message as a handler sees it."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    num_delivered: int


Handler = Callable[[Delivery], Awaitable[object]]


@dataclass
class ConsumerStats:
    acked: int = 0
    terminated: int = 0
    nacked: int = 0
    errors: list[str] = field(default_factory=list)


class PullConsumer:
    """A durable JetStream pull consumer running `handler` on each message in a task.

    Connection failures are retried with a growing pause; the consumer's position is kept by
    the server under `durable`, so a restarted process resumes where it stopped."""

    def __init__(
        self,
        url: str,
        stream: StreamSpec,
        *,
        durable: str,
        filter_subject: str,
        handler: Handler,
        nak_delay_s: float = 5.0,
        ack_wait_s: float = 30.0,
        batch: int = 20,
        fetch_timeout_s: float = 1.0,
        name: str = "ntm-consumer",
    ) -> None:
        self.url = url
        self.stream = stream
        self.durable = durable
        self.filter_subject = filter_subject
        self.handler = handler
        self.nak_delay_s = nak_delay_s
        self.ack_wait_s = ack_wait_s
        self.batch = batch
        self.fetch_timeout_s = fetch_timeout_s
        self.name = name
        self.stats = ConsumerStats()
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._nc: Client | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self.name}:{self.durable}")

    async def wait_subscribed(self, timeout_s: float = 10.0) -> None:
        await asyncio.wait_for(self.subscribed.wait(), timeout_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def _close(self) -> None:
        self.subscribed.clear()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None

    async def _run(self) -> None:
        pause = 0.5
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect on anything: the consumer must outlive NATS
                log.warning(
                    "jetstream consumer lost its connection; retrying",
                    extra={"durable": self.durable, "error": f"{type(exc).__name__}: {exc}"},
                )
                await self._close()
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)

    async def _consume(self) -> None:
        self._nc = await connect(self.url, name=self.name)
        js = self._nc.jetstream()
        await ensure_stream(js, self.stream.name, self.stream.subjects)
        sub = await js.pull_subscribe(
            self.filter_subject,
            durable=self.durable,
            stream=self.stream.name,
            config=ConsumerConfig(
                durable_name=self.durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self.ack_wait_s,
                filter_subject=self.filter_subject,
            ),
        )
        self.subscribed.set()
        log.info("jetstream consumer subscribed", extra={"durable": self.durable})
        while True:
            try:
                messages = await sub.fetch(self.batch, timeout=self.fetch_timeout_s)
            except TimeoutError:  # nothing waiting (nats.errors.TimeoutError is one)
                continue
            for msg in messages:
                await self._dispatch(msg)

    async def _dispatch(self, msg: Msg) -> None:
        delivery = Delivery(
            subject=msg.subject,
            data=msg.data,
            headers=dict(msg.headers or {}),
            num_delivered=int(msg.metadata.num_delivered or 1),
        )
        try:
            await self.handler(delivery)
        except MalformedEvent as exc:
            log.error(
                "event rejected as malformed; terminated",
                extra={"subject": msg.subject, "error": str(exc), "data": msg.data[:500]},
            )
            self.stats.terminated += 1
            self.stats.errors.append(str(exc))
            await msg.term()
            return
        except Exception as exc:  # transient (database, a conflict that may resolve): retry
            log.warning(
                "event handling failed; redelivery after a delay",
                extra={"subject": msg.subject, "error": f"{type(exc).__name__}: {exc}",
                       "delivered": delivery.num_delivered},
            )  # fmt: skip
            self.stats.nacked += 1
            self.stats.errors.append(f"{type(exc).__name__}: {exc}")
            await msg.nak(delay=self.nak_delay_s)
            return
        await msg.ack()
        self.stats.acked += 1
