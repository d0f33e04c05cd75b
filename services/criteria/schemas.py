"""Wire models of the criteria service (separate from the tables)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.criteria.domain import catalog
from services.criteria.models import UnitLevel
from shared.vn import nfc

UNIT_CODE_PATTERN = r"^(\d{2}|\d{3}|\d{5}|\d{5}-[A-Za-z0-9]{1,20})$"
UnitCode = Annotated[
    str,
    StringConstraints(pattern=UNIT_CODE_PATTERN),
    Field(
        description="Official code: province 2 digits, district 3, commune 5; "
        "a village is `<commune>-<local code>`",
        examples=["15592"],
    ),
]
MAX_BATCH = 2000


class UnitOut(BaseModel):
    """An administrative unit as valid on the date asked for."""

    model_config = ConfigDict(from_attributes=True)

    code: str = Field(examples=["395"])
    name: str = Field(examples=["Huyện Thọ Xuân"])
    short_name: str = Field(examples=["Thọ Xuân"])
    type_name: str = Field(description="Tỉnh, Thành phố, Huyện, Quận, Thị xã, Xã, Phường…")
    level: UnitLevel
    edition: str = Field(description="`legacy` (until 2025-06-30) or `2025` (from 2025-07-01)")
    parent_code: str | None
    province_code: str
    path: str = Field(
        description="Codes from the province down, joined by `.`", examples=["38.395"]
    )
    valid_from: date | None
    valid_to: date | None


class LineageLink(BaseModel):
    unit: UnitOut
    is_primary: bool = Field(description="For a split unit: the part that carries its records")
    effective_on: date


class LineageOut(BaseModel):
    unit: UnitOut
    predecessors: list[LineageLink]
    successors: list[LineageLink]


class VillageIn(BaseModel):
    """A village (thôn, bản, ấp, khu dân cư) under a commune, with a locally assigned code."""

    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,20}$")] = Field(
        examples=["T01"], description="Local code, unique within the commune"
    )
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)] = (
        Field(examples=["Thôn Đông Thành"])
    )
    valid_from: date | None = Field(default=None, description="Defaults to the commune's")

    @field_validator("name")
    @classmethod
    def _nfc(cls, value: str) -> str:
        return nfc(value)


class UnitKey(BaseModel):
    code: UnitCode
    as_of: date


class UnitLookupRequest(BaseModel):
    keys: list[UnitKey] = Field(max_length=MAX_BATCH)


class UnitLookupResponse(BaseModel):
    items: list[UnitOut | None] = Field(description="In key order; null where no unit matches")


class ChildrenKey(BaseModel):
    code: UnitCode
    as_of: date
    level: UnitLevel | None = None
    limit: int = Field(default=50, ge=0, le=1000)
    cursor: str | None = None


class ChildrenLookupRequest(BaseModel):
    keys: list[ChildrenKey] = Field(max_length=MAX_BATCH)


class UnitPage(BaseModel):
    items: list[UnitOut]
    cursors: list[str] = Field(description="The cursor of each item, in order")
    next_cursor: str | None
    total_count: int


class ChildrenLookupResponse(BaseModel):
    items: list[UnitPage | None]


class LineageLookupResponse(BaseModel):
    items: list[LineageOut | None]


class ReferenceLoadOut(BaseModel):
    dataset: str
    checksum: str
    rows: int
    loaded: bool = Field(description="False when the same version was already loaded")


class CriteriaSetSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str = Field(examples=["xa-ntm-2021"])
    name: str
    name_en: str | None
    level: UnitLevel
    title: str = Field(description="The title meeting the set earns", examples=["xa-ntm"])
    legal_basis: str
    valid_from: date | None
    valid_to: date | None
    threshold_scheme: str = Field(description="`region` (7 regions) or `commune_group` (1–3)")
    extends: str | None
    province_code: str | None
    criteria_count: int
    indicator_count: int


class CriteriaSetOut(CriteriaSetSummary):
    """A whole set: groups, criteria, indicators and their thresholds (with `verified` flags)."""

    groups: list[catalog.Group]
    criteria: list[catalog.Criterion]
    notes: str | None = None


class CriteriaSetList(BaseModel):
    items: list[CriteriaSetSummary]


class CriteriaSetLookupRequest(BaseModel):
    codes: list[Annotated[str, StringConstraints(max_length=64)]] = Field(max_length=100)


class CriteriaSetLookupResponse(BaseModel):
    items: list[CriteriaSetOut | None]
