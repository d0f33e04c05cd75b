"""The embedded process wires appraisal to criteria in-process and runs its outbox relay."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from services.appraisal.outbox import HttpPublisher, OutboxRelay
from services.runtime import create_embedded_app
from shared.db import Database
from shared.settings import Settings
from tests.conftest import auth_headers


async def test_appraisal_reaches_criteria_and_relays_in_the_embedded_process(
    settings: Settings, database_url: str, db: Database
) -> None:
    app = create_embedded_app(settings, database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ntm") as client:
            response = await client.post(
                "/appraisal/v1/dossiers",
                json={"unit": "15592", "title": "xa-ntm", "year": 2023},
                headers=auth_headers("commune_officer", "15592"),
            )
            assert response.status_code == 201, response.text
            assert response.json()["unit"]["province_code"] == "38"
        mounted = [
            getattr(r, "app", None) for r in app.routes if getattr(r, "path", "") == "/appraisal"
        ]
        appraisal = mounted[0]
        assert isinstance(appraisal, FastAPI)
        relay = appraisal.state.relay
        assert isinstance(relay, OutboxRelay)
        assert isinstance(relay.publisher, HttpPublisher)
        assert relay._task is not None
        assert not relay._task.done()
