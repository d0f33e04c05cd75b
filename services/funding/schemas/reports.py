"""API models of funding reports: a unit's report (JSON and .xlsx) and the batch of summaries the
gateway reads. Amounts are integer VND (đồng); formatted figures are added beside them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.funding.schemas import UNIT_CODE

MAX_LOOKUP_KEYS = 1000


class WindowOut(BaseModel):
    kind: str = Field(description="`year`, `range` or `cumulative` (since 2021-01-01)")
    year: int | None = None
    from_: date = Field(serialization_alias="from", description="First day (a month's first)")
    to: date = Field(description="Last day (a month's last)")
    cumulative_from: date = Field(description="Where `cumulative` starts: the programme start")
    label_vi: str


class SourceShareOut(BaseModel):
    source: str = Field(description="Source code, e.g. `NSTW-DT`")
    name: str
    name_en: str
    group: str = Field(description="NSNN, LG, TD or XHH")
    in_kind: bool
    amount: int = Field(description="Received (mobilised) in the window, VND")
    share_bp: int = Field(description="Share of the total in hundredths of a percent (sum 10000)")
    share: float = Field(description="share_bp / 10000 (shares add to exactly 1)")
    share_vi: str = Field(examples=["35,59%"])
    amount_trieu: str = Field(examples=["892.738 triệu đồng"])
    amount_ty: str = Field(examples=["29,506 tỷ đồng"])
    cumulative: int = Field(description="Received since 2021-01-01 to the window's end")
    pledged: int = Field(description="Pledged (cam kết) in the window")
    pledged_outstanding: int = Field(description="Pledges not yet received at the window's end")
    disbursed: int = Field(description="Disbursed to works in the window")
    settled: int = Field(description="Settled on works in the window")
    households: int = Field(description="Households named on the receipts of the window")


class GroupShareOut(BaseModel):
    group: str
    name: str
    name_en: str
    sources: list[str]
    amount: int
    share_bp: int
    share: float
    share_vi: str
    amount_trieu: str
    amount_ty: str
    cumulative: int


class InKindOut(BaseModel):
    kind: str = Field(description="land, labour, materials, structures")
    name: str
    name_en: str
    quantity: float = Field(description="In `unit`, in the window (exact: quantity_exact)")
    quantity_exact: str
    unit: str = Field(description="m2, day, vnd, m")
    unit_vi: str
    quantity_vi: str = Field(examples=["25.000 m²"])
    value_vnd: int = Field(description="Money value of the gifts of the window")
    value_trieu: str
    households: int
    cumulative_quantity: float
    cumulative_value_vnd: int
    cumulative_households: int


class SummaryPartOut(BaseModel):
    label: str = Field(examples=["ngân sách trung ương"])
    sources: list[str]
    amount: int
    share_bp: int
    share_vi: str
    printed: str = Field(description="As the paragraph prints it; the parts add up to the total")


class FundingTotalsOut(BaseModel):
    """A unit and everything below it, for a window: the totals only (`detail: totals` of the
    summaries lookup, for a dashboard of many units)."""

    unit: str
    unit_name: str
    level: str
    edition: str = Field(description="`legacy` or `2025` (whose report includes the history of "
        "the legacy units that passed into it)")  # fmt: skip
    as_of: date
    window: WindowOut
    total: int = Field(description="Mobilised (received) in the window, VND")
    total_trieu: str
    total_ty: str
    cumulative: int = Field(description="Mobilised since 2021-01-01 to the window's end")
    cumulative_trieu: str
    cumulative_ty: str
    pledged: int
    pledged_outstanding: int
    disbursed: int
    settled: int


class FundingSummaryOut(FundingTotalsOut):
    """A unit and everything below it, for a window, by source and group, with the paragraph."""

    by_source: list[SourceShareOut]
    by_group: list[GroupShareOut]
    in_kind: list[InKindOut]
    summary_vi: str
    summary_parts: list[SummaryPartOut]


class WorkOut(BaseModel):
    code: str
    name: str
    kind: str
    unit: str
    unit_name: str
    set_code: str | None
    criterion_number: int | None
    planned_vnd: int
    disbursed: int
    disbursed_cumulative: int
    settled: int
    settled_cumulative: int


class CriterionFundingOut(BaseModel):
    set_code: str | None
    criterion_number: int | None
    criterion_name: str | None
    works: int
    planned_vnd: int
    disbursed: int
    disbursed_cumulative: int
    settled: int
    settled_cumulative: int


class FundingReportOut(FundingSummaryOut):
    by_work: list[WorkOut]
    by_criterion: list[CriterionFundingOut] = Field(
        description="Works grouped by the criterion they serve (null: not linked to one)"
    )


class SummaryKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: Annotated[str, Field(pattern=UNIT_CODE)]
    as_of: date | None = Field(default=None, description="Default: the window's end or today")


class SummaryLookupIn(BaseModel):
    """Many units, one window: `year`, or `from`/`to` (whole months), or neither (cumulative)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [{"keys": [{"unit": "395", "as_of": "2023-12-31"}], "year": 2023}]
        },
    )

    keys: Annotated[list[SummaryKeyIn], Field(min_length=1, max_length=MAX_LOOKUP_KEYS)]
    year: int | None = None
    date_from: date | None = Field(default=None, alias="from")
    date_to: date | None = Field(default=None, alias="to")
    detail: Literal["full", "totals"] = Field(
        default="full",
        description="`full`: each summary by source and group, in kind, with its paragraph;"
        " `totals`: the totals only, a fraction of the work and the bytes for many units",
    )


class SummaryLookupOut(BaseModel):
    items: list[FundingSummaryOut | FundingTotalsOut | None] = Field(
        description="In key order; null where no unit has the code on that date"
    )
