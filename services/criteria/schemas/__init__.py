"""Wire models of the criteria service (separate from the tables); features in submodules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.criteria.domain import catalog
from services.criteria.models import UnitLevel
from shared.validation import NoNul
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
SetCode = Annotated[str, StringConstraints(max_length=64), NoNul]


def in_value_range(value: Decimal) -> bool:
    """A number an indicator value may take: finite, at most 15 integer and 20 decimal
    digits (a recorded value is compared with thresholds, never anything near these)."""
    return value.is_finite() and value.adjusted() <= 14 and int(value.as_tuple().exponent) >= -20


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
    name: Annotated[
        str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True), NoNul
    ] = Field(examples=["Thôn Đông Thành"])
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
    codes: list[SetCode] = Field(max_length=100)


class CriteriaSetLookupResponse(BaseModel):
    items: list[CriteriaSetOut | None]


class ProfileIn(BaseModel):
    region: Literal["TDMNPB", "DBSH", "BTB", "DHNTB", "TN", "DNB", "DBSCL"] | None = Field(
        default=None, description="Region of the 2021–2025 thresholds"
    )
    commune_group: Literal["1", "2", "3"] | None = Field(
        default=None, description="Commune group of the 2026–2030 thresholds"
    )
    specially_disadvantaged: bool = Field(
        default=False, description="Uses the TDMNPB values wherever the commune is"
    )


class ProfileOut(ProfileIn):
    unit_code: str
    updated_by: str | None
    updated_at: datetime | None


class ValueIn(BaseModel):
    """One indicator value, as in the `indicator-values` import format (contract.md)."""

    unit: UnitCode
    set: SetCode = Field(examples=["xa-ntm-2021"])
    year: int = Field(ge=2010, le=2035, examples=[2023])
    indicator: Annotated[str, StringConstraints(pattern=r"^\d{1,2}\.\d{1,2}$")] = Field(
        examples=["2.1"]
    )
    value: bool | Decimal = Field(examples=[True])
    as_of: date = Field(examples=["2023-05-19"])
    evidence: list[Annotated[str, StringConstraints(max_length=500), NoNul]] = Field(
        default_factory=list, max_length=20, description="Document ids or URLs"
    )
    note: Annotated[str, StringConstraints(max_length=2000), NoNul] | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _no_bool_coercion(cls, value: object) -> object:
        # 1 must stay a number and "true" is not a boolean: only JSON true/false are booleans
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float | str):
            try:
                number = Decimal(str(value))
            except ArithmeticError as exc:  # decimal.InvalidOperation: "", "abc"
                raise ValueError("must be true, false or a number") from exc
            if not in_value_range(number):
                raise ValueError("must be a number of at most 15 integer and 20 decimal digits")
            return number
        return value


class ValuesIn(BaseModel):
    values: list[ValueIn] = Field(min_length=1, max_length=1000)


class RecordSummary(BaseModel):
    created: int


class ValueOut(BaseModel):
    indicator: str
    value: bool | Decimal
    as_of: date
    recorded_by: str | None
    recorded_at: datetime
    evidence: list[str]
    note: str | None


class IndicatorResultOut(BaseModel):
    code: str
    name: str
    kind: str
    unit: str | None
    value: str | None
    threshold: str | None
    met: bool | None
    missing: bool
    gap: float | None
    verified: bool


class CriterionResultOut(BaseModel):
    number: int
    name: str
    key: bool
    met: bool | None
    indicators_met: int
    indicators_total: int
    indicators_missing: int
    planning_label: str | None
    indicators: list[IndicatorResultOut]


class EvaluationSummaryOut(BaseModel):
    """An evaluation's counts and revocation watch, without the explanation criterion by
    criterion (`detail: summary` of the evaluations lookup: a dashboard's thousand units)."""

    unit: UnitOut
    criteria_set: str
    year: int
    profile: ProfileIn
    criteria_met: int
    criteria_not_met: int
    criteria_unknown: int
    criteria_total: int
    indicators_met: int
    indicators_missing: int
    indicators_total: int
    meets_standard: bool
    revocation_risk: bool = Field(description="The unit holds the title and a band is reached")
    revocation: RevocationOut


class EvaluationOut(EvaluationSummaryOut):
    criteria: list[CriterionResultOut]


class EvaluationKey(BaseModel):
    unit: UnitCode
    as_of: date | None = Field(default=None, description="Default: the year's last day or today")
    set: SetCode
    year: int = Field(ge=2010, le=2035)


class EvaluationLookupRequest(BaseModel):
    keys: list[EvaluationKey] = Field(max_length=MAX_BATCH)
    detail: Literal["full", "summary"] = Field(
        default="full",
        description="`full`: each evaluation explained criterion by criterion and indicator by"
        " indicator; `summary`: the counts and the revocation watch only (no `criteria`), a"
        " fraction of the work and the bytes for a dashboard of many units",
    )


class EvaluationLookupResponse(BaseModel):
    items: list[EvaluationOut | EvaluationSummaryOut | None] = Field(
        description="In key order; null where the unit or the set is unknown"
    )


class RevocationOut(BaseModel):
    """The revocation watch (QĐ 18/2022): a risk only for a unit holding the set's title."""

    holds_title: bool
    at_risk: bool
    rule: str | None = Field(
        description="commune_50_percent, commune_30_percent_with_key, district_50_percent, "
        "district_30_percent_with_key, district_communes_revoked_30_percent"
    )
    not_met: list[int]
    key_not_met: list[int]
    share_not_met: float
    unknown_criteria: int = Field(description="Not counted as not met; > 0 = incomplete check")
    communes_revoked_share: float | None


EvaluationOut.model_rebuild()
