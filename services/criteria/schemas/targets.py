"""Wire models of yearly targets."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator

from shared.validation import NoNul
from shared.vn import nfc


class TargetIn(BaseModel):
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{2,40}$")] = Field(
        examples=["xa-ntm-kieu-mau"],
        description="A title code (progress counted from recognised titles) or another code "
        "such as `ocop-3-sao` (progress given in `achieved_manual`)",
    )
    label_vi: Annotated[str, StringConstraints(min_length=1, max_length=200), NoNul] = Field(
        examples=["Xã NTM kiểu mẫu"]
    )
    quantity: int = Field(gt=0, le=100_000)
    achieved_manual: int | None = Field(default=None, ge=0, le=100_000)
    note: Annotated[str, StringConstraints(max_length=2000), NoNul] | None = None

    @field_validator("label_vi")
    @classmethod
    def _nfc(cls, value: str) -> str:
        return nfc(value)


class TargetsIn(BaseModel):
    targets: list[TargetIn] = Field(max_length=100)

    @field_validator("targets")
    @classmethod
    def _unique_kinds(cls, value: list[TargetIn]) -> list[TargetIn]:
        kinds = [t.kind for t in value]
        if len(kinds) != len(set(kinds)):
            raise ValueError("each kind may appear once per year")
        return value


class TargetOut(BaseModel):
    kind: str
    label_vi: str
    quantity: int
    achieved: int
    source: str = Field(description="`titles` (counted from recognitions) or `manual`")
    remaining: int
    met: bool
    note: str | None
    updated_by: str | None
    updated_at: dt.datetime


class TargetKey(BaseModel):
    unit: Annotated[
        str, StringConstraints(pattern=r"^(\d{2}|\d{3}|\d{5}|\d{5}-[A-Za-z0-9]{1,20})$")
    ]
    as_of: dt.date
    year: int = Field(ge=2010, le=2035)


class TargetLookupRequest(BaseModel):
    keys: list[TargetKey] = Field(max_length=2000)


class TargetLookupResponse(BaseModel):
    items: list[list[TargetOut] | None]
