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
