"""API models of the funding service (separate from the tables)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from services.funding.models import TransferKind
from shared.validation import NoNul, PgText

EXTERNAL_ID = r"^[\w][\w.:/\-]{0,99}$"
UNIT_CODE = r"^\d{2,5}$"
MAX_AMOUNT = 10**15  # one million billion đồng: far above any single transfer

Amount = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT, description="Integer VND (đồng)")]


class TransferIn(BaseModel):
    """One posting. `external_id` is the idempotency key: the same id and body again returns the
    first result; the same id with another body is a 409."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "external_id": "XM-2023-0001",
                    "unit": "15592",
                    "source": "NSTW-DT",
                    "amount": 1250000000,
                    "date": "2023-04-12",
                },
                {
                    "external_id": "XM-2023-0002",
                    "unit": "15592",
                    "source": "CD-HV",
                    "date": "2023-05-02",
                    "kind": "land",
                    "quantity": 1200,
                    "quantity_unit": "m2",
                    "households": 35,
                },
            ]
        },
    )

    external_id: Annotated[str, Field(pattern=EXTERNAL_ID, description="Idempotency key")]
    unit: Annotated[str, Field(pattern=UNIT_CODE, description="Official unit code")]
    source: Annotated[str, Field(min_length=1, max_length=20, description="Source code"), NoNul]
    amount: Amount | None = Field(
        default=None, description="VND; may be left out for an in-kind gift (valuation table)"
    )
    date: date
    type: TransferKind = Field(
        default=TransferKind.receipt, description="pledge | receipt | disbursement | settlement"
    )
    kind: PgText | None = Field(default=None, description="In-kind gift: land, labour, …")
    quantity: Annotated[Decimal, Field(gt=0, max_digits=17, decimal_places=3)] | None = None
    quantity_unit: PgText | None = None
    households: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    work: PgText | None = Field(default=None, description="Code of the work (disbursement)")
    pledge: PgText | None = Field(default=None, description="External id of the pledge received")
    purpose: Annotated[str, Field(pattern=r"^[a-z0-9_\-]{1,40}$")] = "ntm"
    memo: Annotated[str, Field(max_length=2000), NoNul] | None = None


class ReversalIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    external_id: Annotated[str, Field(pattern=EXTERNAL_ID)] | None = Field(
        default=None, description="Defaults to `reversal:<transfer id>`"
    )
    reason: Annotated[str, Field(min_length=1, max_length=2000), NoNul]


class TransferOut(BaseModel):
    id: uuid.UUID
    external_id: str
    type: str
    stage: str
    sign: int
    unit: str
    unit_name: str
    edition: str
    source: str
    source_name: str
    amount: int
    date: date
    period: str
    purpose: str
    work: str | None = None
    pledge_id: uuid.UUID | None = None
    reverses: uuid.UUID | None = None
    reversed_by: uuid.UUID | None = None
    kind: str | None = None
    quantity: Decimal | None = None
    quantity_unit: str | None = None
    households: int | None = None
    rate_vnd: int | None = None
    memo: str | None = None
    recorded_by: str | None = None
    import_job_id: uuid.UUID | None = None
    posted_at: datetime
    replayed: bool = Field(
        default=False, description="True when this answers a repeat of an earlier request"
    )


class TransferPage(BaseModel):
    items: list[TransferOut]
    next_cursor: str | None = None
    total_count: int


class SourceOut(BaseModel):
    code: str
    group: str
    group_name_vi: str
    group_name_en: str
    name_vi: str
    name_en: str
    in_kind: bool
    valid_from: date | None
    valid_to: date | None


class InKindKindOut(BaseModel):
    code: str
    name_vi: str
    name_en: str
    quantity_unit: str
    quantity_unit_vi: str


class AccountOut(BaseModel):
    id: int
    period: str
    purpose: str
    source: str
    role: str
    work_id: int | None
    debits: int
    credits: int
    balance: int = Field(description="debits − credits")


class AccountsOut(BaseModel):
    unit: str
    accounts: list[AccountOut]
    balanced: bool = Field(description="The unit's accounts sum to zero (always true)")
