"""API models of the appraisal service (separate from the tables)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.validation import NoNul

# province 2 digits, district 3, commune 5: what criteria resolves (a 4-digit code would be
# refused there, and a refusal from upstream is no answer to give the client)
UNIT_CODE = r"^(\d{2}|\d{3}|\d{5})$"
TitleCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{2,40}$")]
Text = Annotated[
    str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True), NoNul
]
Short = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True), NoNul
]
Status = Literal["open", "recognised", "rejected", "withdrawn", "revoked"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DossierIn(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"unit": "15592", "title": "xa-ntm", "year": 2023}]},
    )

    unit: Annotated[str, StringConstraints(pattern=UNIT_CODE)]
    unit_as_of: dt.date | None = Field(
        default=None, description="Which unit the code names (default: 31/12 of the year or today)"
    )
    title: TitleCode = Field(examples=["xa-ntm"])
    year: int = Field(ge=2010, le=2035)
    set: Annotated[str, StringConstraints(pattern=r"^[a-z0-9@-]{2,64}$")] | None = Field(
        default=None, description="Criteria set; default from the title and year"
    )


class RevocationIn(_In):
    title: TitleCode
    year: int = Field(ge=2010, le=2035, description="The year whose evaluation grounds it")
    unit_as_of: dt.date | None = None
    set: Annotated[str, StringConstraints(pattern=r"^[a-z0-9@-]{2,64}$")] | None = None
    reason: Text


# --- content pieces ------------------------------------------------------------------------


class RequestLetter(_In):
    number: Short
    date: dt.date
    signed_by: Short
    summary: Text | None = None


class Satisfaction(_In):
    households_surveyed: int = Field(gt=0, le=10_000_000)
    households_total: int | None = Field(default=None, gt=0, le=10_000_000)
    satisfied_share: Decimal = Field(ge=0, le=1, max_digits=6, decimal_places=4)
    surveyed_from: dt.date | None = None
    surveyed_to: dt.date | None = None

    @model_validator(mode="after")
    def _coverage(self) -> Satisfaction:
        if self.households_total is not None and self.households_surveyed > self.households_total:
            raise ValueError("households_surveyed exceeds households_total")
        return self


class Posting(_In):
    where: Text
    from_: dt.date = Field(alias="from")
    to: dt.date

    @model_validator(mode="after")
    def _period(self) -> Posting:
        if self.to < self.from_:
            raise ValueError("'to' is before 'from'")
        return self


class Vote(_In):
    for_: int = Field(alias="for", ge=0, le=10_000)
    against: int = Field(ge=0, le=10_000)
    total: int = Field(gt=0, le=10_000)
    held_on: dt.date | None = None

    @model_validator(mode="after")
    def _sum(self) -> Vote:
        if self.for_ + self.against > self.total:
            raise ValueError("for + against exceeds total")
        return self


class Security(_In):
    stable: bool
    attested_by: Short
    attested_on: dt.date


class SectorReview(_In):
    department: Short
    reviewer: Short
    result: Literal["met", "not_met"]
    note: Text | None = None


class FieldSurvey(_In):
    surveyed_on: dt.date
    members: list[Short] = Field(min_length=1, max_length=50)
    findings: Text


# --- actions, comments ---------------------------------------------------------------------


class DecisionFields(_In):
    number: Annotated[str, StringConstraints(min_length=1, max_length=100), NoNul] = Field(
        examples=["1449/QĐ-TTg"]
    )
    date: dt.date
    signer: Short
    effective_on: dt.date | None = Field(default=None, description="Defaults to the date")
    pdf_ref: Annotated[str, StringConstraints(max_length=500), NoNul] | None = None


class ActionIn(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"action": "submit", "comment": "Gửi hồ sơ"}]},
    )

    action: Literal["submit", "return", "accept", "approve", "reject", "withdraw"]
    comment: Text | None = None
    decision: DecisionFields | None = Field(
        default=None, description="Approve at the decision step: the decision to sign"
    )


class CommentIn(_In):
    body: Text
    criterion: int | None = Field(default=None, ge=1, le=50)


class CommentOut(BaseModel):
    id: int
    step: str
    criterion: int | None
    body: str
    author: str | None
    role: str | None
    unit: str | None
    created_at: dt.datetime


# --- reading -------------------------------------------------------------------------------


class UnitRef(BaseModel):
    code: str
    name: str
    level: str
    edition: str
    province_code: str
    has_district: bool
    as_of: dt.date


class SnapshotOut(BaseModel):
    hash: str
    data: dict[str, Any]


class DossierOut(BaseModel):
    id: uuid.UUID
    kind: Literal["recognition", "revocation"]
    unit: UnitRef
    title: str
    year: int
    set: str
    workflow: str
    workflow_version: int
    step: str
    step_name_vi: str | None
    step_entered_on: dt.date
    due_on: dt.date | None
    overdue: bool
    status: Status
    editable_by: str | None
    content: dict[str, Any]
    revokes_dossier_id: uuid.UUID | None
    revocation_grounds: dict[str, Any] | None
    submitted_evaluation: SnapshotOut | None
    decision_evaluation: SnapshotOut | None
    construction_debt: SnapshotOut | None
    decision_id: uuid.UUID | None
    audit_head: str
    audit_entries: int
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class DossierPage(BaseModel):
    items: list[DossierOut]
    next_cursor: str | None = None
    total_count: int = Field(description="Dossiers matching the filters, over all pages")


class TimelineEntry(BaseModel):
    seq: int
    entry: dict[str, Any]
    prev_hash: str
    hash: str


class VerifyOut(BaseModel):
    intact: bool
    entries: int
    broken_seq: int | None = None
    reason: str | None = None
    message_vi: str
    message_en: str


class TaskOut(BaseModel):
    dossier_id: uuid.UUID
    unit: str
    unit_name: str
    title: str
    year: int
    kind: str
    step: str
    step_name_vi: str
    actions: list[str]
    due_on: dt.date | None
    overdue: bool


class DecisionOut(BaseModel):
    id: uuid.UUID
    dossier_id: uuid.UUID
    kind: Literal["recognition", "revocation"]
    number: str
    date: dt.date
    signer: str
    effective_on: dt.date
    pdf_ref: str | None
    record: dict[str, Any]
    signed_bytes: str = Field(description="The exact UTF-8 text that was signed (canonical JSON)")
    signature: str = Field(description="Ed25519 signature of `signed_bytes`, base64")
    algorithm: Literal["Ed25519"] = "Ed25519"
    key_id: str


class PublicKeyOut(BaseModel):
    algorithm: Literal["Ed25519"] = "Ed25519"
    key_id: str
    public_key_pem: str


class EvidenceOut(BaseModel):
    id: int
    sha256: str = Field(description="SHA-256 of the bytes: the name to download them by")
    filename: str
    content_type: str = Field(description="As detected from the bytes")
    size: int
    criterion: int | None
    indicator: str | None
    step: str = Field(description="The dossier's step when it was uploaded")
    uploaded_by: str | None
    role: str | None
    unit: str | None
    created_at: dt.datetime
    created: bool = Field(
        default=False, description="False when the dossier already cited these bytes there"
    )
    download: str = Field(description="Path of the download route")
