"""REST routes of the funding service's bulk imports (contract.md, "Bulk import")."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from services.funding import imports
from services.funding.schemas.imports import ImportJobOut, ImportMode, ImportSummary
from shared import jobs
from shared.authz import RecordedBy
from shared.db import SessionDep
from shared.errors import problem_responses

router = APIRouter(prefix="/v1", tags=["imports"])


_NDJSON_EXAMPLE = (
    '{"external_id":"XM-2023-0001","unit":"15592","source":"NSTW-DT","amount":1250000000,'
    '"date":"2023-04-12"}\n'
    '{"external_id":"XM-2023-0002","unit":"15592","source":"CD-HV","date":"2023-05-02",'
    '"kind":"land","quantity":1200,"quantity_unit":"m2","households":35}\n'
)
_CSV_EXAMPLE = (
    "external_id,unit,source,amount,date,type,kind,quantity,quantity_unit,households,memo\n"
    "XM-2023-0001,15592,NSTW-DT,1.250.000.000,12/04/2023,receipt,,,,,\n"
    "XM-2023-0002,15592,CD-HV,,02/05/2023,,land,1.200,m2,35,Hiến đất làm đường\n"
)
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-ndjson": {"schema": {"type": "string"}, "example": _NDJSON_EXAMPLE},
            "application/json-lines": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE},
        },
    }
}

_DESCRIPTION = f"""
Post many transfers at once. One row per line (NDJSON) or per CSV record (header required:
`external_id,unit,source,date`, optionally `amount`, `type`, `kind`, `quantity`,
`quantity_unit`, `households`, `work`, `pledge`, `purpose`, `memo`; the delimiter may be `,`,
`;` or a tab; UTF-8 with or without BOM). Other fields and columns are ignored.

Each row follows the rules of `POST /v1/transfers` exactly: the unit valid on the date, a
known source in force on the date, dates in the programme (2021-01-01 to 2030-12-31) and not
in the future, integer VND amounts, in-kind gifts (`kind`, `quantity`, valued from the
valuation rates when `amount` is left out), a work for disbursements and settlements.

* **Formats.** NDJSON: as the JSON of `POST /v1/transfers` (the amount a JSON integer: `12.5`
  or `"1.000"` are refused); dates `yyyy-mm-dd` or `dd/mm/yyyy`. CSV: Vietnamese numbers
  (`1.250.000.000`, `1200,5`; ambiguous ones such as `1.5` are refused) and dates
  (`18/11/2023`); an empty cell is an absent field.
* **Modes.** `mode=atomic` (default): one rejected row and nothing is written (422, naming
  every rejected line, field and code, with the summary). `mode=partial`: the valid rows are
  written and the rejected ones reported. `dry_run=true`: everything is checked, nothing
  written.
* **Idempotent.** `external_id` is the key, as for one transfer: a row whose id is already
  posted with the same body is `ignored`; with another body it is rejected
  (`transfer.idempotency_conflict`). Repeats of an id in one file: identical ones are
  ignored, different ones rejected. Sending a file again (after a timeout, say) posts
  nothing twice, and concurrent imports never post an id twice.
* **Large bodies** (over {imports.JOB_THRESHOLD_ROWS:,} lines or
  {imports.JOB_THRESHOLD_BYTES // (1024 * 1024)} MiB) answer `202` with a `Location` to poll
  (`GET /v1/imports/jobs/{{id}}`); their transfers carry the job's id (`import_job_id`).
  Limits: {imports.LIMITS.max_bytes // (1024 * 1024)} MiB and {imports.LIMITS.max_rows:,} rows
  per body (413 beyond), one line at most {imports.LIMITS.max_line_bytes // 1024} KiB.
"""


@router.post(
    "/imports/transfers",
    response_model=ImportSummary,
    responses={
        202: {"model": ImportJobOut, "description": "A large body, imported in the background"},
        **problem_responses(404, 409, 413, 415, 422),
    },
    summary="Import transfers from NDJSON or CSV (atomic, partial or dry run)",
    description=_DESCRIPTION,
    openapi_extra=_BODY_DOC,
)
async def import_transfers(
    request: Request,
    session: SessionDep,
    actor: RecordedBy,
    dry_run: Annotated[bool, Query(description="Check everything, write nothing")] = False,
    mode: Annotated[
        ImportMode, Query(description="`atomic`: all rows or none; `partial`: the valid rows")
    ] = ImportMode.atomic,
) -> Response:
    return await jobs.handle_import(
        request,
        session,
        spec=imports.job_spec(),
        options=jobs.ImportOptions(dry_run=dry_run, mode=mode, recorded_by=actor),
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
    return await jobs.get_job(session, imports.SCHEMA, job_id, jobs.root_path(request))


@router.post(
    "/imports/{kind}",
    responses=problem_responses(404),
    summary="Other import kinds: none yet in this service",
    include_in_schema=False,
)
async def unknown_kind(kind: Annotated[str, Path(max_length=64)]) -> Response:
    raise jobs.UnknownImportKind(kind, imports.KIND)
