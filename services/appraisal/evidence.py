"""Evidence files of a dossier: upload (hashed while copied, type checked from the bytes,
stored once by digest), listing and download within the actor's scope. Each new citation is
an entry in the dossier's audit chain; an upload is refused while the dossier is locked
against the actor's level, like any other edit."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import IO

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.appraisal import errors
from services.appraisal.domain.evidence import SNIFF_BYTES, clean_filename, detect
from services.appraisal.domain.workflow import Actor, Workflow, editable_by
from services.appraisal.repository import EvidenceRepository
from services.appraisal.schemas import EvidenceOut
from services.appraisal.service import _append, _require_scope, _row, engine_dossier, in_scope
from services.appraisal.storage import EvidenceStore, Staged, TooLarge
from shared.pagination import Page, id_after, keyset_page


@dataclass(frozen=True)
class Upload:
    file: IO[bytes]
    filename: str | None
    criterion: int | None
    indicator: str | None


def evidence_out(row: RowMapping, *, created: bool) -> EvidenceOut:
    return EvidenceOut.model_validate(
        {**dict(row), "created": created, "download": f"/v1/evidence/{row['sha256']}"}
    )


def _require_editable(wf: Workflow, row: RowMapping, actor: Actor) -> None:
    _require_scope(actor, row)
    level = editable_by(wf, engine_dossier(row))
    if level is None or actor.level != level:
        raise errors.NotEditable(actor.level, level, row["step"])


def _detect(staged: Staged) -> str | None:
    with staged.path.open("rb") as fh:
        return detect(staged.head[:SNIFF_BYTES], fh)


async def precheck(
    session: AsyncSession, wf: Workflow, dossier_id: uuid.UUID, actor: Actor
) -> None:
    """Refuse before the body is read when the actor could not upload anyway."""
    _require_editable(wf, await _row(session, dossier_id), actor)


async def upload(
    session: AsyncSession,
    wf: Workflow,
    store: EvidenceStore,
    dossier_id: uuid.UUID,
    up: Upload,
    actor: Actor,
    *,
    max_bytes: int,
    allowed: list[str],
    expected_version: int | None,
) -> EvidenceOut:
    try:
        staged = await asyncio.to_thread(store.stage, up.file, max_bytes)
    except TooLarge:
        raise errors.EvidenceTooLarge(max_bytes) from None
    try:
        content_type = await asyncio.to_thread(_detect, staged)
        if content_type is None or content_type not in allowed:
            raise errors.UnsupportedEvidenceType(allowed)
        row = await _row(session, dossier_id, lock=True)
        _require_editable(wf, row, actor)
        repo = EvidenceRepository(session)
        filename = clean_filename(up.filename)
        await asyncio.to_thread(store.commit, staged)
    finally:
        store.discard(staged)  # nothing left to remove once committed
    await repo.add_blob(staged.sha256, staged.size, content_type)
    new_id = await repo.cite(
        dossier_id=dossier_id, sha256=staged.sha256, filename=filename, criterion=up.criterion,
        indicator=up.indicator, step=row["step"], uploaded_by=actor.subject, role=actor.role,
        unit=actor.unit_code,
    )  # fmt: skip
    if new_id is None:
        existing = await repo.citation(dossier_id, staged.sha256, up.criterion, up.indicator)
        assert existing is not None
        return evidence_out(existing, created=False)
    after = {
        "evidence_id": new_id, "sha256": staged.sha256, "filename": filename,
        "content_type": content_type, "size": staged.size, "criterion": up.criterion,
        "indicator": up.indicator,
    }  # fmt: skip
    await _append(session, row, actor, "evidence.added", None, after, {}, expected_version)
    return evidence_out(await repo.get(new_id), created=True)


async def list_evidence(
    session: AsyncSession,
    dossier_id: uuid.UUID,
    actor: Actor,
    *,
    cursor: str | None,
    limit: int,
) -> Page[EvidenceOut]:
    row = await _row(session, dossier_id)
    _require_scope(actor, row)
    rows, total = await EvidenceRepository(session).of_dossier(
        dossier_id, id_after(cursor), limit + 1
    )
    page, next_cursor = keyset_page(rows, limit, lambda r: [r["id"]])
    return Page(
        items=[evidence_out(r, created=False) for r in page],
        next_cursor=next_cursor,
        total_count=total,
    )


@dataclass(frozen=True)
class Download:
    sha256: str
    content_type: str
    size: int
    filename: str


async def download(
    session: AsyncSession, store: EvidenceStore, sha256: str, actor: Actor
) -> Download:
    """The blob, if a dossier citing it is in the actor's scope (403 otherwise)."""
    repo = EvidenceRepository(session)
    blob = await repo.blob(sha256)
    citing = await repo.citing_dossiers(sha256)
    if blob is None or not citing or not await asyncio.to_thread(store.exists, sha256):
        raise errors.EvidenceNotFound(sha256)
    visible = [c for c in citing if in_scope(actor, c["unit_path"])]
    if not visible:
        raise errors.OutOfScope(actor.unit_code, citing[0]["unit_code"])
    return Download(
        sha256=sha256,
        content_type=blob["content_type"],
        size=blob["size"],
        filename=visible[0]["filename"],
    )
