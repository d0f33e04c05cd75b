"""Async engine, the per-request session (the single commit point), migrations and readiness."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import Depends, Request
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import SQLModel

log = logging.getLogger("ntm.db")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


class Database:
    """An engine and its session factory. Services only flush; the request dependency commits."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Database:
        """Create the engine; `url` must use the asyncpg driver."""
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            connect_args={"server_settings": {"application_name": "ntm"}},
        )
        return cls(engine)

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def session_scope(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block ends without error and rolls back otherwise."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


def database_of(request: Request) -> Database:
    db = getattr(request.app.state, "db", None)
    if db is None:  # pragma: no cover - a wiring error, not user input
        raise RuntimeError("app.state.db is not set")
    assert isinstance(db, Database)
    return db


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in database_of(request).session_scope():
        yield session


# The one commit point of a request: committed after the endpoint returns, before the response.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


async def raw_connection(session: AsyncSession) -> Any:
    """The asyncpg connection behind a session, in the session's transaction (for COPY)."""
    conn = await session.connection()
    # SQLAlchemy's asyncpg adapter opens the database transaction lazily, on its first
    # statement; without one, raw statements would run in autocommit (and an ON COMMIT DROP
    # staging table would vanish at once).
    await conn.exec_driver_sql("SELECT 1")
    raw = await conn.get_raw_connection()
    return raw.driver_connection


# --- migrations ---------------------------------------------------------------------------


def sql_statements(script: str) -> list[str]:
    """Split a migration's SQL script into single statements (a prepared statement takes one
    command). A statement ends at a semicolon followed by a line that starts a new top-level
    command, so semicolons inside function bodies (indented) stay where they are."""
    parts = re.split(r";\n\s*(?=CREATE |DROP |ALTER |COMMENT |-- )", script.strip())
    return [p.strip().rstrip(";") for p in parts if p.strip()]


@dataclass(frozen=True)
class MigrationTree:
    """One service's Alembic tree and the schema it owns."""

    schema: str
    directory: Path

    def config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(self.directory))
        cfg.set_main_option("version_table_schema", self.schema)
        cfg.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(slug)s")
        return cfg

    def heads(self) -> set[str]:
        return set(ScriptDirectory.from_config(self.config()).get_heads())


def _upgrade_sync(conn: Connection, tree: MigrationTree) -> None:
    cfg = tree.config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "heads")  # every branch, should two features land side by side


async def upgrade(engine: AsyncEngine, tree: MigrationTree) -> None:
    """Run a tree to head; an advisory lock keeps concurrent replicas from racing."""
    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"ntm-migrate-{tree.schema}"}
        )
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{tree.schema}"'))
        await conn.run_sync(_upgrade_sync, tree)
    log.info("migrations at head", extra={"schema": tree.schema})


def _current_sync(conn: Connection, schema: str) -> set[str]:
    ctx = MigrationContext.configure(conn, opts={"version_table_schema": schema})
    return set(ctx.get_current_heads())


async def current_revisions(conn: AsyncConnection, schema: str) -> set[str]:
    return await conn.run_sync(_current_sync, schema)


async def check_ready(db: Database, trees: list[MigrationTree]) -> dict[str, str]:
    """Empty when ready; otherwise what is wrong, per check (`database`, a schema name)."""
    problems: dict[str, str] = {}
    try:
        async with asyncio.timeout(5), db.engine.connect() as conn:
            for tree in trees:
                current = await current_revisions(conn, tree.schema)
                heads = tree.heads()
                if current != heads:
                    problems[tree.schema] = f"at {sorted(current)}, head is {sorted(heads)}"
    except Exception as exc:  # readiness reports any failure to reach the database
        problems["database"] = f"{type(exc).__name__}: {exc}"
    return problems
