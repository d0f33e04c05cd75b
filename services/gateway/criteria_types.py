"""GraphQL types of criteria sets (contract.md: CriteriaSet, Criterion, Indicator, Threshold)."""

from __future__ import annotations

from datetime import date
from enum import Enum

import strawberry
from strawberry.types import Info

from services.gateway.clients import JSON
from services.gateway.context import Context
from services.gateway.types import UnitLevel


@strawberry.enum
class IndicatorKind(Enum):
    BOOLEAN = "boolean"
    NUMBER = "number"
    PERCENT = "percent"
    DERIVED = "derived"


@strawberry.enum
class Comparator(Enum):
    GE = "ge"
    GT = "gt"
    LE = "le"
    LT = "lt"
    EQ = "eq"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@strawberry.type(description="Ngưỡng — a threshold; region and group null = the general value")
class Threshold:
    region: str | None
    group: str | None = strawberry.field(description="Commune group 1–3 (2026–2030 sets)")
    year: int | None
    comparator: Comparator
    value: str


@strawberry.type(description="Chỉ tiêu — an indicator")
class Indicator:
    code: str
    name: str
    name_en: str | None
    kind: IndicatorKind
    unit: str | None
    thresholds: list[Threshold]
    verified: bool = strawberry.field(description="False where the official value is not known")
    source: str
    sector: str | None

    @classmethod
    def from_json(cls, item: JSON, sector: str | None) -> Indicator:
        comparator = Comparator(item["comparator"])
        return cls(
            code=item["code"],
            name=item["name"],
            name_en=item.get("name_en"),
            kind=IndicatorKind(item["kind"]),
            unit=item.get("unit"),
            thresholds=[
                Threshold(
                    region=t.get("region"),
                    group=t.get("group"),
                    year=t.get("year"),
                    comparator=comparator,
                    value=_text(t["value"]),
                )
                for t in item["thresholds"]
            ],
            verified=item["verified"],
            source=item["source"],
            sector=item.get("sector") or sector,
        )


@strawberry.type(description="Tiêu chí — a criterion")
class Criterion:
    number: int
    name: str
    name_en: str | None
    group: str | None
    key: bool = strawberry.field(description="A key criterion for revocation")
    sector: str | None
    indicators: list[Indicator]

    @classmethod
    def from_json(cls, item: JSON) -> Criterion:
        return cls(
            number=item["number"],
            name=item["name"],
            name_en=item.get("name_en"),
            group=item.get("group"),
            key=item.get("key", False),
            sector=item.get("sector"),
            indicators=[Indicator.from_json(i, item.get("sector")) for i in item["indicators"]],
        )


@strawberry.type(description="Bộ tiêu chí — a criteria set")
class CriteriaSet:
    code: str
    name: str
    name_en: str | None
    level: UnitLevel
    title: str
    legal_basis: str
    valid_from: date | None
    valid_to: date | None
    threshold_scheme: str
    indicator_count: int
    criteria_count: int
    definition: strawberry.Private[JSON | None]

    @classmethod
    def from_json(cls, item: JSON) -> CriteriaSet:
        return cls(
            code=item["code"],
            name=item["name"],
            name_en=item.get("name_en"),
            level=UnitLevel(item["level"]),
            title=item["title"],
            legal_basis=item["legal_basis"],
            valid_from=date.fromisoformat(item["valid_from"]) if item["valid_from"] else None,
            valid_to=date.fromisoformat(item["valid_to"]) if item["valid_to"] else None,
            threshold_scheme=item["threshold_scheme"],
            indicator_count=item["indicator_count"],
            criteria_count=item["criteria_count"],
            definition=item if "criteria" in item else None,
        )

    @strawberry.field
    async def criteria(self, info: Info[Context, None]) -> list[Criterion]:
        definition = self.definition
        if definition is None:  # listed as a summary: fetch the whole set, batched
            definition = await info.context.loaders.criteria_set.load(self.code)
            if definition is None:
                return []
        return [Criterion.from_json(c) for c in definition["criteria"]]


@strawberry.enum(description="Đạt / chưa đạt / chưa đủ dữ liệu")
class CriterionStatus(Enum):
    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


@strawberry.type
class IndicatorResult:
    code: str
    name: str
    value: str | None
    threshold: str | None
    met: bool | None
    missing: bool
    gap: float | None
    verified: bool


