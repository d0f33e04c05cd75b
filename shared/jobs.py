"""Background import jobs shared by the services (contract.md, "Bulk import": large bodies
answer `202` with a job URL whose JSON shows progress, then the summary).

Extracted from the criteria service's runner so that every service with an `import_jobs`
table of the same shape (criteria, funding) uses one implementation: a job row committed at
once (pollers see it), one background task per job holding the spooled body, one transaction
for the data (so atomic semantics hold) and short ones for progress, a bounded number of jobs
running at once per app, and a heartbeat (`updated_at`) by which a job whose process died
reads as failed.

A service describes its import with a `JobSpec` (its schema, the import kind, the function
that imports a body in a session) and calls `start_job` / `get_job`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.authz import (
    OFFICERS,
    Rule,
    UnitSource,
    principal_of,
    read,
    resolved,
    row_scope,
    write,
)
from shared.bulk import (
    ImportFormat,
    ImportLimits,
    ImportMode,
    ImportSummary,
    RowError,
    SpooledBody,
    check_csv_header,
    format_of,
    spool_body,
    summary_problem_response,
)
from shared.db import Database, database_of
from shared.errors import InvalidInput, NotFound, ProblemError
from shared.logging import current_request_id

log = logging.getLogger("ntm.jobs")

__all__ = [
    "STALE_AFTER_S",
    "ImportJobOut",
    "ImportJobRepository",
    "ImportOptions",
    "JobNotFound",
    "JobProblem",
    "JobSpec",
    "JobStatus",
    "Progress",
    "UnitCheck",
    "UnknownImportKind",
    "get_job",
    "handle_import",
    "import_rules",
    "job_url",
    "refused",
    "rejected_problem",
    "start_job",
]

# A running job writes progress at least every few seconds, except during its final INSERT
# (tens of seconds for a million rows): ten silent minutes mean its process died. Its data
# transaction died with it, so nothing was half-applied.
STALE_AFTER_S = 600


# --------------------------------------------------------------------------- models


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class JobProblem(BaseModel):
    """Why a job failed as a whole (not row by row): a problem+json code and both messages."""

    code: str = Field(examples=["import.rejected"])
    message_vi: str
    message_en: str


class ImportJobOut(BaseModel):
    """A large import processed in the background: its progress, then its summary."""

    id: uuid.UUID
    url: str = Field(description="Where to poll this job", examples=["/v1/imports/jobs/…"])
    kind: str = Field(examples=["transfers"])
    status: JobStatus
    dry_run: bool
    mode: ImportMode
    total: int = Field(
        description="Rows in the body: an estimate (its line count) until the job ends"
    )
    processed: int = Field(description="Rows read and checked so far")
    created: int
    updated: int
    ignored: int
    rejected: int
    errors: list[RowError] = Field(description="Rejected rows in line order (at most 1000)")
    errors_truncated: bool
    problem: JobProblem | None = Field(
        default=None, description="Set when the job failed: why nothing was imported"
    )
    summary: ImportSummary | None = Field(
        default=None, description="The import summary, once the job has finished"
    )
    recorded_by: str | None = Field(
        description="Who submitted it: the subject of the submitter's token",
        examples=["nguyen-van-a"],
    )
    submitter_unit: str | None = Field(
        description="The unit the submitter's role is bound to (null: the whole country). "
        "Besides the submitter, only callers whose scope covers this unit read the job.",
        examples=["38"],
    )
    request_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


UnitCheck = Callable[[int, str], RowError | None]
"""A row's line and unit code -> its rejection when the unit is outside the caller's scope."""


@dataclass(frozen=True)
class ImportOptions:
    dry_run: bool = False
    mode: ImportMode = ImportMode.atomic
    recorded_by: str | None = None
    unit_check: UnitCheck | None = None  # set by `handle_import` from the caller's scope
    submitter_unit: str | None = None  # set by `handle_import`: the caller's unit (None: national)


def refused(summary: ImportSummary) -> bool:
    """An atomic import with a rejected row writes nothing."""
    return summary.mode is ImportMode.atomic and summary.rejected > 0


def rejected_problem(summary: ImportSummary) -> ProblemError:
    """The 422 of an atomic import refused because of rejected rows."""
    return InvalidInput(
        f"{summary.rejected} dòng không hợp lệ; không dòng nào được ghi (chế độ atomic).",
        f"{summary.rejected} invalid row(s); nothing was recorded (atomic mode).",
        code="import.rejected",
        errors=[e.as_field_error() for e in summary.errors],
    )


class UnknownImportKind(NotFound):
    code = "import.kind_unknown"

    def __init__(self, kind: str, known: str) -> None:
        super().__init__(
            f"Không có loại dữ liệu nhập '{kind}'; dịch vụ này nhận: {known}.",
            f"No import kind '{kind}'; this service takes: {known}.",
        )


class JobNotFound(NotFound):
    code = "import_job.not_found"

    def __init__(self, job_id: uuid.UUID) -> None:
        super().__init__(
            f"Không tìm thấy lượt nhập dữ liệu '{job_id}'.", f"No import job '{job_id}'."
        )


# --------------------------------------------------------------------------- the table

JOB_COLUMNS = (
    "id, kind, status, dry_run, mode, total, processed, created, updated, ignored, rejected,"
    " errors, errors_truncated, problem, recorded_by, submitter_unit, request_id, created_at,"
    " started_at,"
    " finished_at, updated_at"
)
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]*$")

_INTERRUPTED = {
    "code": "import.interrupted",
    "message_vi": "Lượt nhập bị gián đoạn (tiến trình xử lý đã dừng); "
    "không dòng nào được ghi, vui lòng gửi lại tệp.",
    "message_en": "The import was interrupted (its process stopped); "
    "nothing was recorded, please send the file again.",
}


class ImportJobRepository:
    """Rows of `<schema>.import_jobs`; each call is meant for its own short transaction."""

    def __init__(self, session: AsyncSession, schema: str) -> None:
        if _SCHEMA.fullmatch(schema) is None:  # pragma: no cover - a wiring error
            raise ValueError(f"not a schema name: {schema!r}")
        self.session = session
        self.table = f"{schema}.import_jobs"

    async def create(
        self,
        job_id: uuid.UUID,
        *,
        kind: str,
        dry_run: bool,
        mode: str,
        total: int,
        recorded_by: str | None,
        submitter_unit: str | None,
        request_id: str | None,
    ) -> None:
        await self.session.execute(
            text(
                f"INSERT INTO {self.table} (id, kind, status, dry_run, mode, total,"
                " processed, created, updated, ignored, rejected, errors, errors_truncated,"
                " recorded_by, submitter_unit, request_id)"
                " VALUES (:id, :kind, 'queued', :dry_run, :mode, :total, 0, 0, 0, 0, 0,"
                " CAST('[]' AS jsonb), false, :by, :unit, :rid)"
            ),
            {
                "id": job_id,
                "kind": kind,
                "dry_run": dry_run,
                "mode": mode,
                "total": total,
                "by": recorded_by,
                "unit": submitter_unit,
                "rid": request_id,
            },
        )

    async def get(self, job_id: uuid.UUID) -> RowMapping | None:
        result = await self.session.execute(
            text(f"SELECT {JOB_COLUMNS} FROM {self.table} WHERE id = :id"), {"id": job_id}
        )
        return result.mappings().first()

    async def submitter(self, job_id: uuid.UUID) -> RowMapping | None:
        """Who submitted the job (`recorded_by`) and the unit of their role."""
        result = await self.session.execute(
            text(f"SELECT recorded_by, submitter_unit FROM {self.table} WHERE id = :id"),
            {"id": job_id},
        )
        return result.mappings().first()

    async def start(self, job_id: uuid.UUID) -> None:
        await self.session.execute(
            text(
                f"UPDATE {self.table} SET status = 'running', started_at = now(),"
                " updated_at = now() WHERE id = :id"
            ),
            {"id": job_id},
        )

    async def progress(self, job_id: uuid.UUID, processed: int, rejected: int) -> None:
        await self.session.execute(
            text(
                f"UPDATE {self.table} SET processed = :p, rejected = :r,"
                " total = GREATEST(total, :p), updated_at = now() WHERE id = :id"
            ),
            {"id": job_id, "p": processed, "r": rejected},
        )

    async def fail_if_stale(self, job_id: uuid.UUID, stale_after_s: int) -> None:
        """A running job whose heartbeat (`updated_at`) stopped: its process died."""
        await self.session.execute(
            text(
                f"UPDATE {self.table} SET status = 'failed', finished_at = now(),"
                " updated_at = now(), problem = CAST(:problem AS jsonb)"
                " WHERE id = :id AND status = 'running'"
                " AND updated_at < now() - make_interval(secs => :secs)"
            ),
            {"id": job_id, "secs": stale_after_s, "problem": orjson.dumps(_INTERRUPTED).decode()},
        )

    async def finish(
        self,
        job_id: uuid.UUID,
        *,
        status: str,
        counts: dict[str, int] | None,
        errors: Sequence[dict[str, Any]],
        errors_truncated: bool,
        problem: dict[str, str] | None,
    ) -> None:
        params: dict[str, Any] = {
            "id": job_id,
            "status": status,
            "errors": orjson.dumps(list(errors)).decode(),
            "trunc": errors_truncated,
            "problem": orjson.dumps(problem).decode() if problem is not None else None,
        }
        assignments = ""
        if counts is not None:
            assignments = (
                " total = :total, processed = :total, created = :created, updated = :updated,"
                " ignored = :ignored, rejected = :rejected,"
            )
            params |= counts
        await self.session.execute(
            text(
                f"UPDATE {self.table} SET status = :status,{assignments}"
                " errors = CAST(:errors AS jsonb), errors_truncated = :trunc,"
                " problem = CAST(:problem AS jsonb), finished_at = now(), updated_at = now()"
                " WHERE id = :id"
            ),
            params,
        )


# --------------------------------------------------------------------------- the runner

Progress = Callable[[int, int], Awaitable[None]]
"""Called after each chunk with the rows read and the rows rejected so far."""


class ImportFunction(Protocol):
    """Imports a body in the session's transaction (never committing) and returns its summary;
    `job_id` is the job it runs for, or None for an import answered at once."""

    def __call__(
        self,
        session: AsyncSession,
        chunks: AsyncIterable[bytes],
        fmt: ImportFormat,
        options: ImportOptions,
        progress: Progress | None,
        job_id: uuid.UUID | None,
    ) -> Awaitable[ImportSummary]: ...


@dataclass(frozen=True)
class JobSpec:
    """One kind of import that may run as a job."""

    schema: str  # the service's schema, holding `import_jobs`
    kind: str  # e.g. "transfers"
    run: ImportFunction
    progress_every_s: float = 1.0
    max_running: int = 2  # jobs running at once in one app; the others wait as `queued`


@dataclass
class _Jobs:
    """Background import tasks held by an app (so they are not garbage-collected)."""

    max_running: int
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.max_running)


def _jobs_of(app: FastAPI, spec: JobSpec) -> _Jobs:
    registry = getattr(app.state, "shared_import_jobs", None)
    if not isinstance(registry, dict):
        registry = {}
        app.state.shared_import_jobs = registry
    jobs = registry.get(spec.schema)
    if not isinstance(jobs, _Jobs):
        jobs = registry[spec.schema] = _Jobs(spec.max_running)
    return jobs


def job_url(root_path: str, job_id: uuid.UUID) -> str:
    return f"{root_path}/v1/imports/jobs/{job_id}"


def job_out(row: RowMapping, root_path: str) -> ImportJobOut:
    errors = [RowError.model_validate(e) for e in row["errors"]]
    finished = row["status"] in (JobStatus.succeeded, JobStatus.failed)
    problem = JobProblem.model_validate(row["problem"]) if row["problem"] else None
    summary = None
    # a job refused row by row has a summary; one that failed as a whole has none
    if finished and (problem is None or problem.code == "import.rejected"):
        summary = ImportSummary(
            kind=row["kind"],
            dry_run=row["dry_run"],
            mode=row["mode"],
            total=row["total"],
            created=row["created"],
            updated=row["updated"],
            ignored=row["ignored"],
            rejected=row["rejected"],
            errors=errors,
            errors_truncated=row["errors_truncated"],
        )
    return ImportJobOut(
        id=row["id"],
        url=job_url(root_path, row["id"]),
        kind=row["kind"],
        status=row["status"],
        dry_run=row["dry_run"],
        mode=row["mode"],
        total=row["total"],
        processed=row["processed"],
        created=row["created"],
        updated=row["updated"],
        ignored=row["ignored"],
        rejected=row["rejected"],
        errors=errors,
        errors_truncated=row["errors_truncated"],
        problem=problem,
        summary=summary,
        recorded_by=row["recorded_by"],
        submitter_unit=row["submitter_unit"],
        request_id=row["request_id"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


async def get_job(
    session: AsyncSession, schema: str, job_id: uuid.UUID, root_path: str
) -> ImportJobOut:
    jobs = ImportJobRepository(session, schema)
    await jobs.fail_if_stale(job_id, STALE_AFTER_S)
    row = await jobs.get(job_id)
    if row is None:
        raise JobNotFound(job_id)
    return job_out(row, root_path)


async def start_job(
    app: FastAPI,
    db: Database,
    spec: JobSpec,
    body: SpooledBody,
    fmt: ImportFormat,
    options: ImportOptions,
    root_path: str,
) -> ImportJobOut:
    """Record a queued job (committed at once, so pollers see it) and start its task, which
    owns `body` from here on."""
    job_id = uuid.uuid4()
    estimate = max(body.lines - (1 if fmt is ImportFormat.csv else 0), 0)
    try:
        async for session in db.session_scope():
            jobs = ImportJobRepository(session, spec.schema)
            await jobs.create(
                job_id,
                kind=spec.kind,
                dry_run=options.dry_run,
                mode=options.mode.value,
                total=estimate,
                recorded_by=options.recorded_by,
                submitter_unit=options.submitter_unit,
                request_id=current_request_id(),
            )
            row = await jobs.get(job_id)
    except BaseException:
        body.close()
        raise
    assert row is not None
    state = _jobs_of(app, spec)
    task = asyncio.create_task(_run_job(db, spec, state, job_id, body, fmt, options))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)
    return job_out(row, root_path)


async def _finish(
    db: Database,
    spec: JobSpec,
    job_id: uuid.UUID,
    status: JobStatus,
    summary: ImportSummary | None,
    problem: ProblemError | None,
) -> None:
    counts = None
    errors: list[dict[str, Any]] = []
    truncated = False
    if summary is not None:
        counts = {
            "total": summary.total,
            "created": summary.created,
            "updated": summary.updated,
            "ignored": summary.ignored,
            "rejected": summary.rejected,
        }
        errors = [e.model_dump() for e in summary.errors]
        truncated = summary.errors_truncated
    elif problem is not None and problem.errors:
        errors = [
            {
                "line": e.row or 0,
                "field": e.field,
                "code": e.code,
                "message_vi": e.message_vi,
                "message_en": e.message_en,
            }
            for e in problem.errors
        ]
    async for session in db.session_scope():
        await ImportJobRepository(session, spec.schema).finish(
            job_id,
            status=status.value,
            counts=counts,
            errors=errors,
            errors_truncated=truncated,
            problem=(
                {
                    "code": problem.code,
                    "message_vi": problem.message_vi,
                    "message_en": problem.message_en,
                }
                if problem is not None
                else None
            ),
        )


async def _run_job(
    db: Database,
    spec: JobSpec,
    state: _Jobs,
    job_id: uuid.UUID,
    body: SpooledBody,
    fmt: ImportFormat,
    options: ImportOptions,
) -> None:
    """The job's task: one transaction for the data, short ones for its progress."""
    last = time.monotonic()

    async def progress(processed: int, rejected: int) -> None:
        nonlocal last
        if time.monotonic() - last < spec.progress_every_s:
            return
        last = time.monotonic()
        async for session in db.session_scope():
            await ImportJobRepository(session, spec.schema).progress(job_id, processed, rejected)

    try:
        async with state.slots:
            async for session in db.session_scope():
                await ImportJobRepository(session, spec.schema).start(job_id)
            summary: ImportSummary | None = None
            async for session in db.session_scope():
                summary = await spec.run(session, body.chunks(), fmt, options, progress, job_id)
            assert summary is not None
            if refused(summary) and not options.dry_run:
                problem = rejected_problem(summary)
                await _finish(db, spec, job_id, JobStatus.failed, summary, problem)
            else:
                await _finish(db, spec, job_id, JobStatus.succeeded, summary, None)
    except ProblemError as exc:
        await _finish(db, spec, job_id, JobStatus.failed, None, exc)
    except asyncio.CancelledError:
        interrupted = ProblemError(
            "Lượt nhập bị dừng khi dịch vụ tắt; không dòng nào được ghi. Hãy gửi lại tệp.",
            "The import was stopped when the service shut down; nothing was recorded. "
            "Send the file again.",
            code="import.interrupted",
        )
        with contextlib.suppress(Exception):
            await asyncio.shield(_finish(db, spec, job_id, JobStatus.failed, None, interrupted))
        raise
    except Exception:
        log.exception("import job failed", extra={"job_id": str(job_id)})
        internal = ProblemError(
            "Lỗi hệ thống khi nhập dữ liệu; không dòng nào được ghi. Hãy báo mã lượt nhập.",
            "Internal error during the import; nothing was recorded. Please report the job id.",
            code="internal_error",
        )
        try:
            await _finish(db, spec, job_id, JobStatus.failed, None, internal)
        except Exception:
            log.exception("could not record the failure of import job %s", job_id)
    finally:
        body.close()


