"""The funding service app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.funding import api, api_imports, api_reports, api_works, policy
from shared.db import Database, MigrationTree
from shared.service import build_service_app
from shared.settings import Settings

TREE = MigrationTree(schema="funding", directory=Path(__file__).parent / "migrations")


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    return build_service_app(
        title="ntm — funding",
        description=(
            "Huy động nguồn lực: sổ cái vốn, hiện vật, công trình, nợ đọn"
            "g XDCB. Funding mobilisation ledger."
        ),
        settings=settings,
        trees=[TREE],
        routers=[api.router, api_imports.router, api_reports.router, api_works.router],
        policy=policy.POLICY,
        db=db,
    )


async def load_reference(db: Database) -> None:
    """Load the funding taxonomy and the national units (idempotent, skipped when current)."""
    from services.funding.service import load_reference_data

    async for session in db.session_scope():
        await load_reference_data(session)
