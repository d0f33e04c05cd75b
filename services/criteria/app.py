"""The criteria service: administrative units (and, later, criteria sets and evaluations)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.criteria import api, api_imports, api_reports, api_titles, policy
from services.criteria.events import start_title_consumer, stop_title_consumer
from shared.db import Database, MigrationTree
from shared.service import build_service_app
from shared.settings import Settings

TREE = MigrationTree(schema="criteria", directory=Path(__file__).parent / "migrations")


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    return build_service_app(
        title="ntm — criteria",
        description="Đơn vị hành chính, bộ tiêu chí, đánh giá. Administrative units, criteria "
        "sets, evaluations. Errors are application/problem+json with Vietnamese and English "
        "messages.",
        settings=settings,
        trees=[TREE],
        routers=[
            api.router,
            api.sets_router,
            api.values_router,
            api_titles.router,
            api_reports.router,
            api_imports.router,
        ],
        policy=policy.POLICY,
        db=db,
        # appraisal's title events from JetStream, when NATS_URL is set
        on_startup=[start_title_consumer],
        on_shutdown=[stop_title_consumer],
    )


async def load_reference(db: Database) -> None:
    """Load the national reference data this service owns (idempotent, skipped when current)."""
    from services.criteria.service import load_catalog_data, load_reference_data

    async for session in db.session_scope():
        await load_reference_data(session)
    async for session in db.session_scope():
        await load_catalog_data(session)
