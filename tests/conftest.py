"""Test harness: a real PostgreSQL (embedded, or TEST_DATABASE_URL), migrated by the real
migrations and loaded with the real national data once per session.

Isolation: reference data is shared and read-only for tests; everything a test writes is
removed after it by `reset_mutable_data` (tests run the real apps concurrently, so an outer
rolled-back transaction on one connection would not do).

Auth: the apps verify tokens with a local signing key in a temporary folder of this run;
`auth_headers(role=…, unit=…)` mints one. The `criteria`, `funding` and `appraisal` clients
send a central officer's token unless a request names its own."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from services.appraisal.app import create_app as create_appraisal_app
from services.criteria.app import create_app as create_criteria_app
from services.funding.app import create_app as create_funding_app
from services.runtime import prepare_database
from shared.auth import mint_local_token
from shared.db import Database
from shared.embedded import EmbeddedPostgres
from shared.settings import Settings, to_asyncpg_url

ROOT = Path(__file__).resolve().parent.parent
# the run's local signing key (created on first use); module level so that test modules can
# mint their header constants at import time
AUTH_KEY_DIR = Path(tempfile.mkdtemp(prefix="ntm-test-auth-"))
atexit.register(shutil.rmtree, AUTH_KEY_DIR, True)
AUTH_SETTINGS = Settings(auth_key_dir=AUTH_KEY_DIR, env="test")
TEST_TOKEN_TTL_S = 24 * 3600  # minted at import, used for the whole run


def auth_headers(
    role: str = "central_officer",
    unit: str | None = None,
    *,
    scopes: Iterable[str] = (),
    sectors: Iterable[str] = (),
    subject: str | None = None,
) -> dict[str, str]:
    """`Authorization: Bearer …` for `role` bound to `unit` (None: the whole country)."""
    token = mint_local_token(
        AUTH_SETTINGS,
        role=role,
        unit=unit,
        ttl_s=TEST_TOKEN_TTL_S,
        scopes=scopes,
        sectors=sectors,
        subject=subject,
    )
    return {"Authorization": f"Bearer {token}"}


DEFAULT_HEADERS = auth_headers(subject="test-central")

# Property tests judge correctness, not speed: on a cold 2-core CI machine the first draws of
# a strategy can be slow, which is no failure of the code under test.
hypothesis_settings.register_profile(
    "ntm", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("ntm")

# Rows tests may create; reference rows (national units, lineage) are never touched.
RESET_STATEMENTS = [
    # append-only tables refuse DELETE; TRUNCATE is the test harness's privilege
    "TRUNCATE criteria.indicator_values, criteria.unit_profiles, criteria.recognised_titles,"
    " criteria.targets, criteria.import_jobs,"
    " criteria.inbox",
    # province variants are made by tests; the shipped national sets stay
    "DELETE FROM criteria.criteria_indicators WHERE set_code LIKE '%@%'",
    "DELETE FROM criteria.criteria_sets WHERE extends IS NOT NULL",
    "DELETE FROM criteria.unit_lineage WHERE predecessor_id IN"
    " (SELECT id FROM criteria.units WHERE source = 'local')"
    " OR successor_id IN (SELECT id FROM criteria.units WHERE source = 'local')",
    "DELETE FROM criteria.units WHERE source = 'local'",
    "TRUNCATE funding.transfers, funding.monthly, funding.accounts, funding.work_obligations,"
    " funding.works, funding.import_jobs CASCADE",
    "DELETE FROM funding.valuation_rates WHERE recorded_by IS DISTINCT FROM 'catalog'",
    "TRUNCATE appraisal.outbox, appraisal.decisions, appraisal.comments,"
    " appraisal.audit_entries, appraisal.dossiers, appraisal.idempotency_keys CASCADE",
]


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database for this run: on TEST_DATABASE_URL's server, or an embedded one."""
    name = f"ntm_test_{uuid.uuid4().hex[:8]}"
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        admin = external.replace("postgresql+asyncpg://", "postgresql://")
        import asyncio

        async def run(sql: str) -> None:
            conn = await asyncpg.connect(admin)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run(f'CREATE DATABASE "{name}"'))
        base = to_asyncpg_url(external)
        head, _, tail = base.rpartition("/")
        query = "?" + tail.split("?", 1)[1] if "?" in tail else ""
        try:
            yield f"{head}/{name}{query}"
        finally:
            asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    server = EmbeddedPostgres.start(ROOT / ".ntm-test")
    server.ensure_database(name)
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)
        server.stop()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, log_json=False, env="test", auth_key_dir=AUTH_KEY_DIR
    )


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(database_url, pool_size=5, max_overflow=10)
    await prepare_database(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(autouse=True)
async def _reset(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "db" in request.fixturenames:
        database: Database = request.getfixturevalue("db")
        async with database.engine.begin() as conn:
            for statement in RESET_STATEMENTS:
                await conn.execute(text(statement))


@pytest.fixture
def criteria_app(settings: Settings, db: Database) -> FastAPI:
    return create_criteria_app(settings, db)


@pytest.fixture
async def criteria(criteria_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """REST client of the criteria service, through its ASGI app (a central officer's token)."""
    transport = httpx.ASGITransport(app=criteria_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://criteria", headers=DEFAULT_HEADERS
    ) as client:
        yield client


@pytest.fixture
def funding_app(settings: Settings, db: Database) -> FastAPI:
    return create_funding_app(settings, db)


@pytest.fixture
async def funding(funding_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """REST client of the funding service, through its ASGI app (a central officer's token)."""
    transport = httpx.ASGITransport(app=funding_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://funding", headers=DEFAULT_HEADERS
    ) as client:
        yield client


@pytest.fixture
def appraisal_app(
    settings: Settings,
    db: Database,
    criteria_app: FastAPI,
    funding_app: FastAPI,
    tmp_path_factory: pytest.TempPathFactory,
) -> FastAPI:
    """The appraisal app reaching the real criteria and funding apps in-process; its signing
    key lives in a temporary folder."""
    key_file = tmp_path_factory.mktemp("appraisal-key") / "signing-key.pem"
    app = create_appraisal_app(settings, db, signing_key_file=key_file)
    app.state.transports = {
        "criteria": httpx.ASGITransport(app=criteria_app),
        "funding": httpx.ASGITransport(app=funding_app),
    }
    return app


@pytest.fixture
async def appraisal(appraisal_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """REST client of the appraisal service, through its ASGI app (a central officer's
    token)."""
    transport = httpx.ASGITransport(app=appraisal_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://appraisal", headers=DEFAULT_HEADERS
    ) as client:
        yield client