# --------------------------------------------------------------------------- who reads a job


def job_readers(schema: str) -> UnitSource:
    """The units a job read is judged by (shared.authz): the submitter's unit, so that a
    caller whose scope covers it reads the job and anyone else is refused as out of scope; a
    job submitted nationally (no unit) is read by national callers only. The submitter always
    reads their own job. An unknown or malformed id is nothing to check: the route answers
    404 or 422 as it would to anyone."""

    async def resolver(request: Request) -> Sequence[str] | None:
        try:
            job_id = uuid.UUID(str(request.path_params.get("job_id")))
        except ValueError:
            return None
        async for session in database_of(request).session_scope():
            found = await ImportJobRepository(session, schema).submitter(job_id)
            if found is None:
                return None
            principal = principal_of(request)
            if principal is not None and found["recorded_by"] == principal.subject:
                return None
            unit: str | None = found["submitter_unit"]
            return [unit] if unit else []
        return None  # pragma: no cover - session_scope yields once

    return resolved(resolver, national_when_absent=True)


def import_rules(
    kind: str, scope: str, schema: str, roles: Iterable[str] = OFFICERS
) -> dict[str, Rule]:
    """The routes of a service's bulk import: the import itself, its job, and the unknown
    kinds. The rows' units are checked one by one (`row_scope`); a job is read by the
    auditor too, within the scope `job_readers` gives it."""
    return {
        f"POST /v1/imports/{kind}": write(roles, scope=scope),
        "GET /v1/imports/jobs/{job_id}": read(
            job_readers(schema), roles={*roles, "auditor"}, scope=scope
        ),
        "POST /v1/imports/{kind}": write(roles, scope=scope),
    }


