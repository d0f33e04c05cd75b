"""REST routers of appraisal: dossiers, content, actions, timeline, tasks, decisions.

Who acts is the caller's bearer token (shared.auth): its role, its unit (hence its level;
none for the central level) and its subject, the person the audit chain records. Which routes
a role may call, for which units, is services/appraisal/policy.py. `If-Match: <version>`
makes a write conditional on the dossier's version. The dossier writes (create, content,
actions, comments, revocation) take an `Idempotency-Key`: the same key and request answer the
first result (with `Idempotent-Replayed: true`), another request under the key is a 409
`idempotency.conflict` (shared.replay)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar, cast
from urllib.parse import quote

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Body,
    Depends,
    Header,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile

from services.appraisal import evidence, service
from services.appraisal.domain.workflow import Actor, Workflow, load_workflow
from services.appraisal.errors import EvidenceTooLarge, invalid_field
from services.appraisal.outbox import OutboxRelay
from services.appraisal.repository import DOSSIER_COLUMNS
from services.appraisal.schemas import (
    UNIT_CODE,
    ActionIn,
    CommentIn,
    CommentOut,
    DecisionOut,
    DossierIn,
    DossierOut,
    DossierPage,
    EvidenceOut,
    PublicKeyOut,
    RevocationIn,
    TaskOut,
    TimelineEntry,
    VerifyOut,
)
from services.appraisal.signing import SigningKey
from services.appraisal.storage import EvidenceStore, store_for
from services.appraisal.upstream import upstreams_of
from shared import clock
from shared.authz import require_principal
from shared.db import SessionDep
from shared.errors import problem_responses, replay_response
from shared.pagination import Cursor, Limit, Page
from shared.replay import IdempotencyKey, replay_or_run

router = APIRouter(prefix="/v1", tags=["appraisal"])

WORKFLOW = load_workflow()

IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=20)]
DossierId = Annotated[uuid.UUID, Path()]


async def _actor(request: Request) -> Actor:
    return service.actor_from_principal(require_principal(request))


ActorDep = Annotated[Actor, Depends(_actor)]


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    raw = if_match.strip().strip('"').removeprefix("W/").strip('"')
    # ASCII digits only: "²".isdigit() is true, and int() refuses it
    if not (raw.isascii() and raw.isdigit()):
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


M = TypeVar("M", bound=BaseModel)


async def _once(
    request: Request, response: Response, session: AsyncSession, key: str | None,
    run: Callable[[], Awaitable[M]], model: type[M], actor: Actor, body: Any,
    version: int | None = None,
) -> M:  # fmt: skip
    """`run()` once per Idempotency-Key (shared.replay), the request being its body, the actor
    and If-Match."""
    parts = {
        "body": body.model_dump(mode="json") if isinstance(body, BaseModel) else body,
        "actor": actor.model_dump(mode="json"),
        "if_match": version,
    }
    return await replay_or_run(
        session, "appraisal", key, request, response, run, model=model, parts=parts
    )


@router.post(
    "/dossiers",
    status_code=status.HTTP_201_CREATED,
    summary="Open a recognition dossier (the unit is resolved through the criteria service)",
    responses=problem_responses(403, 409, 422, 503),
)
async def create_dossier(
    request: Request, response: Response, body: DossierIn, session: SessionDep, actor: ActorDep,
    key: IdempotencyKey = None,
) -> DossierOut:  # fmt: skip
    return await _once(
        request, response, session, key,
        lambda: service.create_dossier(
            session, upstreams_of(request), _wf(), body, actor, clock.today()
        ),
        DossierOut, actor, body,
    )  # fmt: skip


@router.get("/dossiers", summary="Dossiers, oldest first, with filters and a cursor")
async def list_dossiers(
    session: SessionDep,
    unit: Annotated[str | None, Query(pattern=UNIT_CODE)] = None,
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


class DossierLookupIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"units": ["15592", "15583"]}]}
    )

    units: list[Annotated[str, Field(pattern=UNIT_CODE)]] = Field(min_length=1, max_length=500)


class DossierLookupOut(BaseModel):
    items: list[list[DossierOut]] = Field(
        description="Per unit of the request, in its order: its dossiers, oldest first"
    )


@router.post(
    "/dossiers/lookup",
    summary="The dossiers of many units in one call, answered in key order (for the gateway)",
    responses=problem_responses(422),
)
async def lookup_dossiers(session: SessionDep, body: DossierLookupIn) -> DossierLookupOut:
    rows = await session.execute(
        text(
            f"SELECT {DOSSIER_COLUMNS} FROM appraisal.dossiers d"
            " WHERE d.unit_code = ANY(:units) ORDER BY d.created_at, d.id"
        ),
        {"units": sorted(set(body.units))},
    )
    today = clock.today()
    by_unit: dict[str, list[DossierOut]] = {}
    for row in rows.mappings():
        by_unit.setdefault(row["unit_code"], []).append(service.dossier_out(_wf(), row, today))
    return DossierLookupOut(items=[by_unit.get(code, []) for code in body.units])


@router.get("/dossiers/{dossier_id}", responses=problem_responses(404, 422))
async def get_dossier(dossier_id: DossierId, session: SessionDep) -> DossierOut:
    return await service.get_dossier(session, _wf(), dossier_id, clock.today())


@router.put(
    "/dossiers/{dossier_id}/content/{piece}",
    summary="Record one content piece (request_letter, satisfaction, security, field_survey,"
    " posting.<level>, vote.commune_board, vote.council, sector_review.<criterion>)",
    description="An appraiser whose token names sectors records only the sector reviews of"
    " their criteria (403 `dossier.sector_forbidden` otherwise).",
    responses=problem_responses(403, 404, 409, 422),
)
async def put_content(
    request: Request,
    response: Response,
    dossier_id: DossierId,
    piece: Annotated[str, Path(max_length=40)],
    session: SessionDep,
    body: Annotated[dict[str, Any], Body()],
    actor: ActorDep, if_match: IfMatch = None, key: IdempotencyKey = None,
) -> DossierOut:  # fmt: skip
    version = _version(if_match)
    sectors = require_principal(request).sectors
    await service.check_sector(session, upstreams_of(request), dossier_id, piece, actor, sectors)
    return await _once(
        request, response, session, key,
        lambda: service.put_content(
            session, _wf(), dossier_id, piece, body, actor, clock.today(), version
        ),
        DossierOut, actor, body, version,
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
    request: Request, response: Response, background: BackgroundTasks, dossier_id: DossierId,
    body: ActionIn, session: SessionDep, actor: ActorDep, if_match: IfMatch = None,
    key: IdempotencyKey = None,
) -> DossierOut:  # fmt: skip
    version = _version(if_match)
    out = await _once(
        request, response, session, key,
        lambda: service.act(
            session, upstreams_of(request), _wf(), _key(request), dossier_id, body, actor,
            clock.today(), version,
        ),
        DossierOut, actor, body, version,
    )  # fmt: skip
    if out.decision_id is not None:
        _nudge(request, background)
    return out


@router.post(
    "/dossiers/{dossier_id}/comments",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 404, 409, 422),
)
async def add_comment(
    request: Request, response: Response, dossier_id: DossierId, body: CommentIn,
    session: SessionDep, actor: ActorDep, key: IdempotencyKey = None,
) -> CommentOut:  # fmt: skip
    return await _once(
        request, response, session, key,
        lambda: service.add_comment(session, dossier_id, body, actor), CommentOut, actor, body,
    )  # fmt: skip


@router.get(
    "/dossiers/{dossier_id}/comments",
    summary="The dossier's comments, oldest first, with a cursor",
    responses=problem_responses(404, 422),
)
async def list_comments(
    dossier_id: DossierId, session: SessionDep, cursor: Cursor = None, limit: Limit = 100
) -> Page[CommentOut]:
    return await service.comments(session, dossier_id, cursor=cursor, limit=limit)


@router.get(
    "/dossiers/{dossier_id}/timeline",
    summary="The dossier's audit chain, entry by entry, with a cursor",
    responses=problem_responses(404, 422),
)
async def timeline(
    dossier_id: DossierId, session: SessionDep, cursor: Cursor = None, limit: Limit = 100
) -> Page[TimelineEntry]:
    return await service.timeline(session, dossier_id, cursor=cursor, limit=limit)


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
    unit: Annotated[str | None, Query(pattern=UNIT_CODE)] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[TaskOut]:
    return await service.tasks(
        session, _wf(), role, level, unit, clock.today(), cursor=cursor, limit=limit
    )


@router.post(
    "/units/{code}/revocations",
    status_code=status.HTTP_201_CREATED,
    summary="Open a revocation dossier, citing the criteria service's evaluation",
    responses=problem_responses(403, 409, 422, 503),
)
async def open_revocation(
    request: Request, response: Response, code: Annotated[str, Path(pattern=UNIT_CODE)],
    body: RevocationIn, session: SessionDep, actor: ActorDep, key: IdempotencyKey = None,
) -> DossierOut:  # fmt: skip
    return await _once(
        request, response, session, key,
        lambda: service.open_revocation(
            session, upstreams_of(request), _wf(), code, body, actor, clock.today()
        ),
        DossierOut, actor, body,
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


# --- evidence files --------------------------------------------------------------------------

Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]
INDICATOR_CODE = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
MULTIPART_OVERHEAD = 64 * 1024  # headers and the other fields around the file


def evidence_store(request: Request) -> EvidenceStore:
    state = request.app.state
    store = getattr(state, "evidence_store", None)
    if store is None:
        store = store_for(state.settings)
        state.evidence_store = store
    return cast(EvidenceStore, store)


def _form_text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise invalid_field(
            name, "evidence.field_invalid", f"Trường '{name}' phải là văn bản.",
            f"Field '{name}' must be text.",
        )  # fmt: skip
    return value.strip()


def _criterion(form: FormData) -> int | None:
    raw = _form_text(form, "criterion")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 99:
        raise invalid_field(
            "criterion", "evidence.criterion_invalid",
            "Số tiêu chí (criterion) phải là số nguyên từ 1 đến 99.",
            "The criterion number must be an integer from 1 to 99.",
        )  # fmt: skip
    return int(raw)


def _indicator(form: FormData) -> str | None:
    raw = _form_text(form, "indicator")
    if raw is not None and not INDICATOR_CODE.fullmatch(raw):
        raise invalid_field(
            "indicator", "evidence.indicator_invalid",
            "Mã chỉ tiêu (indicator) không hợp lệ (chữ, số, '.', '_', '-', tối đa 40 ký tự).",
            "The indicator code is invalid (letters, digits, '.', '_', '-', at most 40).",
        )  # fmt: skip
    return raw


EVIDENCE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "criterion": {"type": "integer", "minimum": 1, "maximum": 99},
                        "indicator": {"type": "string", "pattern": INDICATOR_CODE.pattern},
                    },
                }
            }
        },
    }
}


@router.post(
    "/dossiers/{dossier_id}/evidence",
    status_code=status.HTTP_201_CREATED,
    summary="Upload an evidence file (multipart: file, optional criterion / indicator)",
    description="The type is judged from the bytes (PDF, JPEG, PNG, DOCX, XLSX by default);"
    " the bytes are stored once under their SHA-256 whatever the number of dossiers citing"
    " them. 413 `evidence.too_large`, 415 `evidence.unsupported_type`, 403 `dossier.locked`"
    " while another level holds the dossier. Uploading the same bytes again for the same"
    " criterion / indicator answers 200 with the existing citation.",
    responses={
        **replay_response(EvidenceOut),
        **problem_responses(400, 403, 404, 409, 413, 415, 422, 503),
    },
    openapi_extra=EVIDENCE_BODY,
)
async def upload_evidence(
    request: Request, response: Response, dossier_id: DossierId, session: SessionDep,
    actor: ActorDep, if_match: IfMatch = None,
) -> EvidenceOut:  # fmt: skip
    settings = request.app.state.settings
    version = _version(if_match)
    await evidence.precheck(session, _wf(), dossier_id, actor)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > settings.evidence_max_bytes + MULTIPART_OVERHEAD:
        raise EvidenceTooLarge(settings.evidence_max_bytes)
    async with request.form(max_files=1, max_fields=10) as form:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise invalid_field(
                "file", "evidence.file_missing", "Thiếu tệp minh chứng (trường file).",
                "The evidence file (field 'file') is missing.",
            )  # fmt: skip
        up = evidence.Upload(
            file=file.file, filename=file.filename, criterion=_criterion(form),
            indicator=_indicator(form),
        )  # fmt: skip
        out = await evidence.upload(
            session, _wf(), evidence_store(request), dossier_id, up, actor,
            max_bytes=settings.evidence_max_bytes,
            allowed=list(settings.evidence_content_types), expected_version=version,
        )  # fmt: skip
    if not out.created:
        response.status_code = status.HTTP_200_OK
    return out


@router.get(
    "/dossiers/{dossier_id}/evidence",
    summary="Evidence files the dossier cites (actor within the dossier's scope)",
    responses=problem_responses(403, 404, 422),
)
async def list_evidence(
    dossier_id: DossierId, session: SessionDep, actor: ActorDep, cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[EvidenceOut]:  # fmt: skip
    return await evidence.list_evidence(session, dossier_id, actor, cursor=cursor, limit=limit)


@router.get(
    "/evidence/{sha256}",
    summary="Download an evidence file by its SHA-256 (actor within a citing dossier's scope)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}},
               **problem_responses(403, 404, 422, 503)},
)  # fmt: skip
async def download_evidence(
    request: Request, sha256: Sha256, session: SessionDep, actor: ActorDep,
) -> StreamingResponse:  # fmt: skip
    store = evidence_store(request)
    found = await evidence.download(session, store, sha256, actor)
    return StreamingResponse(
        store.read(found.sha256),
        media_type=found.content_type,
        headers={
            "Content-Length": str(found.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.filename)}",
            "ETag": f'"{found.sha256}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=31536000, immutable",
        },
    )
