"""The appraisal service app."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shared.db import Database, MigrationTree
from shared.service import build_service_app
from shared.settings import Settings

TREE = MigrationTree(schema="appraisal", directory=Path(__file__).parent / "migrations")


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    return build_service_app(
        title="ntm — appraisal",
        description=(
            "Thẩm định, công nhận, thu hồi: hồ sơ, quy trình, quyết định."
            " Appraisal and recognition workflow."
        ),
        settings=settings,
        trees=[TREE],
        routers=[],
        db=db,
    )
