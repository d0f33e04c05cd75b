"""Who may call which funding route (shared.authz): one rule per route.

Catalogs (sources, kinds, valuation rates) are public; reports and summaries are published
aggregates. The ledger (transfers, accounts, works, obligations, construction debt) is read
within one's scope; it is written by officers within their scope, or by an integrator with
the matching scope. A transfer's or a work's unit is read from the ledger."""

from __future__ import annotations

import uuid

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.funding import imports
from services.funding.repository import LedgerRepository
from services.funding.repository.works import WorksRepository
from shared.authz import (
    AGGREGATE,
    OFFICERS,
    PUBLIC,
    Policy,
    body,
    looked_up,
    path,
    query,
    read,
    write,
)
from shared.jobs import import_rules

WRITE_SCOPE = "write:transfers"
IMPORT_SCOPE = "import:transfers"
READ_SCOPE = "read:transfers"
PROVINCIAL = frozenset({"province_officer", "central_officer"})


def _work_id(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 2**62:
        raise ValueError(raw)
    return value


async def _transfer(session: AsyncSession, transfer_id: uuid.UUID) -> RowMapping | None:
    return await LedgerRepository(session).transfer(transfer_id)


async def _by_external_id(session: AsyncSession, external_id: str) -> RowMapping | None:
    return await LedgerRepository(session).transfer_by_external_id(external_id)


async def _work(session: AsyncSession, work_id: int) -> RowMapping | None:
    return await WorksRepository(session).work(work_id)


TRANSFER = looked_up("transfer_id", uuid.UUID, _transfer)
WORK = looked_up("work_id", _work_id, _work)

POLICY = Policy(
    {
        "GET /v1/sources": PUBLIC,
        "GET /v1/in-kind-kinds": PUBLIC,
        "GET /v1/work-kinds": PUBLIC,
        "GET /v1/valuation-rates": PUBLIC,
        "PUT /v1/valuation-rates/{province}/{kind}": write(PROVINCIAL, path("province")),
        "POST /v1/transfers": write(OFFICERS, body("unit"), scope=WRITE_SCOPE),
        "GET /v1/transfers": read(query("unit", national_when_absent=True), scope=READ_SCOPE),
        "GET /v1/transfers/by-external-id/{external_id}": read(
            looked_up("external_id", str, _by_external_id), scope=READ_SCOPE
        ),
        "GET /v1/transfers/{transfer_id}": read(TRANSFER, scope=READ_SCOPE),
        "POST /v1/transfers/{transfer_id}/reversal": write(OFFICERS, TRANSFER, scope=WRITE_SCOPE),
        "GET /v1/units/{code}/accounts": read(path("code"), scope=READ_SCOPE),
        "GET /v1/units/{code}/report": AGGREGATE,
        "GET /v1/units/{code}/report.xlsx": AGGREGATE,
        "POST /v1/summaries/lookup": AGGREGATE,
        "POST /v1/units/{code}/works": write(OFFICERS, path("code")),
        "GET /v1/units/{code}/works": read(path("code"), scope=READ_SCOPE),
        "GET /v1/works/{work_id}": read(WORK, scope=READ_SCOPE),
        "GET /v1/works/{work_id}/obligations": read(WORK, scope=READ_SCOPE),
        "POST /v1/works/{work_id}/obligations": write(OFFICERS, WORK),
        "POST /v1/works/{work_id}/obligations/{obligation_id}/reversal": write(OFFICERS, WORK),
        "GET /v1/units/{code}/construction-debt": read(path("code"), scope=READ_SCOPE),
        **import_rules("transfers", IMPORT_SCOPE, imports.SCHEMA),
    }
)
