"""API models of works, their obligations, construction debt and valuation rates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from services.funding.models import ObligationBasis
from services.funding.schemas import MAX_AMOUNT
from shared.vn import nfc

WORK_CODE = r"^[\w][\w.:/\-]{0,59}$"


def _clean(value: str) -> str:
    """NFC, trimmed; a NUL character (which PostgreSQL text cannot hold) is refused."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (\\x00)")
    return nfc(value).strip()


def _nfc_strip(value: str | None) -> str | None:
    return None if value is None else _clean(value)


class WorkIn(BaseModel):
    """A work (công trình) of a unit. Idempotent on (unit, code): the same body again answers
    the existing work (200), another body under the same code is a 409."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "code": "GT-01",
                    "name": "Đường trục xã Thôn 1 - Thôn 3",
                    "kind": "road",
                    "set_code": "xa-ntm-2021",
                    "criterion_number": 2,
                    "planned_vnd": 3500000000,
                    "started_on": "2023-03-01",
                }
            ]
        },
    )

    code: Annotated[str, Field(pattern=WORK_CODE, description="The unit's own code of the work")]
    name: Annotated[str, Field(min_length=1, max_length=500)]
    kind: Annotated[str, Field(description="See GET /v1/work-kinds")]
    set_code: Annotated[str, Field(pattern=r"^[a-z0-9\-]{3,40}(@\d{2})?$")] | None = Field(
        default=None, description="Criteria set of the criterion the work serves"
    )
    criterion_number: StrictInt | None = Field(default=None, description="Criterion number")
    planned_vnd: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)] = Field(
        default=0, description="Planned budget, integer VND"
    )
    started_on: date | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = _clean(value)
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return _nfc_strip(value)


class WorkOut(BaseModel):
    id: int
    unit: str
    unit_name: str
    edition: str
    code: str
    name: str
    kind: str
    kind_name_vi: str
    kind_name_en: str
    set_code: str | None
    criterion_number: int | None
    criterion_name: str | None = Field(default=None, description="From the shipped criteria set")
    planned_vnd: int
    started_on: date | None
    note: str | None
    created_by: str | None
    created_at: datetime
    committed: int = Field(description="Σ contract amounts (corrections subtract)")
    accepted: int = Field(description="Σ accepted volumes (nghiệm thu)")
    paid: int = Field(description="Σ disbursements to the work, signed")
    settled: int = Field(description="Σ settlements (quyết toán) of the work, signed")
    debt: int = Field(description="max(0, max(committed, accepted) − paid)")
    replayed: bool = Field(default=False, description="True when answering a repeated request")


class WorkPage(BaseModel):
    items: list[WorkOut]
    next_cursor: str | None = None
    total_count: int


class WorkKindOut(BaseModel):
    code: str
    name_vi: str
    name_en: str


class ObligationIn(BaseModel):
    """A contract value signed or a volume accepted on the work."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "basis": "contract",
                    "amount": 3200000000,
                    "date": "2023-03-15",
                    "document": "Hợp đồng số 12/2023/HĐ-XD",
                }
            ]
        },
    )

    basis: ObligationBasis = Field(description="contract (hợp đồng) | acceptance (nghiệm thu)")
    amount: Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT, description="Integer VND")]
    date: date
    document: Annotated[str, Field(min_length=1, max_length=500)] | None = None

    @field_validator("document")
    @classmethod
    def _normalise(cls, value: str | None) -> str | None:
        return _nfc_strip(value)


class ObligationReversalIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    document: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        description="The paper that corrects it (phụ lục hợp đồng, biên bản…)"
    )

    @field_validator("document")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return _clean(value)


class ObligationOut(BaseModel):
    id: int
    work_id: int
    work: str
    basis: str
    amount: int
    date: date
    document: str | None
    reverses: int | None
    reversed_by: int | None
    recorded_by: str | None
    recorded_at: datetime
    replayed: bool = False


class WorkDebtOut(BaseModel):
    id: int
    unit: str
    code: str
    name: str
    kind: str
    kind_name_vi: str
    set_code: str | None
    criterion_number: int | None
    criterion_name: str | None = Field(default=None, description="From the shipped criteria set")
    contract: int
    acceptance: int
    obligation: int = Field(description="max(contract, acceptance)")
    paid: int
    debt: int
    label_vi: str = Field(description="The work and its debt, as a report line")


class ConstructionDebtOut(BaseModel):
    unit: str
    unit_name: str
    edition: str
    as_of: date
    total_debt: int
    has_debt: bool = Field(description="Recognition condition 3 fails when true")
    works: list[WorkDebtOut]
    works_in_debt: list[WorkDebtOut]
    summary_vi: str


class RateIn(BaseModel):
    """A province's valuation rate of an in-kind kind for a period."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "valid_from": "2024-01-01",
                    "valid_to": None,
                    "rate_vnd": 250000,
                    "verified": True,
                    "source_note": "QĐ 45/2023/QĐ-UBND, bảng giá đất nông thôn",
                }
            ]
        },
    )

    valid_from: date
    valid_to: date | None = None
    rate_vnd: Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT, description="VND per unit")]
    verified: bool = False
    source_note: Annotated[str, Field(min_length=1, max_length=2000)]

    @field_validator("source_note")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return _clean(value)


class RateOut(BaseModel):
    id: int
    province: str | None = Field(description="Province code; null for the national default")
    kind: str
    valid_from: date
    valid_to: date | None
    rate_vnd: int
    verified: bool
    source_note: str | None
    recorded_by: str | None
    recorded_at: datetime
    used: bool = Field(description="Used by a posting: its rate and start can no longer change")
    replayed: bool = False


class RatesOut(BaseModel):
    items: list[RateOut]
    in_force: list[RateOut] = Field(
        description="With `on`: per kind, the rate a posting of that date would use (the "
        "province's own when it has one, else the national default)"
    )
