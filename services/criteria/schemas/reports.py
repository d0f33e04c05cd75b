"""Wire models of the criteria report (`Unit.criteriaReport` in the public contract)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from services.criteria.schemas import UnitOut


class CriteriaBucketOut(BaseModel):
    """The units meeting exactly `criteria_met` criteria."""

    criteria_met: int = Field(examples=[18])
    units: int = Field(examples=[3])
    indicators_met_min: int = Field(examples=[55])
    indicators_met_max: int = Field(examples=[56])
    unit_codes: list[str] = Field(
        description="By indicators met (most first), then code", examples=[["15493", "15505"]]
    )
    unit_names: list[str] = Field(examples=[["Xuân Hồng", "Nam Giang"]])


class CriterionFailureOut(BaseModel):
    """One criterion of the set: the units known not to meet it, and those where it is
    unknown (a missing value and no failing indicator)."""

    number: int = Field(examples=[2])
    name: str = Field(examples=["Giao thông"])
    units_not_met: int = Field(examples=[7])
    unit_codes: list[str]
    unit_names: list[str]
    units_unknown: int
    unknown_unit_codes: list[str]


class ReportUnitOut(BaseModel):
    """One unit below: its counts and each criterion's status (true met, false not met,
    null unknown), in the set's criterion order."""

    code: str = Field(examples=["15592"])
    name: str = Field(examples=["Xã Xuân Minh"])
    type_name: str = Field(examples=["Xã"])
    has_data: bool = Field(description="False when no indicator has a value")
    criteria_met: int
    criteria_not_met: int
    criteria_unknown: int
    indicators_met: int
    indicators_missing: int
    meets_standard: bool
    criteria: list[bool | None]


class CriteriaReportOut(BaseModel):
    """How the units below a unit stand against a criteria set in a year: the distribution by
    criteria met, the failures per criterion, and the paragraph a district office writes.

    Units without any value are counted in `units_without_data` and left out of the
    distribution and the failures; `units_evaluated` is what the distribution adds up to."""

    unit: UnitOut
    criteria_set: str = Field(examples=["xa-ntm-2021"])
    criteria_set_name: str
    year: int = Field(examples=[2023])
    as_of: date = Field(description="The date the units are taken as valid on")
    level: str = Field(description="The level of the units evaluated", examples=["commune"])
    criteria_total: int = Field(examples=[19])
    indicators_total: int = Field(examples=[57])
    units_total: int = Field(description="Units of the level below the unit", examples=[30])
    units_evaluated: int = Field(examples=[12])
    units_without_data: int = Field(examples=[18])
    meeting_standard: int = Field(description="Units meeting every criterion", examples=[3])
    meeting_standard_codes: list[str]
    incomplete_unit_codes: list[str] = Field(
        description="Evaluated units with at least one criterion unknown"
    )
    without_data_unit_codes: list[str]
    distribution: list[CriteriaBucketOut] = Field(description="By criteria met, most first")
    criterion_failures: list[CriterionFailureOut] = Field(
        description="Every criterion of the set, in order"
    )
    summary_vi: str = Field(
        examples=[
            "Qua rà soát 12 xã: có 03 xã gồm: Thọ Lập, Xuân Lai và Xuân Minh đạt 19/19 tiêu "
            "chí, 57/57 chỉ tiêu; … Tiêu chí số 2 - Giao thông có 07 xã chưa đạt; …"
        ]
    )
    units: list[ReportUnitOut] = Field(description="Every unit below, by code")
