"""Wire models of bulk imports and their jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from shared.bulk import ImportMode, ImportSummary, RowError


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
    kind: str = Field(examples=["indicator-values"])
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
    request_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
