"""Business rules of appraisal: dossiers, content, the workflow's moves with their gates,
the audit chain, signed decisions and the outbox. Takes the request's session; only flushes
(the session dependency commits once)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.appraisal import errors
from services.appraisal.domain import audit
from services.appraisal.domain.conditions import (
    DebtEvidence,
    EvaluationEvidence,
    SatisfactionEvidence,
    SecurityEvidence,
    check_conditions,
)
from services.appraisal.domain.gates import Evidence, failed_gates
from services.appraisal.domain.workflow import (
    TERMINAL,
    Action,
    Actor,
    Dossier,
    Refusal,
    Workflow,
    decide,
    editable_by,
    overdue,
    start_step,
)
from services.appraisal.repository import (
    UNDATED,
    DecisionRepository,
    DossierRepository,
    OutboxRepository,
)
from services.appraisal.schemas import (
    ActionIn,
    CommentIn,
    CommentOut,
    DecisionOut,
    DossierIn,
    DossierOut,
    DossierPage,
    FieldSurvey,
    Posting,
    RequestLetter,
    RevocationIn,
    Satisfaction,
    SectorReview,
    Security,
    SnapshotOut,
    TaskOut,
    TimelineEntry,
    UnitRef,
    VerifyOut,
    Vote,
)
from services.appraisal.signing import SigningKey
from services.appraisal.upstream import Upstreams
from shared import authz
from shared.auth import Principal
from shared.errors import FieldError, InvalidInput
from shared.pagination import Page, cursor_after, id_after, keyset_page

LEVELS = ("commune", "district", "province", "central")
STATUS_OF = {"recognised": "recognised", "rejected": "rejected", "withdrawn": "withdrawn",
             "revoked": "revoked"}  # fmt: skip

# The national set a title is appraised against, by year; a province variant is named in the
# request (`set`).
DEFAULT_SETS: dict[str, tuple[tuple[int, str], ...]] = {
    "xa-ntm": ((2025, "xa-ntm-2021"), (2035, "xa-ntm-2026")),
    "xa-ntm-nang-cao": ((2025, "xa-ntm-nang-cao-2021"),),
    "xa-ntm-kieu-mau": ((2025, "xa-ntm-kieu-mau-2021"),),
    "huyen-ntm": ((2025, "huyen-ntm-2021"),),
    "huyen-ntm-nang-cao": ((2025, "huyen-ntm-nang-cao-2021"),),
}


def default_set(title: str, year: int) -> str | None:
    for until, code in DEFAULT_SETS.get(title, ()):
        if year <= until:
            return code
    return None


def default_as_of(year: int, today: date) -> date:
    return min(date(year, 12, 31), today)


def sha256_hex(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(audit.canonical(data)).hexdigest()


def normalised(value: Mapping[str, Any]) -> dict[str, Any]:
    """The value as it will read back from jsonb (plain JSON types), so hashes stay stable."""
    out: dict[str, Any] = json.loads(audit.canonical(value))
    return out


# --- the actor: the caller's bearer token (shared.auth) -------------------------------------


def actor_from_principal(principal: Principal) -> Actor:
    """The workflow's actor: the token's role, its unit (hence its level; none: central) and
    its subject, the person the audit chain records."""
    return Actor.model_validate(
        {"subject": principal.subject, "role": principal.role, "level": principal.level,
         "unit_code": principal.unit}
    )  # fmt: skip


def in_scope(actor: Actor, unit_path: str) -> bool:
    """The rule of shared.authz: the actor's unit is the unit, above it, or its 2025 lineage."""
    if actor.level == "central" or actor.unit_code in unit_path.split("."):
        return True
    return authz.covers_unit(actor.unit_code, unit_path.rsplit(".", 1)[-1])


def _require_scope(actor: Actor, row: RowMapping) -> None:
    if not in_scope(actor, row["unit_path"]):
        raise errors.OutOfScope(actor.unit_code, row["unit_code"])


def engine_dossier(row: RowMapping) -> Dossier:
    return Dossier(
        title=row["title"],
        unit_level=row["unit_level"],
        has_district=row["has_district"],
        kind=row["kind"],
        step=row["step"],
        entered_on=row["step_entered_on"],
    )


# --- reading ---------------------------------------------------------------------------------


def _snapshot(row: RowMapping, col: str) -> SnapshotOut | None:
    data = row[col]
    return None if data is None else SnapshotOut(hash=row[f"{col}_hash"], data=data)