# --------------------------------------------------------------------------- the endpoint


def root_path(request: Request) -> str:
    """Where the app is mounted (`/criteria`, `/funding` in the embedded process, or '')."""
    return str(request.scope.get("root_path", "")).rstrip("/")


async def handle_import(
    request: Request,
    session: AsyncSession,
    *,
    spec: JobSpec,
    options: ImportOptions,
    limits: ImportLimits,
    csv_columns: Sequence[str],
    job_threshold_bytes: int,
    job_threshold_rows: int,
) -> Response:
    """The body of every `POST /v1/imports/{kind}`: spool the body under the limits, check a
    CSV header before anything else, then import at once (the summary, or a 422 naming the
    rejected rows of an atomic import) or, for a large body, start a job (202 + Location).
    Rows whose unit is outside the caller's scope are rejected rows (`auth.out_of_scope`)."""
    principal = principal_of(request)
    options = replace(
        options,
        unit_check=await row_scope(request),
        submitter_unit=principal.unit if principal is not None else None,
    )
    fmt = format_of(request.headers.get("content-type"))
    body = await spool_body(
        request.stream(),
        limits=limits,
        memory_bytes=job_threshold_bytes,
        content_length=request.headers.get("content-length"),
    )
    owned = True
    try:
        if fmt is ImportFormat.csv:
            await check_csv_header(body, tuple(csv_columns), limits)
        if body.size > job_threshold_bytes or body.lines > job_threshold_rows:
            owned = False  # the job's task closes the spool
            job = await start_job(
                request.app, database_of(request), spec, body, fmt, options, root_path(request)
            )
            return JSONResponse(
                job.model_dump(mode="json"),
                status_code=202,
                headers={"Location": job.url, "Retry-After": "1"},
            )
        summary = await spec.run(session, body.chunks(), fmt, options, None, None)
    finally:
        if owned:
            body.close()
    if refused(summary) and not options.dry_run:
        return summary_problem_response(request, rejected_problem(summary), summary)
    return JSONResponse(summary.model_dump(mode="json"))
