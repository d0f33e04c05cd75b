"""The appraisal service app."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.appraisal import api, policy
from services.appraisal.outbox import OutboxRelay, build_relay
from services.appraisal.signing import SigningKey, key_path, load_or_create
from services.appraisal.upstream import Upstreams
from shared.db import Database, MigrationTree
from shared.service import build_service_app
from shared.settings import Settings

TREE = MigrationTree(schema="appraisal", directory=Path(__file__).parent / "migrations")


def create_app(
    settings: Settings, db: Database | None = None, *, signing_key_file: Path | None = None
) -> FastAPI:
    """The app. `app.state.transports` (set by the embedded process or a test) lets it reach
    criteria and funding in-process; `app.state.relay` publishes the outbox. Run on its own,
    its lifespan starts the relay; in the embedded process the runtime does."""
    app = build_service_app(
        title="ntm — appraisal",
        description=(
            "Thẩm định, công nhận, thu hồi: hồ sơ, quy trình, quyết định."
            " Appraisal and recognition workflow."
        ),
        settings=settings,
        trees=[TREE],
        routers=[api.router],
        policy=policy.POLICY,
        db=db,
        # an evidence file is its own limit (NTM_EVIDENCE_MAX_BYTES), with the form around it
        body_limits={
            "POST /v1/dossiers/{dossier_id}/evidence": settings.evidence_max_bytes
            + api.MULTIPART_OVERHEAD
        },
    )
    path = signing_key_file or key_path(settings.data_dir)
    app.state.signing_key_loader = functools.cache(lambda: load_or_create(path))
    app.state.transports = {}
    app.state.upstreams = None
    app.state.relay = None

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[Any]:
        async with inner(a) as state:
            relay = attach_relay(a, settings)
            relay.start()
            try:
                yield state
            finally:
                await relay.stop()
                await upstreams(a).aclose()

    app.router.lifespan_context = lifespan
    return app


def upstreams(app: FastAPI) -> Upstreams:
    if app.state.upstreams is None:
        app.state.upstreams = Upstreams(app.state.settings, app.state.transports)
    ups = app.state.upstreams
    assert isinstance(ups, Upstreams)
    return ups


def attach_relay(app: FastAPI, settings: Settings) -> OutboxRelay:
    """Create the app's outbox relay (HTTP to criteria, or JetStream when NATS_URL is set)."""
    relay = build_relay(lambda: app.state.db, upstreams(app), settings)
    app.state.relay = relay
    return relay


def signing_key(app: FastAPI) -> SigningKey:
    key = app.state.signing_key_loader()
    assert isinstance(key, SigningKey)
    return key