@strawberry.type
class CriterionResult:
    number: int
    name: str
    met: bool = strawberry.field(
        description="True only when every indicator is met; see `status` for unknown"
    )
    status: CriterionStatus
    indicators_met: int
    indicators_total: int
    planning_label: str | None = strawberry.field(
        description="`co_ban_dat` (basically met): a planning label, never a recognition"
    )
    indicators: list[IndicatorResult]

    @classmethod
    def from_json(cls, c: JSON) -> CriterionResult:
        return cls(
            number=c["number"],
            name=c["name"],
            met=c["met"] is True,
            status=CriterionStatus.UNKNOWN
            if c["met"] is None
            else (CriterionStatus.MET if c["met"] else CriterionStatus.NOT_MET),
            indicators_met=c["indicators_met"],
            indicators_total=c["indicators_total"],
            planning_label=c["planning_label"],
            indicators=[
                IndicatorResult(
                    code=i["code"],
                    name=i["name"],
                    value=i["value"],
                    threshold=i["threshold"],
                    met=i["met"],
                    missing=i["missing"],
                    gap=i["gap"],
                    verified=i["verified"],
                )
                for i in c["indicators"]
            ],
        )


@strawberry.type(description="Đánh giá — a unit against a criteria set for a year")
class Evaluation:
    year: int
    criteria_met: int
    criteria_not_met: int
    criteria_unknown: int
    criteria_total: int
    indicators_met: int
    indicators_missing: int
    indicators_total: int
    meets_standard: bool
    revocation_risk: bool
    set_code: strawberry.Private[str]
    # the upstream's criteria, turned into objects only when a query asks for them (a
    # dashboard of a province asks the counts of a thousand evaluations, 57 indicators each)
    criteria_json: strawberry.Private[list[JSON]]

    @strawberry.field
    def criteria(self) -> list[CriterionResult]:
        return [CriterionResult.from_json(c) for c in self.criteria_json]

    @strawberry.field
    async def criteria_set(self, info: Info[Context, None]) -> CriteriaSet:
        item = await info.context.loaders.criteria_set.load(self.set_code)
        assert item is not None  # the evaluation was made against it
        return CriteriaSet.from_json(item)

    @classmethod
    def from_json(cls, item: JSON) -> Evaluation:
        return cls(
            year=item["year"],
            criteria_met=item["criteria_met"],
            criteria_not_met=item["criteria_not_met"],
            criteria_unknown=item["criteria_unknown"],
            criteria_total=item["criteria_total"],
            indicators_met=item["indicators_met"],
            indicators_missing=item["indicators_missing"],
            indicators_total=item["indicators_total"],
            meets_standard=item["meets_standard"],
            revocation_risk=item["revocation_risk"],
            set_code=item["criteria_set"],
            criteria_json=item.get("criteria", []),  # none in a summary
        )


@strawberry.type(description="Mục tiêu — a yearly target and the progress against it")
class Target:
    kind: str
    label: str
    quantity: int
    achieved: int
    remaining: int
    met: bool
    source: str = strawberry.field(description="`titles` (counted) or `manual`")

    @classmethod
    def from_json(cls, item: JSON) -> Target:
        return cls(
            kind=item["kind"],
            label=item["label_vi"],
            quantity=item["quantity"],
            achieved=item["achieved"],
            remaining=item["remaining"],
            met=item["met"],
            source=item["source"],
        )


@strawberry.type
class CriteriaBucket:
    criteria_met: int
    units: int
    indicators_met_min: int
    indicators_met_max: int
    unit_codes: list[str]


@strawberry.type
class CriterionFailure:
    number: int
    name: str
    units_not_met: int
    unit_codes: list[str]
    units_unknown: int


@strawberry.type(description="Báo cáo rà soát tiêu chí — all units below a unit against a set")
class CriteriaReport:
    units_evaluated: int
    units_total: int
    units_without_data: int
    meeting_standard: int
    distribution: list[CriteriaBucket]
    criterion_failures: list[CriterionFailure]
    summary_vi: str

    @classmethod
    def from_json(cls, item: JSON) -> CriteriaReport:
        return cls(
            units_evaluated=item["units_evaluated"],
            units_total=item["units_total"],
            units_without_data=item["units_without_data"],
            meeting_standard=item["meeting_standard"],
            distribution=[
                CriteriaBucket(
                    criteria_met=b["criteria_met"],
                    units=b["units"],
                    indicators_met_min=b["indicators_met_min"],
                    indicators_met_max=b["indicators_met_max"],
                    unit_codes=b["unit_codes"],
                )
                for b in item["distribution"]
            ],
            criterion_failures=[
                CriterionFailure(
                    number=f["number"],
                    name=f["name"],
                    units_not_met=f["units_not_met"],
                    unit_codes=f["unit_codes"],
                    units_unknown=f["units_unknown"],
                )
                for f in item["criterion_failures"]
            ],
            summary_vi=item["summary_vi"],
        )
