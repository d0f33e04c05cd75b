"""REST routes of bulk imports (contract.md, "Bulk import")."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from services.criteria import imports
from shared import jobs
from shared.authz import RecordedBy
from shared.bulk import (
    ImportMode,
    ImportSummary,
)
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.jobs import ImportJobOut

router = APIRouter(prefix="/v1", tags=["imports"])

_NDJSON_EXAMPLE = (
    '{"unit":"15592","set":"xa-ntm-2021","year":2023,"indicator":"2.1","value":true,'
    '"as_of":"2023-05-19"}\n'
    '{"unit":"15592","set":"xa-ntm-2021","year":2023,"indicator":"3.1","value":35.59,'
    '"as_of":"2023-05-19","evidence":["QĐ-12/UBND"],"note":"Theo báo cáo của xã"}\n'
)
_CSV_EXAMPLE = (
    "unit,set,year,indicator,value,as_of,evidence,note\n"
    "15592,xa-ntm-2021,2023,2.1,đạt,19/05/2023,,\n"
    '15592,xa-ntm-2021,2023,3.1,"35,59",19/05/2023,QĐ-12/UBND;BC-3,Theo báo cáo của xã\n'
)
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "example": _NDJSON_EXAMPLE,
            },
            "application/json-lines": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE},
        },
    }
}

_DESCRIPTION = f"""
Record many indicator values at once. One row per line (NDJSON) or per CSV record (header
required: `unit,set,year,indicator,value,as_of`, optionally `evidence` and `note`; the
delimiter may be `,`, `;` or a tab; UTF-8 with or without BOM).

Each row follows the rules of `POST /v1/indicator-values`: the unit valid on `as_of`, the set
of the unit's level, the indicator in the set and not derived, the value of its kind.

* **Values.** NDJSON: JSON `true`/`false` for boolean indicators, numbers for the others.
  CSV: `đạt`, `true`, `x`, `có` are true and `không đạt`, `chưa đạt`, `false`, `không` false
  (any case, with or without diacritics); anything else is a Vietnamese number (`35,59`,
  `1.234`, `35,59%`). Dates `dd/mm/yyyy` or `yyyy-mm-dd`. CSV evidence: ids separated by `;`.
* **Modes.** `mode=atomic` (default): one rejected row and nothing is written (422, naming
  every rejected line, field and code, with the summary). `mode=partial`: the valid rows are
  written and the rejected ones reported. `dry_run=true`: everything is checked, nothing
  written; the summary tells what would happen.
* **Idempotent.** A row whose value equals the latest version recorded for the same unit,
  set, year, indicator and `as_of` is `ignored`: sending a file again (after a timeout, say)
  creates nothing twice. Another value is a new version (`created`); history is append-only,
  so `updated` is always 0.
* **Large bodies** (over {imports.JOB_THRESHOLD_ROWS:,} lines or
  {imports.JOB_THRESHOLD_BYTES // (1024 * 1024)} MiB) answer `202` with a `Location` to poll
  (`GET /v1/imports/jobs/{{id}}`). Limits: {imports.LIMITS.max_bytes // (1024 * 1024)} MiB and
  {imports.LIMITS.max_rows:,} rows per body (413 beyond), one line at most
  {imports.LIMITS.max_line_bytes // 1024} KiB.
"""


@router.post(
    "/imports/indicator-values",
    response_model=ImportSummary,
    responses={
        202: {"model": ImportJobOut, "description": "A large body, imported in the background"},
        **problem_responses(404, 413, 415, 422),
    },
    summary="Import indicator values from NDJSON or CSV (atomic, partial or dry run)",
    description=_DESCRIPTION,
    openapi_extra=_BODY_DOC,
)
async def import_indicator_values(
    request: Request,
    session: SessionDep,
    recorded_by: RecordedBy,
    dry_run: Annotated[bool, Query(description="Check everything, write nothing")] = False,
    mode: Annotated[
        ImportMode, Query(description="`atomic`: all rows or none; `partial`: the valid rows")
    ] = ImportMode.atomic,
) -> Response:
    return await jobs.handle_import(
        request,
        session,
        spec=imports.job_spec(),
        options=jobs.ImportOptions(dry_run=dry_run, mode=mode, recorded_by=recorded_by),
        limits=imports.LIMITS,
        csv_columns=imports.CSV_COLUMNS,
        job_threshold_bytes=imports.JOB_THRESHOLD_BYTES,
        job_threshold_rows=imports.JOB_THRESHOLD_ROWS,
    )


@router.get(
    "/imports/jobs/{job_id}",
    response_model=ImportJobOut,
    responses=problem_responses(404, 422),
    summary="Progress of a background import, then its summary",
)
async def get_import_job(
    request: Request, session: SessionDep, job_id: Annotated[uuid.UUID, Path()]
) -> ImportJobOut:
    return await jobs.get_job(session, "criteria", job_id, jobs.root_path(request))


@router.post(
    "/imports/{kind}",
    responses=problem_responses(404),
    summary="Other import kinds: none yet in this service",
    include_in_schema=False,
)
async def unknown_kind(kind: Annotated[str, Path(max_length=64)]) -> Response:
    raise jobs.UnknownImportKind(kind, imports.KIND)