def dossier_out(wf: Workflow, row: RowMapping, today: date) -> DossierOut:
    d = engine_dossier(row)
    step_name = None
    if row["step"] not in TERMINAL:
        step_name = wf.flow_for(d.title, d.kind).step(d.step).name_vi
    return DossierOut(
        id=row["id"],
        kind=row["kind"],
        unit=UnitRef(
            code=row["unit_code"],
            name=row["unit_name"],
            level=row["unit_level"],
            edition=row["unit_edition"],
            province_code=row["province_code"],
            has_district=row["has_district"],
            as_of=row["unit_as_of"],
        ),
        title=row["title"],
        year=row["year"],
        set=row["set_code"],
        workflow=row["workflow_code"],
        workflow_version=row["workflow_version"],
        step=row["step"],
        step_name_vi=step_name,
        step_entered_on=row["step_entered_on"],
        due_on=row["due_on"],
        overdue=overdue(wf, d, today),
        status=row["status"],
        editable_by=editable_by(wf, d),
        content=row["content"],
        revokes_dossier_id=row["revokes_dossier_id"],
        revocation_grounds=row["revocation_grounds"],
        submitted_evaluation=_snapshot(row, "submitted_evaluation"),
        decision_evaluation=_snapshot(row, "decision_evaluation"),
        construction_debt=_snapshot(row, "construction_debt"),
        decision_id=row["decision_id"],
        audit_head=bytes(row["audit_head"]).hex(),
        audit_entries=row["audit_count"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _row(session: AsyncSession, dossier_id: uuid.UUID, *, lock: bool = False) -> RowMapping:
    row = await DossierRepository(session).get(dossier_id, for_update=lock)
    if row is None:
        raise errors.DossierNotFound(dossier_id)
    return row


async def get_dossier(
    session: AsyncSession, wf: Workflow, dossier_id: uuid.UUID, today: date
) -> DossierOut:
    return dossier_out(wf, await _row(session, dossier_id), today)


async def list_dossiers(
    session: AsyncSession,
    wf: Workflow,
    *,
    unit: str | None,
    status: str | None,
    title: str | None,
    year: int | None,
    kind: str | None,
    cursor: str | None,
    limit: int,
    today: date,
) -> DossierPage:
    after = cursor_after(cursor, datetime.fromisoformat, uuid.UUID)
    rows, total = await DossierRepository(session).list(
        unit=unit, status=status, title=title, year=year, kind=kind, after=after, limit=limit + 1
    )
    page, next_cursor = keyset_page(
        rows, limit, lambda r: [r["created_at"].isoformat(), str(r["id"])]
    )
    items = [dossier_out(wf, r, today) for r in page]
    return DossierPage(items=items, next_cursor=next_cursor, total_count=total)


# --- the audit chain -------------------------------------------------------------------------


def _audit_entry(
    actor: Actor, action: str, before: Any, after: Any, now: datetime
) -> dict[str, Any]:
    return normalised(
        {
            "who": actor.subject,
            "role": actor.role,
            "level": actor.level,
            "unit": actor.unit_code,
            "when": now.isoformat(),
            "action": action,
            "before": before,
            "after": after,
        }
    )


async def _append(
    session: AsyncSession,
    row: RowMapping,
    actor: Actor,
    action: str,
    before: Any,
    after: Any,
    fields: dict[str, Any],
    expected_version: int | None = None,
) -> None:
    """Append one audit entry and apply `fields` to the (locked) dossier, in one transaction."""
    if expected_version is not None and expected_version != row["version"]:
        raise errors.StaleVersion(expected_version, row["version"])
    repo = DossierRepository(session)
    entry = _audit_entry(actor, action, before, after, datetime.now(UTC))
    prev = bytes(row["audit_head"])
    seq = row["audit_count"] + 1
    digest = audit.link(prev, entry)
    await repo.append_audit(row["id"], seq, entry, prev, digest)
    updated = await repo.update(
        row["id"], row["version"], {**fields, "audit_head": digest, "audit_count": seq}
    )
    if not updated:  # pragma: no cover - the row is locked FOR UPDATE
        raise errors.StaleVersion(row["version"], row["version"] + 1)


async def timeline(
    session: AsyncSession, dossier_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[TimelineEntry]:
    row = await _row(session, dossier_id)
    rows = await DossierRepository(session).audit_page(dossier_id, id_after(cursor), limit + 1)
    page, next_cursor = keyset_page(rows, limit, lambda r: [r["seq"]])
    items = [
        TimelineEntry(
            seq=r["seq"],
            entry=r["entry"],
            prev_hash=bytes(r["prev_hash"]).hex(),
            hash=bytes(r["hash"]).hex(),
        )
        for r in page
    ]
    return Page(items=items, next_cursor=next_cursor, total_count=row["audit_count"])


async def verify_timeline(session: AsyncSession, dossier_id: uuid.UUID) -> VerifyOut:
    row = await _row(session, dossier_id)
    rows = await DossierRepository(session).audit_entries(dossier_id)
    broken = audit.verify(
        (r["seq"], r["entry"], bytes(r["prev_hash"]), bytes(r["hash"])) for r in rows
    )
    if broken is None and (
        len(rows) != row["audit_count"]
        or (rows and bytes(rows[-1]["hash"]) != bytes(row["audit_head"]))
    ):
        broken = audit.Broken(len(rows) + 1, "entries missing at the end of the chain")
    if broken is None:
        return VerifyOut(
            intact=True,
            entries=len(rows),
            message_vi=f"Chuỗi nhật ký toàn vẹn ({len(rows)} mục).",
            message_en=f"The audit chain is intact ({len(rows)} entries).",
        )
    return VerifyOut(
        intact=False,
        entries=len(rows),
        broken_seq=broken.seq,
        reason=broken.reason,
        message_vi=f"Chuỗi nhật ký bị phá vỡ tại mục {broken.seq}: {broken.reason}.",
        message_en=f"The audit chain is broken at entry {broken.seq}: {broken.reason}.",
    )


# --- creating --------------------------------------------------------------------------------


async def _resolve_unit(ups: Upstreams, code: str, as_of: date, field: str) -> dict[str, Any]:
    unit = await ups.unit(code, as_of)
    if unit is None:
        raise errors.invalid_field(
            field, "unit.not_found",
            f"Không có đơn vị hành chính mã {code} vào ngày {as_of:%d/%m/%Y}.",
            f"No administrative unit with code {code} on {as_of.isoformat()}.",
        )  # fmt: skip
    if unit["level"] not in ("commune", "district", "province"):
        raise errors.invalid_field(
            field, "unit.level", f"Đơn vị {code} (cấp {unit['level']}) không được xét công nhận.",
            f"Unit {code} (level {unit['level']}) is not appraised.",
        )  # fmt: skip
    return unit


async def _resolve_set(ups: Upstreams, wanted: str | None, title: str, year: int) -> str:
    code = wanted or default_set(title, year)
    if code is None:
        raise errors.invalid_field(
            "set", "set.required", f"Danh hiệu '{title}' năm {year} cần nêu bộ tiêu chí (set).",
            f"Title '{title}' for {year} needs an explicit criteria set.",
        )  # fmt: skip
    if await ups.criteria_set(code) is None:
        raise errors.invalid_field(
            "set", "set.not_found", f"Không có bộ tiêu chí '{code}'.", f"No criteria set '{code}'."
        )
    return code


def _flow_check(wf: Workflow, title: str, kind: str, level: str) -> None:
    try:
        flow = wf.flow_for(title, kind)  # type: ignore[arg-type]
    except KeyError:
        raise errors.invalid_field(
            "title", "title.unknown",
            f"Quy trình {wf.code} không có danh hiệu '{title}'.",
            f"Workflow {wf.code} has no title '{title}'.",
        ) from None  # fmt: skip
    if flow.applies_to != level:
        raise errors.invalid_field(
            "title", "title.level_mismatch",
            f"Danh hiệu '{title}' dành cho cấp {flow.applies_to}, đơn vị là cấp {level}.",
            f"Title '{title}' is for the {flow.applies_to} level; the unit is a {level}.",
        )  # fmt: skip


def _unit_columns(unit: Mapping[str, Any], as_of: date) -> dict[str, Any]:
    parts = unit["path"].split(".")
    return {
        "unit_code": unit["code"],
        "unit_edition": unit["edition"],
        "unit_level": unit["level"],
        "unit_name": unit["name"],
        "unit_path": unit["path"],
        "province_code": unit["province_code"],
        # a commune under a district has a three-part path; a post-2025 commune has none
        "has_district": unit["level"] != "commune" or len(parts) == 3,
        "unit_as_of": as_of,
    }


async def _insert(
    session: AsyncSession,
    wf: Workflow,
    actor: Actor,
    cols: dict[str, Any],
    today: date,
    audit_action: str,
) -> uuid.UUID:
    repo = DossierRepository(session)
    if await repo.live_exists(
        cols["kind"], cols["unit_code"], cols["unit_edition"], cols["title"], cols["year"]
    ):
        raise errors.DossierExists(cols["unit_code"], cols["title"], cols["year"])
    d = Dossier(
        title=cols["title"], unit_level=cols["unit_level"], has_district=cols["has_district"],
        kind=cols["kind"], step="_", entered_on=today,
    )  # fmt: skip
    step = start_step(wf, d)
    flow = wf.flow_for(cols["title"], cols["kind"])
    dossier_id = uuid.uuid4()
    row = {
        **cols,
        "id": dossier_id,
        "workflow_code": wf.code,
        "workflow_version": wf.version,
        "step": step,
        "step_entered_on": today,
        "due_on": date.fromordinal(today.toordinal() + flow.step(step).due_days),
        "created_by": actor.subject,
    }
    try:
        async with session.begin_nested():
            await repo.insert(row)
    except IntegrityError:
        raise errors.DossierExists(cols["unit_code"], cols["title"], cols["year"]) from None
    created = await _row(session, dossier_id, lock=True)
    await _append(
        session, created, actor, audit_action, None,
        {"step": step, "status": "open", "unit": cols["unit_code"], "title": cols["title"],
         "year": cols["year"], "set": cols["set_code"]},
        {},
    )  # fmt: skip
    return dossier_id


async def create_dossier(
    session: AsyncSession, ups: Upstreams, wf: Workflow, body: DossierIn, actor: Actor, today: date
) -> DossierOut:
    as_of = body.unit_as_of or default_as_of(body.year, today)
    unit = await _resolve_unit(ups, body.unit, as_of, "unit")
    if not in_scope(actor, unit["path"]):
        raise errors.OutOfScope(actor.unit_code, body.unit)
    _flow_check(wf, body.title, "recognition", unit["level"])
    set_code = await _resolve_set(ups, body.set, body.title, body.year)
    cols = {**_unit_columns(unit, as_of), "kind": "recognition", "title": body.title,
            "year": body.year, "set_code": set_code}  # fmt: skip
    dossier_id = await _insert(session, wf, actor, cols, today, "create")
    return await get_dossier(session, wf, dossier_id, today)


async def open_revocation(
    session: AsyncSession,
    ups: Upstreams,
    wf: Workflow,
    code: str,
    body: RevocationIn,
    actor: Actor,
    today: date,
) -> DossierOut:
    """Open a revocation dossier for a unit holding the title, citing the criteria service's
    evaluation (its revocation watch) as grounds."""
    as_of = body.unit_as_of or default_as_of(body.year, today)
    unit = await _resolve_unit(ups, code, as_of, "code")
    if not in_scope(actor, unit["path"]) or LEVELS.index(actor.level) <= LEVELS.index(
        unit["level"]
    ):
        raise errors.OutOfScope(actor.unit_code, code)
    _flow_check(wf, body.title, "revocation", unit["level"])
    set_code = await _resolve_set(ups, body.set, body.title, body.year)
    held = await ups._get("criteria", f"/v1/units/{code}/titles", {"as_of": as_of.isoformat()})
    titles: list[dict[str, Any]] = held if isinstance(held, list) else []
    if not any(t["title"] == body.title and t["revoked_on"] is None for t in titles):
        raise errors.invalid_field(
            "title", "title.not_held",
            f"Đơn vị {code} không giữ danh hiệu '{body.title}'.",
            f"Unit {code} does not hold the title '{body.title}'.",
        )  # fmt: skip
    evaluation = await ups.evaluation(code, set_code, body.year, as_of)
    grounds: dict[str, Any] = {"reason": body.reason, "set": set_code, "year": body.year}
    if evaluation is not None:
        grounds.update(
            {
                "evaluation_hash": sha256_hex(evaluation),
                "revocation_risk": evaluation.get("revocation_risk"),
                "revocation": evaluation.get("revocation"),
                "criteria_met": evaluation.get("criteria_met"),
                "criteria_total": evaluation.get("criteria_total"),
            }
        )
    recognised = await DossierRepository(session).held_recognition(
        unit["code"], unit["edition"], body.title
    )
    cols = {
        **_unit_columns(unit, as_of),
        "kind": "revocation",
        "title": body.title,
        "year": body.year,
        "set_code": set_code,
        "revocation_grounds": normalised(grounds),
        "revokes_dossier_id": recognised["id"] if recognised else None,
    }
    dossier_id = await _insert(session, wf, actor, cols, today, "revocation.open")
    return await get_dossier(session, wf, dossier_id, today)


# --- content ---------------------------------------------------------------------------------

PIECE = re.compile(
    r"^(request_letter|satisfaction|security|field_survey"
    r"|posting\.(commune|district|province)|vote\.(commune_board|council)"
    r"|sector_review\.([1-9]\d?))$"
)
_APPRAISING = ("province", "central")


def _piece_model(piece: str) -> type[BaseModel]:
    head = piece.split(".")[0]
    models: dict[str, type[BaseModel]] = {
        "request_letter": RequestLetter, "satisfaction": Satisfaction, "security": Security,
        "field_survey": FieldSurvey, "posting": Posting, "vote": Vote,
        "sector_review": SectorReview,
    }  # fmt: skip
    return models[head]


def _piece_levels(piece: str, unit_level: str) -> tuple[str, ...]:
    """Which levels may record a piece at all (besides the step's lock)."""
    head, _, sub = piece.partition(".")
    if head == "posting":
        return (sub,)
    if head in ("request_letter", "satisfaction") or piece == "vote.commune_board":
        return (unit_level,)
    if head in ("sector_review", "field_survey") or piece == "vote.council":
        return _APPRAISING
    return LEVELS  # security attestation: whoever holds the dossier


def _content_path(piece: str) -> tuple[str, str | None]:
    head, _, sub = piece.partition(".")
    container = {"posting": "postings", "vote": "votes", "sector_review": "sector_reviews"}
    return (container[head], sub) if sub else (head, None)


def _validated(model: type[BaseModel], body: Any, piece: str) -> dict[str, Any]:
    try:
        value = model.model_validate(body)
    except ValidationError as exc:
        errs = [
            FieldError(
                field=".".join(str(p) for p in (piece, *e["loc"])),
                code=f"body.{e['type']}",
                message_vi=f"Trường '{'.'.join(str(p) for p in e['loc']) or piece}' không hợp"
                f" lệ: {e['msg']}",
                message_en=f"Field '{'.'.join(str(p) for p in e['loc']) or piece}' is invalid:"
                f" {e['msg']}",
            )
            for e in exc.errors()
        ]
        fields = ", ".join(sorted({e.field or piece for e in errs}))
        raise InvalidInput(
            f"Dữ liệu không hợp lệ ở trường: {fields}.", f"Invalid input in: {fields}.",
            errors=errs,
        ) from None  # fmt: skip
    return normalised(value.model_dump(mode="json", by_alias=True, exclude_none=True))


async def put_content(
    session: AsyncSession,
    wf: Workflow,
    dossier_id: uuid.UUID,
    piece: str,
    body: Any,
    actor: Actor,
    today: date,
    expected_version: int | None,
) -> DossierOut:
    match = PIECE.fullmatch(piece)
    if match is None:
        raise errors.invalid_field(
            "piece", "content.unknown_piece",
            f"Không có mục nội dung '{piece}'.",
            f"No content piece '{piece}' (request_letter, satisfaction, security, field_survey,"
            " posting.<level>, vote.commune_board|council, sector_review.<criterion>).",
        )  # fmt: skip
    value = _validated(_piece_model(piece), body, piece)
    row = await _row(session, dossier_id, lock=True)
    _require_scope(actor, row)
    d = engine_dossier(row)
    level = editable_by(wf, d)
    if level is None or actor.level != level:
        raise errors.NotEditable(actor.level, level, row["step"])
    if actor.level not in _piece_levels(piece, row["unit_level"]):
        raise errors.NotEditable(actor.level, ", ".join(_piece_levels(piece, row["unit_level"])),
                                 piece)  # fmt: skip
    content = dict(row["content"])
    key, sub = _content_path(piece)
    if sub is None:
        before = content.get(key)
        content[key] = value
    else:
        group = dict(content.get(key) or {})
        before = group.get(sub)
        group[sub] = value
        content[key] = group
    await _append(
        session, row, actor, f"content.{piece}", before, value, {"content": content},
        expected_version,
    )  # fmt: skip
    return await get_dossier(session, wf, dossier_id, today)


async def check_sector(
    session: AsyncSession,
    ups: Upstreams,
    dossier_id: uuid.UUID,
    piece: str,
    actor: Actor,
    sectors: frozenset[str],
) -> None:
    """An appraiser whose token names sectors reviews only their criteria (each criterion's
    `sector` in the dossier's criteria set, from the criteria service); one without sectors
    reviews any. Other pieces and roles are the workflow's to judge."""
    head, _, number = piece.partition(".")
    if actor.role != "appraiser" or not sectors or head != "sector_review" or not number.isdigit():
        return
    row = await _row(session, dossier_id)
    found = await ups.criteria_set(row["set_code"]) or {}
    sector = next(
        (c.get("sector") for c in found.get("criteria", []) if c.get("number") == int(number)),
        None,
    )
    if sector not in sectors:
        raise errors.SectorForbidden(int(number), sector, sorted(sectors))


async def add_comment(
    session: AsyncSession, dossier_id: uuid.UUID, body: CommentIn, actor: Actor
) -> CommentOut:
    row = await _row(session, dossier_id)
    _require_scope(actor, row)
    c = await DossierRepository(session).add_comment(
        dossier_id, row["step"], body.criterion, body.body, actor.subject, actor.role,
        actor.unit_code,
    )  # fmt: skip
    return CommentOut.model_validate(dict(c))


async def comments(
    session: AsyncSession, dossier_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[CommentOut]:
    await _row(session, dossier_id)
    rows, total = await DossierRepository(session).comments(dossier_id, id_after(cursor), limit + 1)
    page, next_cursor = keyset_page(rows, limit, lambda r: [r["id"]])
    items = [CommentOut.model_validate(dict(r)) for r in page]
    return Page(items=items, next_cursor=next_cursor, total_count=total)


# --- acting ----------------------------------------------------------------------------------


def _debt_evidence(debt: Mapping[str, Any] | None, as_of: date) -> DebtEvidence | None:
    """The funding service's `total_debt` (integer VND) as of its `as_of`."""
    if debt is None:
        return None
    for key in ("total_debt", "outstanding_vnd", "total_vnd"):
        if isinstance(debt.get(key), int):
            raw_as_of = debt.get("as_of")
            on = date.fromisoformat(raw_as_of) if isinstance(raw_as_of, str) else as_of
            return DebtEvidence(total_vnd=debt[key], as_of=on)
    return None


def _conditions(
    wf: Workflow,
    row: RowMapping,
    evaluation: Mapping[str, Any] | None,
    debt: Mapping[str, Any] | None,
) -> tuple[Any, ...]:
    content = row["content"]
    ev = None
    if evaluation is not None:
        ev = EvaluationEvidence(
            meets_standard=bool(evaluation.get("meets_standard")),
            criteria_met=int(evaluation.get("criteria_met") or 0),
            criteria_total=int(evaluation.get("criteria_total") or 0),
            unknown_criteria=int(evaluation.get("criteria_unknown") or 0),
            snapshot_hash=sha256_hex(evaluation),
        )
    sat = None
    if survey := content.get("satisfaction"):
        from decimal import Decimal

        sat = SatisfactionEvidence(
            households_surveyed=survey["households_surveyed"],
            households_total=survey.get("households_total"),
            satisfied_share=Decimal(str(survey["satisfied_share"])),
        )
    sec = None
    if s := content.get("security"):
        sec = SecurityEvidence(
            stable=s["stable"], attested_by=s["attested_by"],
            attested_on=date.fromisoformat(s["attested_on"]),
        )  # fmt: skip
    coverage = {
        "commune": wf.parameter("commune_survey_coverage"),
        "district": wf.parameter("district_survey_coverage"),
    }.get(row["unit_level"])
    return tuple(
        check_conditions(
            evaluation=ev,
            satisfaction=sat,
            debt=_debt_evidence(debt, row["unit_as_of"]),
            security=sec,
            satisfaction_threshold=wf.parameter("satisfaction_share"),
            survey_coverage=coverage,
        )
    )


def _criteria_numbers(evaluation: Mapping[str, Any] | None) -> tuple[int, ...]:
    if not evaluation:
        return ()
    return tuple(int(c["number"]) for c in evaluation.get("criteria", []))


async def act(
    session: AsyncSession,
    ups: Upstreams,
    wf: Workflow,
    key: SigningKey,
    dossier_id: uuid.UUID,
    body: ActionIn,
    actor: Actor,
    today: date,
    expected_version: int | None,
) -> DossierOut:
    row = await _row(session, dossier_id, lock=True)
    _require_scope(actor, row)
    d = engine_dossier(row)
    action = Action(body.action)
    first = decide(wf, d, action, actor, {}, today)
    if isinstance(first, Refusal):
        raise errors.workflow_refusal(first.code, first.message_vi, first.message_en, (), {})
    flow = wf.flow_for(d.title, d.kind)
    step = flow.step(d.step)
    gates = step.actions[action].gates
    ends_in_decision = first.to_step in ("recognised", "revoked")
    if body.decision is not None and not ends_in_decision:
        raise errors.invalid_field(
            "decision", "decision.not_expected",
            "Chỉ ghi quyết định khi thông qua ở bước quyết định.",
            "A decision is recorded only when approving at the decision step.",
        )  # fmt: skip
    fields: dict[str, Any] = {}
    submitted = row["submitted_evaluation"]
    if "evaluation_snapshot" in gates:
        fetched = await ups.evaluation(row["unit_code"], row["set_code"], row["year"],
                                       row["unit_as_of"])  # fmt: skip
        if fetched is not None:
            submitted = normalised(fetched)
            fields["submitted_evaluation"] = submitted
            fields["submitted_evaluation_hash"] = sha256_hex(submitted)
    conditions = None
    if "recognition_conditions" in gates:
        evaluation = await ups.evaluation(row["unit_code"], row["set_code"], row["year"],
                                          row["unit_as_of"])  # fmt: skip
        debt = await ups.construction_debt(row["unit_code"], row["unit_as_of"])
        if evaluation is not None:
            evaluation = normalised(evaluation)
            fields["decision_evaluation"] = evaluation
            fields["decision_evaluation_hash"] = sha256_hex(evaluation)
        if debt is not None:
            debt = normalised(debt)
            fields["construction_debt"] = debt
            fields["construction_debt_hash"] = sha256_hex(debt)
        conditions = _conditions(wf, row, evaluation, debt)
    level = d.unit_level if step.acting_level == "own" else step.acting_level
    evidence = Evidence(
        content=row["content"],
        posting_level=level,
        today=today,
        has_evaluation_snapshot=submitted is not None,
        snapshot_criteria=_criteria_numbers(submitted),
        conditions=conditions,
        decision_given=body.decision is not None,
    )
    failed = failed_gates(wf, gates, evidence)
    result = decide(wf, d, action, actor, failed, today)
    if isinstance(result, Refusal):
        raise errors.workflow_refusal(
            result.code, result.message_vi, result.message_en, result.gates, failed
        )
    fields.update(
        {
            "step": result.to_step,
            "step_entered_on": today,
            "due_on": result.due_on,
            "status": STATUS_OF.get(result.to_step, "open"),
        }
    )
    after: dict[str, Any] = {"step": result.to_step, "status": fields["status"],
                             "due_on": result.due_on}  # fmt: skip
    for col in ("submitted_evaluation_hash", "decision_evaluation_hash", "construction_debt_hash"):
        if col in fields:
            after[col] = fields[col]
    if conditions is not None:
        after["conditions"] = [{"number": c.number, "met": c.met} for c in conditions]
    if body.comment:
        await DossierRepository(session).add_comment(
            dossier_id, row["step"], None, body.comment, actor.subject, actor.role,
            actor.unit_code,
        )  # fmt: skip
        after["comment"] = body.comment
    if ends_in_decision:
        assert body.decision is not None  # the decision_recorded gate passed
        after["decision_id"] = await _decide(
            session, key, row, {**fields}, body, actor, kind=d.kind
        )
    await _append(
        session, row, actor, f"action.{action.value}",
        {"step": row["step"], "status": row["status"]}, after, fields, expected_version,
    )  # fmt: skip
    return await get_dossier(session, wf, dossier_id, today)


async def _decide(
    session: AsyncSession,
    key: SigningKey,
    row: RowMapping,
    fields: Mapping[str, Any],
    body: ActionIn,
    actor: Actor,
    *,
    kind: str,
) -> str:
    """Sign the decision record and write it with its outbox event (same transaction)."""
    assert body.decision is not None
    dec = body.decision
    decision_id = uuid.uuid4()
    effective = dec.effective_on or dec.date
    record = normalised(
        {
            "decision_id": str(decision_id),
            "kind": kind,
            "dossier_id": str(row["id"]),
            "number": dec.number,
            "date": dec.date.isoformat(),
            "signer": dec.signer,
            "effective_on": effective.isoformat(),
            "pdf_ref": dec.pdf_ref,
            "unit": {"code": row["unit_code"], "name": row["unit_name"],
                     "edition": row["unit_edition"], "as_of": row["unit_as_of"].isoformat()},
            "title": row["title"],
            "year": row["year"],
            "set": row["set_code"],
            "evaluation_hash": fields.get("decision_evaluation_hash"),
            "construction_debt_hash": fields.get("construction_debt_hash"),
            "revocation_grounds": row["revocation_grounds"],
            "audit_head": bytes(row["audit_head"]).hex(),
            "issued_by": {"subject": actor.subject, "role": actor.role, "unit": actor.unit_code},
            "key_id": key.key_id,
        }
    )  # fmt: skip
    signature = key.sign(audit.canonical(record))
    await DecisionRepository(session).insert(
        decision_id=decision_id, dossier_id=row["id"], kind=kind, number=dec.number,
        on=dec.date, signer=dec.signer, effective_on=effective, pdf_ref=dec.pdf_ref,
        record=record, signature=signature, key_id=key.key_id,
    )  # fmt: skip
    event_id = uuid.uuid4()
    event_type = "recognition.granted" if kind == "recognition" else "recognition.revoked"
    payload = {
        "event_id": str(event_id),
        "type": event_type,
        "unit": row["unit_code"],
        "unit_as_of": row["unit_as_of"].isoformat(),
        "title": row["title"],
        "year": row["year"],
        "decision": {"number": dec.number, "date": dec.date.isoformat(),
                     "effective_on": effective.isoformat()},
    }  # fmt: skip
    await OutboxRepository(session).add(event_id, event_type, payload)
    if kind == "revocation" and row["revokes_dossier_id"] is not None:
        revoked = await _row(session, row["revokes_dossier_id"], lock=True)
        await _append(
            session, revoked, actor, "revoked",
            {"status": revoked["status"]},
            {"status": "revoked", "decision_id": str(decision_id), "by_dossier": str(row["id"])},
            {"status": "revoked"},
        )  # fmt: skip
    return str(decision_id)


async def get_decision(session: AsyncSession, decision_id: uuid.UUID) -> DecisionOut:
    row = await DecisionRepository(session).get(decision_id)
    if row is None:
        raise errors.DecisionNotFound(decision_id)
    return DecisionOut(
        id=row["id"],
        dossier_id=row["dossier_id"],
        kind=row["kind"],
        number=row["number"],
        date=row["date"],
        signer=row["signer"],
        effective_on=row["effective_on"],
        pdf_ref=row["pdf_ref"],
        record=row["record"],
        signed_bytes=audit.canonical(row["record"]).decode(),
        signature=base64.b64encode(bytes(row["signature"])).decode(),
        key_id=row["key_id"],
    )


# --- the task inbox --------------------------------------------------------------------------


async def tasks(
    session: AsyncSession,
    wf: Workflow,
    role: str,
    level: str,
    unit: str | None,
    today: date,
    *,
    cursor: str | None,
    limit: int,
) -> Page[TaskOut]:
    """Open dossiers waiting at a step this role at this level acts on, within the unit's
    scope (the unit and everything below it; all for the central level), the soonest due
    first."""
    keys: list[tuple[str, str, str]] = []
    actions: dict[tuple[str, str, str], list[str]] = {}
    for flow in wf.flows:
        for step in flow.steps:
            acting = flow.applies_to if step.acting_level == "own" else step.acting_level
            if role in step.roles and acting == level:
                k = (flow.kind, flow.applies_to, step.id)
                keys.append(k)
                actions[k] = [a.value for a in step.actions]
    if level != "central" and unit is None:
        raise errors.invalid_field(
            "unit", "tasks.unit_required", "Cần mã đơn vị (unit) cho cấp dưới trung ương.",
            "A unit code is required below the central level.",
        )  # fmt: skip
    after = cursor_after(cursor, date.fromisoformat, datetime.fromisoformat, uuid.UUID)
    rows, total = await DossierRepository(session).open_in_scope(
        keys, None if level == "central" else unit, after, limit + 1
    )
    page, next_cursor = keyset_page(
        rows,
        limit,
        lambda r: [(r["due_on"] or UNDATED).isoformat(), r["created_at"].isoformat(), str(r["id"])],
    )
    out = []
    for r in page:
        d = engine_dossier(r)
        out.append(
            TaskOut(
                dossier_id=r["id"],
                unit=r["unit_code"],
                unit_name=r["unit_name"],
                title=r["title"],
                year=r["year"],
                kind=r["kind"],
                step=r["step"],
                step_name_vi=wf.flow_for(d.title, d.kind).step(d.step).name_vi,
                actions=actions[(r["kind"], r["unit_level"], r["step"])],
                due_on=r["due_on"],
                overdue=overdue(wf, d, today),
            )
        )
    return Page(items=out, next_cursor=next_cursor, total_count=total)
