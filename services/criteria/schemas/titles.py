"""Wire models of recognised titles and the title events that feed them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from services.criteria.schemas import MAX_BATCH, UNIT_CODE_PATTERN, UnitKey
from shared.validation import NoNul

TitleCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{2,40}$")]


class Decision(BaseModel):
    number: Annotated[str, StringConstraints(min_length=1, max_length=100), NoNul] = Field(
        examples=["1449/QĐ-TTg"]
    )
    date: dt.date
    effective_on: dt.date | None = Field(default=None, description="Defaults to the decision date")


class TitleEvent(BaseModel):
    """`recognition.granted` / `recognition.revoked`, as appraisal publishes them."""

    event_id: uuid.UUID
    type: Literal["recognition.granted", "recognition.revoked"]
    unit: Annotated[str, StringConstraints(pattern=UNIT_CODE_PATTERN)]
    unit_as_of: dt.date = Field(description="A date the unit code is valid on")
    title: TitleCode = Field(examples=["xa-ntm"])
    year: int = Field(ge=2010, le=2035)
    decision: Decision


class TitleEventResult(BaseModel):
    event_id: uuid.UUID
    applied: bool = Field(description="False when the event had already been applied")


class TitleOut(BaseModel):
    title: str
    year: int
    decision_number: str
    decision_date: dt.date
    effective_on: dt.date
    revoked_on: dt.date | None
    revocation_decision: str | None


class TitleLookupRequest(BaseModel):
    keys: list[UnitKey] = Field(max_length=MAX_BATCH)


class TitleLookupResponse(BaseModel):
    items: list[list[TitleOut] | None] = Field(
        description="In key order: the unit's titles, oldest first; null where no unit matches"
    )
