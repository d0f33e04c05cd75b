"""The body of every service's Alembic `env.py`: one schema, one version table, async engine."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import Settings


def run(schema: str, metadata: MetaData) -> None:
    """Run migrations for `schema` on the connection the caller passed, or on DATABASE_URL."""
    config = context.config

    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        if type_ == "schema":
            return name == schema
        return True

    def include_object(obj: Any, name: str | None, type_: str, *_: object) -> bool:
        # the metadata holds every service's tables; this tree owns only its schema's
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or table.schema == schema

    def configure_and_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=include_name,
            include_object=include_object,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    connection = config.attributes.get("connection")
    if connection is not None:
        configure_and_run(connection)
        return

    url = Settings().async_database_url
    if url is None:
        raise SystemExit(
            "DATABASE_URL is not set; use `ntm migrate`, which can start the embedded server"
        )

    async def online() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.run_sync(configure_and_run)
        await engine.dispose()

    asyncio.run(online())
