"""REST routers of appraisal: dossiers, content, actions, timeline, tasks, decisions.

Until the auth issue lands, who acts comes in headers: `X-Role` (commune_officer,
district_officer, province_officer, appraiser, central_officer), `X-Unit` (the actor's unit
code; absent for the central level), optional `X-Level` (default: from the code's length) and
`X-Recorded-By` (the person, for the audit chain). `If-Match: <version>` makes a write
conditional on the dossier's version."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Body, Header, Path, Query, Request, status

from services.appraisal import service
from services.appraisal.domain.workflow import Actor, Workflow, load_workflow
from services.appraisal.outbox import OutboxRelay
from services.appraisal.schemas import (
    ActionIn,
    CommentIn,
    CommentOut,
    DecisionOut,
    DossierIn,
    DossierOut,
    DossierPage,
    PublicKeyOut,
    RevocationIn,
    TaskOut,
    TimelineEntry,
    VerifyOut,
)
from services.appraisal.signing import SigningKey
from services.appraisal.upstream import upstreams_of
from shared import clock
from shared.db import SessionDep
from shared.errors import problem_responses

router = APIRouter(prefix="/v1", tags=["appraisal"])

WORKFLOW = load_workflow()

Role = Annotated[str | None, Header(alias="X-Role", max_length=50)]
Unit = Annotated[str | None, Header(alias="X-Unit", max_length=10)]
Level = Annotated[str | None, Header(alias="X-Level", max_length=10)]
Who = Annotated[str | None, Header(alias="X-Recorded-By", max_length=200)]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=20)]
DossierId = Annotated[uuid.UUID, Path()]


def _actor(role: str | None, unit: str | None, level: str | None, who: str | None) -> Actor:
    return service.actor_from_headers(role, unit, level, who)


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    raw = if_match.strip().strip('"').removeprefix("W/").strip('"')
    if not raw.isdigit():
        from services.appraisal.errors import invalid_field

        raise invalid_field(
            "If-Match", "if_match.invalid", "If-Match phải là số phiên bản của hồ sơ.",
            "If-Match must be the dossier's version number.",
        )  # fmt: skip
    return int(raw)


def _key(request: Request) -> SigningKey:
    key = request.app.state.signing_key_loader()
    assert isinstance(key, SigningKey)
    return key


def _nudge(request: Request, background: BackgroundTasks) -> None:
    relay = getattr(request.app.state, "relay", None)
    if isinstance(relay, OutboxRelay):
        background.add_task(relay.nudge)


def _wf() -> Workflow:
    return WORKFLOW


@router.post(
    "/dossiers",
    status_code=status.HTTP_201_CREATED,
    summary="Open a recognition dossier (the unit is resolved through the criteria service)",
    responses=problem_responses(403, 409, 422, 503),
)
async def create_dossier(
    request: Request, body: DossierIn, session: SessionDep, role: Role = None, unit: Unit = None,
    level: Level = None, who: Who = None,
) -> DossierOut:  # fmt: skip
    return await service.create_dossier(
        session, upstreams_of(request), _wf(), body, _actor(role, unit, level, who), clock.today()
    )


@router.get("/dossiers", summary="Dossiers, oldest first, with filters and a cursor")
async def list_dossiers(
    session: SessionDep,
    unit: Annotated[str | None, Query(pattern=r"^\d{2,5}$")] = None,
    status_: Annotated[
        Literal["open", "recognised", "rejected", "withdrawn", "revoked"] | None,
        Query(alias="status"),
    ] = None,
    title: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{2,40}$")] = None,
    year: Annotated[int | None, Query(ge=2010, le=2035)] = None,
    kind: Literal["recognition", "revocation"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DossierPage:
    return await service.list_dossiers(
        session, _wf(), unit=unit, status=status_, title=title, year=year, kind=kind,
        cursor=cursor, limit=limit, today=clock.today(),
    )  # fmt: skip


@router.get("/dossiers/{dossier_id}", responses=problem_responses(404, 422))
async def get_dossier(dossier_id: DossierId, session: SessionDep) -> DossierOut:
    return await service.get_dossier(session, _wf(), dossier_id, clock.today())


@router.put(
    "/dossiers/{dossier_id}/content/{piece}",
    summary="Record one content piece (request_letter, satisfaction, security, field_survey,"
    " posting.<level>, vote.commune_board, vote.council, sector_review.<criterion>)",
    responses=problem_responses(403, 404, 409, 422),
)
async def put_content(
    dossier_id: DossierId,
    piece: Annotated[str, Path(max_length=40)],
    session: SessionDep,
    body: Annotated[dict[str, Any], Body()],
    role: Role = None, unit: Unit = None, level: Level = None, who: Who = None,
    if_match: IfMatch = None,
) -> DossierOut:  # fmt: skip
    return await service.put_content(
        session, _wf(), dossier_id, piece, body, _actor(role, unit, level, who), clock.today(),
        _version(if_match),
    )  # fmt: skip


@router.post(
    "/dossiers/{dossier_id}/actions",
    summary="Take a workflow action (submit, return, accept, approve, reject, withdraw)",
    description="Refusals are problem+json: 403 `workflow.forbidden` (not this role or level),"
    " 409 `workflow.action_not_allowed` / `workflow.closed` / `workflow.gate_failed` (each"
    " failing gate named in `errors`).",
    responses=problem_responses(403, 404, 409, 422, 503),
)
async def act(
    request: Request, background: BackgroundTasks, dossier_id: DossierId, body: ActionIn,
    session: SessionDep, role: Role = None, unit: Unit = None, level: Level = None,
    who: Who = None, if_match: IfMatch = None,
) -> DossierOut:  # fmt: skip
    out = await service.act(
        session, upstreams_of(request), _wf(), _key(request), dossier_id, body,
        _actor(role, unit, level, who), clock.today(), _version(if_match),
    )  # fmt: skip
    if out.decision_id is not None:
        _nudge(request, background)
    return out


@router.post(
    "/dossiers/{dossier_id}/comments",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 404, 422),
)
async def add_comment(
    dossier_id: DossierId, body: CommentIn, session: SessionDep, role: Role = None,
    unit: Unit = None, level: Level = None, who: Who = None,
) -> CommentOut:  # fmt: skip
    return await service.add_comment(session, dossier_id, body, _actor(role, unit, level, who))


@router.get("/dossiers/{dossier_id}/comments", responses=problem_responses(404))
async def list_comments(dossier_id: DossierId, session: SessionDep) -> list[CommentOut]:
    return await service.comments(session, dossier_id)


@router.get("/dossiers/{dossier_id}/timeline", responses=problem_responses(404))
async def timeline(dossier_id: DossierId, session: SessionDep) -> list[TimelineEntry]:
    return await service.timeline(session, dossier_id)


@router.get(
    "/dossiers/{dossier_id}/timeline/verify",
    summary="Recompute the hash chain; the first broken link if any",
    responses=problem_responses(404),
)
async def verify_timeline(dossier_id: DossierId, session: SessionDep) -> VerifyOut:
    return await service.verify_timeline(session, dossier_id)


@router.get("/tasks", summary="Dossiers waiting for this role and level, within the unit's scope")
async def tasks(
    session: SessionDep,
    role: Annotated[str, Query(min_length=1, max_length=50)],
    level: Literal["commune", "district", "province", "central"],
    unit: Annotated[str | None, Query(pattern=r"^\d{2,5}$")] = None,
) -> list[TaskOut]:
    return await service.tasks(session, _wf(), role, level, unit, clock.today())


@router.post(
    "/units/{code}/revocations",
    status_code=status.HTTP_201_CREATED,
    summary="Open a revocation dossier, citing the criteria service's evaluation",
    responses=problem_responses(403, 409, 422, 503),
)
async def open_revocation(
    request: Request, code: Annotated[str, Path(pattern=r"^\d{2,5}$")], body: RevocationIn,
    session: SessionDep, role: Role = None, unit: Unit = None, level: Level = None,
    who: Who = None,
) -> DossierOut:  # fmt: skip
    return await service.open_revocation(
        session, upstreams_of(request), _wf(), code, body, _actor(role, unit, level, who),
        clock.today(),
    )  # fmt: skip


@router.get("/decisions/public-key", summary="The Ed25519 public key decisions are signed with")
async def public_key(request: Request) -> PublicKeyOut:
    key = _key(request)
    return PublicKeyOut(key_id=key.key_id, public_key_pem=key.public_pem())


@router.get(
    "/decisions/{decision_id}",
    summary="A signed decision: record, signed text and signature (verifiable offline)",
    responses=problem_responses(404, 422),
)
async def get_decision(decision_id: uuid.UUID, session: SessionDep) -> DecisionOut:
    return await service.get_decision(session, decision_id)
