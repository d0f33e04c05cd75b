"""Who may call which appraisal route (shared.authz): one rule per route.

Dossiers, their content, timeline and evidence are read within one's scope and written by
the officers and appraisers within it; which of them may take which step is the workflow's
decision (`workflow.forbidden`, `dossier.locked`), not this table's. A dossier's unit is read
from the dossier; an evidence file is readable when one dossier citing it is in scope. Signed
decisions are published. A refusal for scope keeps appraisal's code, `dossier.out_of_scope`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.appraisal.repository import DossierRepository, EvidenceRepository
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

READ_SCOPE = "read:dossiers"
ACTORS = OFFICERS | {"appraiser"}  # the workflow's roles
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _sha256(raw: str) -> str:
    if not SHA256.fullmatch(raw):
        raise ValueError(raw)
    return raw


async def _dossier(session: AsyncSession, dossier_id: uuid.UUID) -> RowMapping | None:
    return await DossierRepository(session).get(dossier_id)


async def _citing(session: AsyncSession, sha256: str) -> Sequence[RowMapping]:
    return await EvidenceRepository(session).citing_dossiers(sha256)


DOSSIER = looked_up("dossier_id", uuid.UUID, _dossier)

POLICY = Policy(
    {
        "POST /v1/dossiers": write(OFFICERS, body("unit")),
        "GET /v1/dossiers": read(query("unit", national_when_absent=True), scope=READ_SCOPE),
        "POST /v1/dossiers/lookup": read(body("units", "*"), scope=READ_SCOPE),
        "GET /v1/dossiers/{dossier_id}": read(DOSSIER, scope=READ_SCOPE),
        "PUT /v1/dossiers/{dossier_id}/content/{piece}": write(ACTORS, DOSSIER),
        "POST /v1/dossiers/{dossier_id}/actions": write(ACTORS, DOSSIER),
        "POST /v1/dossiers/{dossier_id}/comments": write(ACTORS, DOSSIER),
        "GET /v1/dossiers/{dossier_id}/comments": read(DOSSIER, scope=READ_SCOPE),
        "GET /v1/dossiers/{dossier_id}/timeline": read(DOSSIER, scope=READ_SCOPE),
        "GET /v1/dossiers/{dossier_id}/timeline/verify": read(DOSSIER, scope=READ_SCOPE),
        "GET /v1/tasks": read(query("unit", national_when_absent=True)),
        # a revocation is opened from above the unit (the service checks the level)
        "POST /v1/units/{code}/revocations": write(OFFICERS - {"commune_officer"}, path("code")),
        "GET /v1/decisions/public-key": PUBLIC,
        "GET /v1/decisions/{decision_id}": AGGREGATE,
        "POST /v1/dossiers/{dossier_id}/evidence": write(ACTORS, DOSSIER),
        "GET /v1/dossiers/{dossier_id}/evidence": read(DOSSIER, scope=READ_SCOPE),
        "GET /v1/evidence/{sha256}": read(
            looked_up("sha256", _sha256, _citing, any_of=True), scope=READ_SCOPE
        ),
    },
    out_of_scope_code="dossier.out_of_scope",
)
