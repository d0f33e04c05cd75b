"""Migrations, readiness and the session's commit point, on the real database."""

from __future__ import annotations

from typing import Any

import httpx
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, FastAPI
from sqlalchemy import Connection, text
from sqlmodel import SQLModel

from services.registry import SERVICES
from shared.authz import PUBLIC, Policy
from shared.db import Database, SessionDep, check_ready
from shared.errors import InvalidInput
from shared.service import build_service_app
from shared.settings import Settings


def _diff(conn: Connection, schema: str) -> list[Any]:
    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        return name == schema if type_ == "schema" else True

    def include_object(obj: Any, name: str | None, type_: str, *_: object) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.schema == schema

    context = MigrationContext.configure(
        conn,
        opts={
            "include_schemas": True,
            "include_name": include_name,
            "include_object": include_object,
            "version_table_schema": schema,
            "compare_type": True,
        },
    )
    return list(compare_metadata(context, SQLModel.metadata))


class TestMigrations:
    async def test_every_service_is_at_head(self, db: Database) -> None:
        assert await check_ready(db, [s.tree for s in SERVICES.values()]) == {}

    async def test_tables_match_the_models_so_autogenerate_finds_nothing(
        self, db: Database
    ) -> None:
        # Services that declare their tables as SQLModel models (criteria) must match their
        # migrations. Funding and appraisal define theirs in SQL migrations only (triggers,
        # posting functions, composite keys): their models.py names the vocabulary, and
        # autogenerate is not used for them.
        modelled = {t.schema for t in SQLModel.metadata.tables.values()}
        checked = []
        async with db.engine.connect() as conn:
            for spec in SERVICES.values():
                if spec.tree.schema not in modelled:
                    continue
                checked.append(spec.name)
                diff = await conn.run_sync(_diff, spec.tree.schema)
                assert diff == [], f"{spec.name}: models and migrations disagree: {diff}"
        assert "criteria" in checked

    async def test_readiness_names_a_schema_behind_head(self, db: Database) -> None:
        async with db.engine.begin() as conn:
            head = await conn.scalar(text("SELECT version_num FROM funding.alembic_version"))
            await conn.execute(text("UPDATE funding.alembic_version SET version_num = 'old'"))
        try:
            problems = await check_ready(db, [s.tree for s in SERVICES.values()])
            assert list(problems) == ["funding"]
        finally:
            # back to the head itself: a later test that migrates (the embedded app) must find
            # nothing to do
            async with db.engine.begin() as conn:
                await conn.execute(
                    text("UPDATE funding.alembic_version SET version_num = :v"), {"v": head}
                )


def _probe_app(settings: Settings, db: Database) -> FastAPI:
    """A tiny app that writes in a request and then fails, to observe the commit point."""
    router = APIRouter()

    @router.post("/write")
    async def write(session: SessionDep, fail: bool = False) -> dict[str, str]:
        await session.execute(text("INSERT INTO probe_commit (v) VALUES ('x')"))
        if fail:
            raise InvalidInput("Lỗi thử.", "Probe failure.", code="probe.failed")
        return {"status": "written"}

    return build_service_app(
        title="probe",
        description="",
        settings=settings,
        trees=[],
        routers=[router],
        policy=Policy({"POST /write": PUBLIC}),
        db=db,
    )


class TestSessionCommitPoint:
    async def test_a_request_that_fails_writes_nothing(
        self, settings: Settings, db: Database
    ) -> None:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE IF NOT EXISTS probe_commit (v text)"))
            await conn.execute(text("TRUNCATE probe_commit"))
        app = _probe_app(settings, db)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://probe"
            ) as client:
                failed = await client.post("/write", params={"fail": "true"})
                ok = await client.post("/write")
            assert failed.status_code == 422
            assert failed.json()["code"] == "probe.failed"
            assert ok.status_code == 200
            async with db.engine.connect() as conn:
                count = (await conn.execute(text("SELECT count(*) FROM probe_commit"))).scalar()
            assert count == 1
        finally:
            async with db.engine.begin() as conn:
                await conn.execute(text("DROP TABLE probe_commit"))

    async def test_readyz_answers_200_when_at_head(self, settings: Settings, db: Database) -> None:
        app = SERVICES["criteria"].create_app(settings, db)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://c"
        ) as client:
            ready = await client.get("/readyz")
            live = await client.get("/healthz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "schemas": ["criteria"]}
        assert live.json() == {"status": "ok"}
