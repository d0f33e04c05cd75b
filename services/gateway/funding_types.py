"""GraphQL types of funding (contract.md: FundingSummary, SourceAmount, InKindQuantity, the
BigInt scalar) and the ledger's two mutations, recordTransfer and reverseTransfer.

`BigInt` carries integer VND. It is serialized as a JSON number when it fits in 2^53 (what a
JavaScript client reads exactly: every amount of this programme does, 2^53 đồng being about
9 million billion), and as a decimal string beyond, so that no client ever reads a rounded
amount. As input it accepts an integer or a string of digits, never a fraction.

Mutations return union payloads: the success type, or typed errors (ValidationError with field
errors, NotFound, IdempotencyConflict, AlreadyReversed, NotReversible). Each is one REST call
to the funding ledger, which posts all of it or nothing; a retry with the same
`idempotencyKey` answers the first result (`replayed: true`)."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, NewType

import strawberry
from strawberry.types import Info
from strawberry.types.scalar import ScalarDefinition

from services.gateway.clients import JSON
from services.gateway.context import Context
from services.gateway.errors import GatewayError

JS_SAFE = 2**53 - 1
_DIGITS = re.compile(r"^-?\d{1,30}$")


def _serialize_bigint(value: int) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"BigInt cannot represent {value!r}")
    return value if -JS_SAFE <= value <= JS_SAFE else str(value)


def _parse_bigint(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) <= JS_SAFE:
        return int(value)
    if isinstance(value, str) and _DIGITS.match(value):
        return int(value)
    raise ValueError(f"BigInt takes an integer or a string of digits, not {value!r}")


BigInt = NewType("BigInt", int)
BIGINT_SCALAR = strawberry.scalar(
    name="BigInt",
    serialize=_serialize_bigint,
    parse_value=_parse_bigint,
    description="An integer (VND): a JSON number up to 2^53 - 1, a string of digits beyond",
)
# for the schema's StrawberryConfig(scalar_map=…)
SCALAR_MAP: dict[object, ScalarDefinition] = {BigInt: BIGINT_SCALAR}


# --- the read side -------------------------------------------------------------------------


@strawberry.type(description="Một nguồn vốn — what one source brought in the window")
class SourceAmount:
    source: str = strawberry.field(description="NSTW-DT, NSTW-SN, NST, NSH, NSX, LG, TD, DN, …")
    name: str
    name_en: str
    group: str = strawberry.field(description="NSNN, LG, TD or XHH")
    amount: BigInt
    share: float = strawberry.field(description="shareBp / 10000; the shares add to exactly 1")
    share_bp: int = strawberry.field(description="Hundredths of a percent; they sum to 10000")
    share_vi: str = strawberry.field(description='"35,59%"')
    amount_trieu: str = strawberry.field(description='"892.738 triệu đồng"')
    amount_ty: str = strawberry.field(description='"29,506 tỷ đồng"')
    cumulative: BigInt
    pledged: BigInt
    pledged_outstanding: BigInt
    disbursed: BigInt
    households: int

    @classmethod
    def from_json(cls, item: JSON) -> SourceAmount:
        return cls(
            source=item["source"],
            name=item["name"],
            name_en=item["name_en"],
            group=item["group"],
            amount=item["amount"],
            share=item["share"],
            share_bp=item["share_bp"],
            share_vi=item["share_vi"],
            amount_trieu=item["amount_trieu"],
            amount_ty=item["amount_ty"],
            cumulative=item["cumulative"],
            pledged=item["pledged"],
            pledged_outstanding=item["pledged_outstanding"],
            disbursed=item["disbursed"],
            households=item["households"],
        )


@strawberry.type(description="Nhóm nguồn — NSNN, LG, TD, XHH")
class GroupAmount:
    group: str
    name: str
    name_en: str
    sources: list[str]
    amount: BigInt
    share: float
    share_bp: int
    share_vi: str
    amount_trieu: str
    amount_ty: str
    cumulative: BigInt

    @classmethod
    def from_json(cls, item: JSON) -> GroupAmount:
        return cls(**{k: item[k] for k in _GROUP_FIELDS})


_GROUP_FIELDS = ("group", "name", "name_en", "sources", "amount", "share", "share_bp",
                 "share_vi", "amount_trieu", "amount_ty", "cumulative")  # fmt: skip


@strawberry.type(description="Đóng góp hiện vật — in-kind gifts with their own unit")
class InKindQuantity:
    kind: str = strawberry.field(description="land, labour, materials, structures")
    name: str
    quantity: float
    quantity_exact: str = strawberry.field(description="The quantity as a decimal string")
    unit: str = strawberry.field(description="m2, day, vnd, m")
    unit_vi: str
    quantity_vi: str = strawberry.field(description='"25.000 m²"')
    value_vnd: BigInt
    households: int | None

    @classmethod
    def from_json(cls, item: JSON) -> InKindQuantity:
        return cls(
            kind=item["kind"],
            name=item["name"],
            quantity=item["quantity"],
            quantity_exact=item["quantity_exact"],
            unit=item["unit"],
            unit_vi=item["unit_vi"],
            quantity_vi=item["quantity_vi"],
            value_vnd=item["value_vnd"],
            households=item["households"],
        )


@strawberry.type(description="The parts the paragraph names; they add up to the total")
class SummaryPart:
    label: str
    sources: list[str]
    amount: BigInt
    share_bp: int
    share_vi: str
    printed: str


def _by_source(root: strawberry.Parent[FundingSummary]) -> list[SourceAmount]:
    return [SourceAmount.from_json(s) for s in root.item["by_source"]]


def _in_kind(root: strawberry.Parent[FundingSummary]) -> list[InKindQuantity]:
    return [InKindQuantity.from_json(k) for k in root.item["in_kind"]]


def _by_group(root: strawberry.Parent[FundingSummary]) -> list[GroupAmount]:
    return [GroupAmount.from_json(g) for g in root.item["by_group"]]


def _summary_parts(root: strawberry.Parent[FundingSummary]) -> list[SummaryPart]:
    return [
        SummaryPart(
            label=p["label"],
            sources=p["sources"],
            amount=p["amount"],
            share_bp=p["share_bp"],
            share_vi=p["share_vi"],
            printed=p["printed"],
        )
        for p in root.item["summary_parts"]
    ]


@strawberry.type(description="Huy động nguồn lực — a unit and everything below it, in a window")
class FundingSummary:
    """The lists are turned into objects only when a query asks for them: a dashboard asks the
    totals of a thousand units."""

    total: BigInt = strawberry.field(description="Mobilised (received) in the window")
    cumulative: BigInt = strawberry.field(description="Since 2021-01-01 to the window's end")
    by_source: list[SourceAmount] = strawberry.field(resolver=_by_source)
    in_kind: list[InKindQuantity] = strawberry.field(resolver=_in_kind)
    by_group: list[GroupAmount] = strawberry.field(resolver=_by_group)
    pledged: BigInt
    pledged_outstanding: BigInt = strawberry.field(description="Pledges not yet received")
    disbursed: BigInt
    settled: BigInt
    total_trieu: str
    total_ty: str
    cumulative_trieu: str
    cumulative_ty: str
    summary_vi: str = strawberry.field(description="The paragraph, as a district office writes")
    summary_parts: list[SummaryPart] = strawberry.field(resolver=_summary_parts)
    window_from: date
    window_to: date
    window_label: str
    edition: str = strawberry.field(
        description="`2025`: includes the history of the legacy units that passed into it"
    )
    item: strawberry.Private[JSON]  # the upstream's summary

    @classmethod
    def from_json(cls, item: JSON) -> FundingSummary:
        window = item["window"]
        return cls(
            total=item["total"],
            cumulative=item["cumulative"],
            pledged=item["pledged"],
            pledged_outstanding=item["pledged_outstanding"],
            disbursed=item["disbursed"],
            settled=item["settled"],
            total_trieu=item["total_trieu"],
            total_ty=item["total_ty"],
            cumulative_trieu=item["cumulative_trieu"],
            cumulative_ty=item["cumulative_ty"],
            summary_vi=item.get("summary_vi", ""),  # none in a totals-only answer
            window_from=date.fromisoformat(window["from"]),
            window_to=date.fromisoformat(window["to"]),
            window_label=window["label_vi"],
            edition=item["edition"],
            item=item,
        )


# --- the write side ------------------------------------------------------------------------


@strawberry.enum(description="What a posting records")
class TransferType(Enum):
    PLEDGE = "pledge"
    RECEIPT = "receipt"
    DISBURSEMENT = "disbursement"
    SETTLEMENT = "settlement"


@strawberry.input(description="One posting; amounts in VND. In kind: kind + quantity")
class TransferInput:
    unit: str
    source: str
    date: date
    amount: BigInt | None = None
    type: TransferType = TransferType.RECEIPT
    kind: str | None = None
    quantity: Decimal | None = None
    quantity_unit: str | None = None
    households: int | None = None
    work: str | None = None
    pledge: str | None = strawberry.field(default=None, description="External id of the pledge")
    purpose: str | None = None
    memo: str | None = None
    external_id: str | None = strawberry.field(
        default=None, description="The ledger's id of the posting; `idempotencyKey` if absent"
    )


@strawberry.type(description="A posting of the ledger (immutable)")
class Transfer:
    id: strawberry.ID
    external_id: str
    type: str
    stage: str
    sign: int
    unit: str
    unit_name: str
    source: str
    source_name: str
    amount: BigInt
    date: date
    period: str
    work: str | None
    reverses: strawberry.ID | None
    reversed_by: strawberry.ID | None
    kind: str | None
    quantity: float | None
    quantity_unit: str | None
    households: int | None
    rate_vnd: BigInt | None
    memo: str | None
    posted_at: datetime

    @classmethod
    def from_json(cls, item: JSON) -> Transfer:
        return cls(
            id=strawberry.ID(item["id"]),
            external_id=item["external_id"],
            type=item["type"],
            stage=item["stage"],
            sign=item["sign"],
            unit=item["unit"],
            unit_name=item["unit_name"],
            source=item["source"],
            source_name=item["source_name"],
            amount=item["amount"],
            date=date.fromisoformat(item["date"]),
            period=item["period"],
            work=item.get("work"),
            reverses=item.get("reverses"),
            reversed_by=item.get("reversed_by"),
            kind=item.get("kind"),
            quantity=float(item["quantity"]) if item.get("quantity") is not None else None,
            quantity_unit=item.get("quantity_unit"),
            households=item.get("households"),
            rate_vnd=item.get("rate_vnd"),
            memo=item.get("memo"),
            posted_at=datetime.fromisoformat(item["posted_at"]),
        )


@strawberry.type
class TransferRecorded:
    transfer: Transfer
    replayed: bool = strawberry.field(description="True when this repeats an earlier request")


@strawberry.type
class TransferReversed:
    reversal: Transfer
    replayed: bool


@strawberry.interface(description="An expected failure, with a stable code and both messages")
class UserError:
    code: str
    message_vi: str
    message_en: str


@strawberry.type(description="One failing field of the input")
class FieldError:
    field: str | None
    code: str
    message_vi: str
    message_en: str


@strawberry.type
class ValidationError(UserError):
    field_errors: list[FieldError]


@strawberry.type
class NotFound(UserError):
    field_errors: list[FieldError]


@strawberry.type(
    description="The caller may not do this: no or a bad token, a role without the right, a "
    "unit outside its scope, or a dossier another level holds"
)
class AccessDenied(UserError):
    pass


@strawberry.type(description="The key was used before with another input: nothing was posted")
class IdempotencyConflict(UserError):
    idempotency_key: str | None


@strawberry.type
class AlreadyReversed(UserError):
    transfer_id: strawberry.ID


@strawberry.type(description="A reversal cannot itself be reversed: post a new transfer")
class NotReversible(UserError):
    transfer_id: strawberry.ID


RecordTransferPayload = Annotated[
    TransferRecorded | ValidationError | NotFound | IdempotencyConflict | AccessDenied,
    strawberry.union("RecordTransferPayload"),
]
ReverseTransferPayload = Annotated[
    TransferReversed | ValidationError | NotFound | IdempotencyConflict | AlreadyReversed
    | NotReversible | AccessDenied,
    strawberry.union("ReverseTransferPayload"),
]  # fmt: skip

# REST (snake_case) field names → this schema's argument and input names
_FIELD_NAMES = {
    "external_id": "externalId",
    "quantity_unit": "quantityUnit",
    "transfer_id": "id",
}


def _field_errors(exc: GatewayError) -> list[FieldError]:
    return [
        FieldError(
            field=_FIELD_NAMES.get(e.get("field") or "", e.get("field")),
            code=e.get("code", ""),
            message_vi=e.get("message_vi", ""),
            message_en=e.get("message_en", ""),
        )
        for e in exc.extensions.get("errors") or []
    ]


def _user_error(exc: GatewayError, *, key: str | None, transfer_id: str | None) -> Any:
    """The union member an upstream refusal stands for; anything else is raised on."""
    ext = exc.extensions
    upstream = ext.get("upstream_code") or ""
    common: dict[str, Any] = {
        "code": upstream or ext["code"],
        "message_vi": ext["message_vi"],
        "message_en": ext["message_en"],
    }
    if upstream == "transfer.idempotency_conflict":
        return IdempotencyConflict(**common, idempotency_key=key)
    if upstream == "transfer.already_reversed":
        return AlreadyReversed(**common, transfer_id=strawberry.ID(transfer_id or ""))
    if upstream == "transfer.not_reversible":
        return NotReversible(**common, transfer_id=strawberry.ID(transfer_id or ""))
    if ext["code"] in ("FORBIDDEN", "UNAUTHENTICATED"):
        return AccessDenied(**common)
    if ext["code"] == "NOT_FOUND":
        return NotFound(**common, field_errors=_field_errors(exc))
    if ext["code"] in ("BAD_USER_INPUT", "BAD_REQUEST"):
        return ValidationError(**common, field_errors=_field_errors(exc))
    raise exc


def _invalid(field: str, code: str, vi: str, en: str) -> ValidationError:
    return ValidationError(
        code=code,
        message_vi=vi,
        message_en=en,
        field_errors=[FieldError(field=field, code=code, message_vi=vi, message_en=en)],
    )


@strawberry.type
class FundingMutation:
    @strawberry.mutation(
        description="Post a transfer to the ledger. `idempotencyKey` (or `input.externalId`) "
        "identifies it: the same key and input again answer the first result; the same key "
        "with another input is an IdempotencyConflict and posts nothing."
    )
    async def record_transfer(
        self,
        info: Info[Context, None],
        input: TransferInput,
        idempotency_key: str | None = None,
    ) -> RecordTransferPayload:
        if input.external_id and idempotency_key and input.external_id != idempotency_key:
            return _invalid(
                "idempotencyKey",
                "transfer.idempotency_key_mismatch",
                "'idempotencyKey' và 'input.externalId' khác nhau.",
                "'idempotencyKey' and 'input.externalId' differ.",
            )
        key = input.external_id or idempotency_key
        if not key:
            # a ledger posting without a key could be posted twice by a client's retry
            return _invalid(
                "idempotencyKey",
                "transfer.idempotency_key_required",
                "Cần 'idempotencyKey' (hoặc 'input.externalId') để gửi lại không ghi sổ hai lần.",
                "'idempotencyKey' (or 'input.externalId') is required, so that a retry cannot"
                " post twice.",
            )
        body: JSON = {
            "external_id": key,
            "unit": input.unit,
            "source": input.source,
            "amount": input.amount,
            "date": input.date.isoformat(),
            "type": input.type.value,
            "kind": input.kind,
            "quantity": str(input.quantity) if input.quantity is not None else None,
            "quantity_unit": input.quantity_unit,
            "households": input.households,
            "work": input.work,
            "pledge": input.pledge,
            "purpose": input.purpose,
            "memo": input.memo,
        }
        try:
            out = await info.context.upstreams.funding.write(
                "/v1/transfers", {k: v for k, v in body.items() if v is not None}
            )
        except GatewayError as exc:
            return _user_error(exc, key=key, transfer_id=None)  # type: ignore[no-any-return]
        return TransferRecorded(transfer=Transfer.from_json(out), replayed=out["replayed"])

    @strawberry.mutation(
        description="Reverse a transfer (bút toán đảo): a mirror posting, nothing is changed or "
        "deleted. Idempotent: by default one reversal per transfer."
    )
    async def reverse_transfer(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        reason: str,
        idempotency_key: str | None = None,
    ) -> ReverseTransferPayload:
        try:
            transfer_id = uuid.UUID(str(id))
        except ValueError:
            return _invalid(
                "id",
                "transfer.id_invalid",
                f"Mã giao dịch '{id}' không hợp lệ (UUID).",
                f"Transfer id '{id}' is not a UUID.",
            )
        body: JSON = {"reason": reason}
        if idempotency_key is not None:
            body["external_id"] = idempotency_key
        try:
            out = await info.context.upstreams.funding.write(
                f"/v1/transfers/{transfer_id}/reversal", body
            )
        except GatewayError as exc:
            return _user_error(  # type: ignore[no-any-return]
                exc, key=idempotency_key, transfer_id=str(transfer_id)
            )
        return TransferReversed(reversal=Transfer.from_json(out), replayed=out["replayed"])
