"""The shape of a criteria set, validated when a catalog file is loaded (pure: no I/O here).

A set = criteria (numbered, in groups) → indicators with thresholds. Thresholds are keyed by
region (2021–2025 sets: 7 regions) or by commune group (2026 set: groups 1–3), and by year
where they change yearly (income). Values whose official figure is not known ship with
`verified: false` and a source note, so an official can correct them without a release."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from shared.validation import NoNul, PgText

REGIONS = ("TDMNPB", "DBSH", "BTB", "DHNTB", "TN", "DNB", "DBSCL")
REGION_NAMES = {
    "TDMNPB": "Trung du và miền núi phía Bắc",
    "DBSH": "Đồng bằng sông Hồng",
    "BTB": "Bắc Trung Bộ",
    "DHNTB": "Duyên hải Nam Trung Bộ",
    "TN": "Tây Nguyên",
    "DNB": "Đông Nam Bộ",
    "DBSCL": "Đồng bằng sông Cửu Long",
}
COMMUNE_GROUPS = ("1", "2", "3")


class Level(StrEnum):
    commune = "commune"
    district = "district"
    province = "province"
    village = "village"


class Kind(StrEnum):
    boolean = "boolean"
    number = "number"
    percent = "percent"
    derived = "derived"


class Comparator(StrEnum):
    ge = "ge"
    gt = "gt"
    le = "le"
    lt = "lt"
    eq = "eq"


class ThresholdScheme(StrEnum):
    region = "region"  # 2021–2025: general value + the 7 regions
    commune_group = "commune_group"  # 2026–2030: commune groups 1, 2, 3


class DerivedRule(StrEnum):
    """Indicators computed from other data rather than recorded."""

    share_of_units_with_title = "share_of_units_with_title"  # % of units below holding a title
    holds_title = "holds_title"  # the unit itself holds a title (e.g. advanced, for model)
    count_of_units_with_title = "count_of_units_with_title"  # e.g. ≥ 1 smart village
    ratio_to_indicator = "ratio_to_indicator"  # value / another set's threshold (income 110%)


class Derivation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: DerivedRule
    level: Level | None = None  # for rules over units below
    title: PgText | None = None  # title code, e.g. "xa-ntm", "xa-ntm-nang-cao", "thon-thong-minh"
    set: PgText | None = None  # for ratio_to_indicator: the set whose threshold is the base
    indicator: PgText | None = None  # for ratio_to_indicator: that set's indicator code


# A YAML `1` must stay the number 1 (e.g. "at least 1 smart village"), never `true`: booleans
# are accepted only as real booleans.
ThresholdValue = Annotated[bool, Strict()] | Decimal


class Threshold(BaseModel):
    """One threshold; `region`/`group` null = the general value; `year` null = every year."""

    model_config = ConfigDict(extra="forbid")

    region: Literal["TDMNPB", "DBSH", "BTB", "DHNTB", "TN", "DNB", "DBSCL"] | None = None
    group: Literal["1", "2", "3"] | None = None
    year: int | None = Field(default=None, ge=2010, le=2035)
    value: ThresholdValue


IndicatorCode = Annotated[str, StringConstraints(pattern=r"^\d{1,2}\.\d{1,2}$")]


class Indicator(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: IndicatorCode
    name: Annotated[str, Field(min_length=1), NoNul]
    name_en: PgText | None = None
    kind: Kind
    unit: PgText | None = None  # "%", "triệu đồng/người/năm", "m2/người"…
    comparator: Comparator = Comparator.ge
    thresholds: list[Threshold] = Field(min_length=1)
    derived: Derivation | None = None
    sector: PgText | None = None  # responsible department, overrides the criterion's
    verified: bool
    source: Annotated[
        str, Field(min_length=1, description="Legal source or why the value is unverified"), NoNul
    ]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.kind is Kind.derived) != (self.derived is not None):
            raise ValueError(f"indicator {self.code}: `derived` goes with kind derived, only")
        for t in self.thresholds:
            if self.kind is Kind.boolean and not isinstance(t.value, bool):
                raise ValueError(f"indicator {self.code}: a boolean indicator needs true/false")
            if self.kind in (Kind.number, Kind.percent) and isinstance(t.value, bool):
                raise ValueError(f"indicator {self.code}: a numeric indicator needs a number")
        if self.kind is Kind.boolean and self.comparator is not Comparator.eq:
            raise ValueError(f"indicator {self.code}: a boolean indicator compares with eq")
        keys = [(t.region, t.group, t.year) for t in self.thresholds]
        if len(keys) != len(set(keys)):
            raise ValueError(f"indicator {self.code}: two thresholds for the same region/year")
        return self


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1, le=30)
    name: str
    name_en: str | None = None
    group: str | None = None  # group code, e.g. "I"
    sector: str | None = None  # e.g. "transport", "health"
    key: bool = False  # a key criterion for revocation (income, environment, security…)
    indicators: list[Indicator] = Field(min_length=1)

    @model_validator(mode="after")
    def _codes_belong(self) -> Self:
        for ind in self.indicators:
            if ind.code.split(".")[0] != str(self.number):
                raise ValueError(f"indicator {ind.code} is not under criterion {self.number}")
        return self


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    name_en: str | None = None


class CriteriaSet(BaseModel):
    """A national set (or a province's variant, which overrides thresholds or adds indicators)."""

    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+(@\d{2})?$")]
    name: str
    name_en: str | None = None
    level: Level
    title: str = Field(description="The title meeting the set earns, e.g. `xa-ntm`")
    legal_basis: str
    valid_from: date | None = None
    valid_to: date | None = None
    threshold_scheme: ThresholdScheme
    extends: str | None = Field(default=None, description="For a province variant: the base set")
    province_code: str | None = None
    groups: list[Group] = Field(default_factory=list)
    criteria: list[Criterion] = Field(min_length=1)
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        numbers = [c.number for c in self.criteria]
        if numbers != sorted(set(numbers)):
            raise ValueError("criteria numbers must be unique and in order")
        codes = [i.code for c in self.criteria for i in c.indicators]
        if len(codes) != len(set(codes)):
            raise ValueError("indicator codes must be unique within a set")
        group_codes = {g.code for g in self.groups}
        for c in self.criteria:
            if c.group is not None and c.group not in group_codes:
                raise ValueError(f"criterion {c.number}: unknown group {c.group!r}")
        for ind in (i for c in self.criteria for i in c.indicators):
            for t in ind.thresholds:
                if self.threshold_scheme is ThresholdScheme.region and t.group is not None:
                    raise ValueError(f"{ind.code}: this set keys thresholds by region")
                if self.threshold_scheme is ThresholdScheme.commune_group and t.region:
                    raise ValueError(f"{ind.code}: this set keys thresholds by commune group")
        return self

    @property
    def indicator_count(self) -> int:
        return sum(len(c.indicators) for c in self.criteria)


class IndicatorOverride(BaseModel):
    """A province's thresholds for an indicator of the national set."""

    model_config = ConfigDict(extra="forbid")

    code: IndicatorCode
    thresholds: list[Threshold] = Field(min_length=1)
    verified: bool
    source: Annotated[str, Field(min_length=1), NoNul]


class AddedIndicator(BaseModel):
    model_config = ConfigDict(extra="forbid")

    criterion: int = Field(ge=1, le=30)
    indicator: Indicator


class VariantSpec(BaseModel):
    """A province's own set derived from a national one: thresholds overridden, indicators
    added; criteria are never removed."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=300), NoNul]
    legal_basis: Annotated[str, Field(min_length=1, max_length=500), NoNul]
    valid_from: date | None = None
    valid_to: date | None = None
    overrides: list[IndicatorOverride] = Field(default_factory=list, max_length=500)
    additions: list[AddedIndicator] = Field(default_factory=list, max_length=200)


class VariantError(ValueError):
    """A variant that does not fit its base set; `field` names the failing part."""

    def __init__(self, field: str, message_vi: str, message_en: str) -> None:
        super().__init__(message_en)
        self.field = field
        self.message_vi = message_vi
        self.message_en = message_en


def derive_variant(base: CriteriaSet, province_code: str, spec: VariantSpec) -> CriteriaSet:
    """The set `<base>@<province>`: the base with the spec's overrides and additions applied,
    validated like any shipped set."""
    if base.extends is not None:
        raise VariantError(
            "set",
            "Chỉ tạo biến thể từ bộ tiêu chí quốc gia.",
            "Variants derive from national sets.",
        )
    data = base.model_dump(mode="json")
    indicators = {i["code"]: i for c in data["criteria"] for i in c["indicators"]}
    for n, override in enumerate(spec.overrides):
        target = indicators.get(override.code)
        if target is None:
            raise VariantError(
                f"overrides.{n}.code",
                f"Bộ '{base.code}' không có chỉ tiêu '{override.code}'.",
                f"Set '{base.code}' has no indicator '{override.code}'.",
            )
        target["thresholds"] = [t.model_dump(mode="json") for t in override.thresholds]
        target["verified"] = override.verified
        target["source"] = override.source
    criteria = {c["number"]: c for c in data["criteria"]}
    for n, added in enumerate(spec.additions):
        criterion = criteria.get(added.criterion)
        if criterion is None:
            raise VariantError(
                f"additions.{n}.criterion",
                f"Bộ '{base.code}' không có tiêu chí số {added.criterion}.",
                f"Set '{base.code}' has no criterion {added.criterion}.",
            )
        if added.indicator.code in indicators:
            raise VariantError(
                f"additions.{n}.indicator.code",
                f"Chỉ tiêu '{added.indicator.code}' đã có trong bộ quốc gia.",
                f"Indicator '{added.indicator.code}' already exists in the national set.",
            )
        new = added.indicator.model_dump(mode="json")
        criterion["indicators"].append(new)
        indicators[added.indicator.code] = new
    data |= {
        "code": f"{base.code}@{province_code}",
        "name": spec.name,
        "legal_basis": spec.legal_basis,
        "extends": base.code,
        "province_code": province_code,
        "valid_from": spec.valid_from.isoformat() if spec.valid_from else data["valid_from"],
        "valid_to": spec.valid_to.isoformat() if spec.valid_to else data["valid_to"],
    }
    try:
        return CriteriaSet.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise VariantError(
            "body", f"Biến thể không hợp lệ: {exc}", f"Invalid variant: {exc}"
        ) from exc
