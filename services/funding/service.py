"""Business rules of the ledger: reference loads, posting a transfer, reversing one, reading.

Takes the request's session and never commits (the session dependency does, once)."""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria.reference.admin_units import build_national_units, national_checksum
from services.funding import errors
from services.funding.catalog import load_taxonomy, raw_taxonomy, taxonomy_checksum
from services.funding.domain.ledger import (
    fingerprint,
    in_kind_value,
    in_programme,
    needs_work,
    period_of,
    sides,
    stage_of,
)
from services.funding.models import TransferKind
from services.funding.repository import LedgerRepository, ReferenceRepository, scope_of
from services.funding.schemas import (
    MAX_AMOUNT,
    AccountOut,
    AccountsOut,
    InKindKindOut,
    ReversalIn,
    SourceOut,
    TransferIn,
    TransferOut,
    TransferPage,
)
from shared import clock
from shared.errors import InvalidInput
from shared.pagination import decode_cursor, encode_cursor, invalid_cursor

log = logging.getLogger("ntm.funding")

UNITS_DATASET = "national-admin-units"
TAXONOMY_DATASET = "funding-taxonomy"


async def load_reference_data(session: AsyncSession, *, force: bool = False) -> bool:
    """Load the taxonomy and the national units when their checksums changed; True if loaded."""
    repo = ReferenceRepository(session)
    loaded = False
    raw = raw_taxonomy()
    checksum = taxonomy_checksum(raw)
    if force or await repo.checksum(TAXONOMY_DATASET) != checksum:
        await repo.load_taxonomy(load_taxonomy(raw))
        await repo.mark_loaded(TAXONOMY_DATASET, checksum)
        loaded = True
    units_checksum = national_checksum()
    if force or await repo.checksum(UNITS_DATASET) != units_checksum:
        count = await repo.load_units(build_national_units())
        await repo.mark_loaded(UNITS_DATASET, units_checksum)
        log.info("funding units loaded", extra={"units": count})
        loaded = True
    return loaded


# --- reading -----------------------------------------------------------------------------


def transfer_out(row: RowMapping, *, replayed: bool = False) -> TransferOut:
    return TransferOut(
        id=row["id"],
        external_id=row["external_id"],
        type=row["kind"],
        stage=row["stage"],
        sign=row["sign"],
        unit=row["unit_code"],
        unit_name=row["unit_name"],
        edition=row["edition"],
        source=row["source_code"],
        source_name=row["source_name"],
        amount=row["amount"],
        date=row["value_date"],
        period=row["period"],
        purpose=row["purpose"],
        work=row["work_code"],
        pledge_id=row["pledge_id"],
        reverses=row["reverses"],
        reversed_by=row["reversed_by"],
        kind=row["in_kind_kind"],
        quantity=row["quantity"],
        quantity_unit=row["quantity_unit"],
        households=row["households"],
        rate_vnd=row["rate_vnd"],
        memo=row["memo"],
        recorded_by=row["recorded_by"],
        import_job_id=row["import_job_id"],
        posted_at=row["posted_at"],
        replayed=replayed,
    )


async def get_transfer(session: AsyncSession, transfer_id: uuid.UUID) -> TransferOut:
    row = await LedgerRepository(session).transfer(transfer_id)
    if row is None:
        raise errors.TransferNotFound(transfer_id)
    return transfer_out(row)


async def get_transfer_by_external_id(session: AsyncSession, external_id: str) -> TransferOut:
    row = await LedgerRepository(session).transfer_by_external_id(external_id)
    if row is None:
        raise errors.TransferNotFound(external_id)
    return transfer_out(row)


async def resolve_unit(
    session: AsyncSession, code: str, on: date, field: str = "unit"
) -> RowMapping:
    row = await LedgerRepository(session).unit_at(code, on)
    if row is None:
        raise errors.UnitNotFound(code, on, field)
    return row


async def list_transfers(
    session: AsyncSession,
    *,
    unit: str | None,
    as_of: date,
    date_from: date | None,
    date_to: date | None,
    cursor: str | None,
    limit: int,
) -> TransferPage:
    """Transfers of a unit and everything below it (or all), newest first."""
    scope = scope_of(await resolve_unit(session, unit, as_of)) if unit is not None else None
    after = decode_cursor(cursor)
    try:
        key = (date.fromisoformat(after[0]), uuid.UUID(after[1])) if after is not None else None
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise invalid_cursor() from exc
    rows, total = await LedgerRepository(session).list_transfers(
        scope=scope,
        date_from=date_from,
        date_to=date_to,
        after=key,
        limit=limit,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        encode_cursor([rows[-1]["value_date"].isoformat(), str(rows[-1]["id"])])
        if more and rows
        else None
    )
    return TransferPage(
        items=[transfer_out(r) for r in rows], next_cursor=next_cursor, total_count=total
    )


async def list_sources(session: AsyncSession) -> list[SourceOut]:
    return [
        SourceOut(
            code=r["code"],
            group=r["group_code"],
            group_name_vi=r["group_name_vi"],
            group_name_en=r["group_name_en"],
            name_vi=r["name_vi"],
            name_en=r["name_en"],
            in_kind=r["in_kind"],
            valid_from=r["valid_from"],
            valid_to=r["valid_to"],
        )
        for r in await LedgerRepository(session).sources()
    ]


async def list_in_kind_kinds(session: AsyncSession) -> list[InKindKindOut]:
    return [
        InKindKindOut(
            code=r["code"],
            name_vi=r["name_vi"],
            name_en=r["name_en"],
            quantity_unit=r["quantity_unit"],
            quantity_unit_vi=r["quantity_unit_vi"],
        )
        for r in await LedgerRepository(session).in_kind_kinds()
    ]


async def unit_accounts(session: AsyncSession, code: str, as_of: date) -> AccountsOut:
    unit = await resolve_unit(session, code, as_of)
    rows = await LedgerRepository(session).balances(unit["id"])
    accounts = [
        AccountOut(
            id=r["id"],
            period=r["period"],
            purpose=r["purpose"],
            source=r["source_code"],
            role=r["role"],
            work_id=r["work_id"],
            debits=int(r["debits"]),
            credits=int(r["credits"]),
            balance=int(r["debits"]) - int(r["credits"]),
        )
        for r in rows
    ]
    return AccountsOut(unit=code, accounts=accounts, balanced=sum(a.balance for a in accounts) == 0)


# --- posting -----------------------------------------------------------------------------


def _bad(field: str, code: str, vi: str, en: str) -> InvalidInput:
    return errors.invalid_field(field, code, vi, en)


async def _replay(
    repo: LedgerRepository, external_id: str, fingerprint: bytes
) -> TransferOut | None:
    """The first result of an earlier request with this id, or None; 409 if its body differs."""
    row = await repo.transfer_by_external_id(external_id)
    if row is None:
        return None
    if bytes(row["body_hash"]) != fingerprint:
        raise errors.IdempotencyConflict(external_id)
    return transfer_out(row, replayed=True)


async def post_transfer(
    session: AsyncSession, body: TransferIn, *, recorded_by: str | None = None
) -> TransferOut:
    """Post one transfer, or return the first result of an identical earlier request."""
    repo = LedgerRepository(session)
    fp = fingerprint(body.model_dump(mode="json"))
    replay = await _replay(repo, body.external_id, fp)
    if replay is not None:
        return replay
    values, context = await _posting_values(session, repo, body)
    values.update(
        id=uuid.uuid4(),
        external_id=body.external_id,
        body_hash=fp.hex(),
        memo=body.memo,
        recorded_by=recorded_by,
    )
    transfer_id, created, posted_at = await repo.post(values)
    if not created:
        # another request with this id committed in between: answer as its repeat
        replay = await _replay(repo, body.external_id, fp)
        assert replay is not None
        return replay
    unit, source = context["unit"], context["source"]
    return TransferOut(
        id=transfer_id,
        external_id=body.external_id,
        type=values["kind"],
        stage=values["stage"],
        sign=1,
        unit=unit["code"],
        unit_name=unit["name"],
        edition=unit["edition"],
        source=body.source,
        source_name=source["name_vi"],
        amount=values["amount"],
        date=body.date,
        period=values["period"],
        purpose=body.purpose,
        work=body.work if values["work_id"] is not None else None,
        pledge_id=values["pledge_id"],
        kind=values["in_kind_kind"],
        quantity=values["quantity"],
        quantity_unit=context["quantity_unit"],
        households=values["households"],
        rate_vnd=values["rate_vnd"],
        memo=body.memo,
        recorded_by=recorded_by,
        posted_at=posted_at,
    )


async def _posting_values(
    session: AsyncSession, repo: LedgerRepository, body: TransferIn
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check one request against the reference data and build its posting."""
    kind = body.type
    if kind is TransferKind.reversal:
        raise _bad(
            "type",
            "transfer.type_invalid",
            "Bút toán đảo ghi qua POST /v1/transfers/{id}/reversal.",
            "Post reversals through POST /v1/transfers/{id}/reversal.",
        )
    if not in_programme(body.date):
        raise _bad(
            "date",
            "date.out_of_programme",
            f"Ngày {body.date:%d/%m/%Y} nằm ngoài chương trình (01/01/2021 - 31/12/2030).",
            f"Date {body.date.isoformat()} is outside the programme (2021-01-01 to 2030-12-31).",
        )
    if body.date > clock.today():
        raise _bad(
            "date",
            "date.in_future",
            f"Ngày {body.date:%d/%m/%Y} ở tương lai.",
            f"Date {body.date.isoformat()} is in the future.",
        )
    unit = await resolve_unit(session, body.unit, body.date)
    source = await repo.source(body.source)
    if source is None:
        raise _bad(
            "source",
            "source.unknown",
            f"Nguồn vốn {body.source} không có trong danh mục.",
            f"Unknown funding source {body.source}.",
        )
    if (source["valid_from"] and body.date < source["valid_from"]) or (
        source["valid_to"] and body.date > source["valid_to"]
    ):
        raise _bad(
            "source",
            "source.not_in_force",
            f"Nguồn vốn {body.source} không áp dụng vào ngày {body.date:%d/%m/%Y}.",
            f"Funding source {body.source} does not apply on {body.date.isoformat()}.",
        )
    period = period_of(body.date).value
    values: dict[str, Any] = {
        "kind": kind.value,
        "stage": stage_of(kind).value,
        "sign": 1,
        "unit_id": unit["id"],
        "source_code": body.source,
        "value_date": body.date,
        "period": period,
        "work_id": None,
        "pledge_id": None,
        "reverses": None,
        "in_kind_kind": None,
        "quantity": None,
        "households": body.households,
        "rate_id": None,
        "rate_vnd": None,
    }
    amount = body.amount
    if body.kind is not None or body.quantity is not None:
        amount = await _in_kind(repo, body, unit, values)
    elif source["in_kind"]:
        raise _bad(
            "kind",
            "in_kind.kind_required",
            f"Nguồn {body.source} là đóng góp hiện vật: cần 'kind' và 'quantity'.",
            f"Source {body.source} is an in-kind contribution: 'kind' and 'quantity' are needed.",
        )
    if amount is None:
        raise _bad(
            "amount", "amount.required", "Thiếu số tiền (đồng).", "The amount (VND) is missing."
        )
    values["amount"] = amount
    work_id: int | None = None
    if needs_work(kind):
        if body.work is None:
            raise _bad(
                "work",
                "work.required",
                "Giải ngân, quyết toán phải ghi công trình ('work').",
                "A disbursement or settlement names its work ('work').",
            )
        work = await repo.work_by_code(unit["id"], body.work)
        if work is None:
            raise _bad(
                "work",
                "work.not_found",
                f"Đơn vị {body.unit} không có công trình mã {body.work}.",
                f"Unit {body.unit} has no work with code {body.work}.",
            )
        work_id = int(work["id"])
        values["work_id"] = work_id
    pledge: RowMapping | None = None
    if body.pledge is not None:
        pledge = await repo.transfer_by_external_id(body.pledge)
        if (
            kind is not TransferKind.receipt
            or pledge is None
            or pledge["kind"] != "pledge"
            or pledge["unit_id"] != unit["id"]
            or pledge["source_code"] != body.source
        ):
            raise _bad(
                "pledge",
                "pledge.invalid",
                "'pledge' phải là mã một cam kết cùng đơn vị, cùng nguồn, và chỉ dùng khi nhận.",
                "'pledge' must name a pledge of the same unit and source, on a receipt.",
            )
        values["pledge_id"] = pledge["id"]
    debit_role, credit_role = sides(kind, from_pledge=pledge is not None)
    values.update(purpose=body.purpose, debit_role=debit_role.value, credit_role=credit_role.value)
    context = {"unit": unit, "source": source, "quantity_unit": values.pop("_quantity_unit", None)}
    return values, context


async def _in_kind(
    repo: LedgerRepository, body: TransferIn, unit: RowMapping, values: dict[str, Any]
) -> int:
    """Fill the in-kind fields; the amount given, or quantity × the valuation rate in force."""
    if body.kind is None or body.quantity is None:
        missing = "kind" if body.kind is None else "quantity"
        raise _bad(
            missing,
            "in_kind.incomplete",
            "Đóng góp hiện vật cần cả 'kind' và 'quantity'.",
            "An in-kind gift needs both 'kind' and 'quantity'.",
        )
    kind = await repo.in_kind_kind(body.kind)
    if kind is None:
        raise _bad(
            "kind",
            "in_kind.kind_unknown",
            f"Loại hiện vật '{body.kind}' không có trong danh mục.",
            f"Unknown in-kind kind '{body.kind}'.",
        )
    if body.quantity_unit is not None and body.quantity_unit != kind["quantity_unit"]:
        raise _bad(
            "quantity_unit",
            "in_kind.unit_mismatch",
            f"'{body.kind}' tính theo {kind['quantity_unit']}, không phải {body.quantity_unit}.",
            f"'{body.kind}' is counted in {kind['quantity_unit']}, not {body.quantity_unit}.",
        )
    values["in_kind_kind"] = body.kind
    values["quantity"] = body.quantity
    values["_quantity_unit"] = kind["quantity_unit"]
    if body.amount is not None:
        return body.amount
    rate = await repo.rate_at(unit["province_code"], body.kind, body.date)
    if rate is None:
        raise _bad(
            "amount",
            "valuation.no_rate",
            f"Chưa có đơn giá quy đổi cho '{body.kind}' vào ngày {body.date:%d/%m/%Y}.",
            f"No valuation rate for '{body.kind}' on {body.date.isoformat()}.",
        )
    values["rate_id"] = rate["id"]
    values["rate_vnd"] = rate["rate_vnd"]
    value = in_kind_value(body.quantity, int(rate["rate_vnd"]))
    if value <= 0:
        raise _bad(
            "quantity",
            "valuation.zero",
            "Giá trị quy đổi bằng 0 đồng.",
            "The valued amount rounds to 0 VND.",
        )
    if value > MAX_AMOUNT:  # as the import refuses it; beyond BIGINT it could not be stored
        raise _bad(
            "quantity",
            "valuation.too_large",
            "Giá trị quy đổi vượt quá giới hạn số tiền.",
            "The valued amount exceeds the largest amount.",
        )
    return value


async def reverse_transfer(
    session: AsyncSession,
    transfer_id: uuid.UUID,
    body: ReversalIn,
    *,
    recorded_by: str | None = None,
) -> TransferOut:
    """Post the reversal of a transfer (idempotent on its external id)."""
    repo = LedgerRepository(session)
    external_id = body.external_id or f"reversal:{transfer_id}"
    fp = fingerprint({"reverses": str(transfer_id), "reason": body.reason})
    replay = await _replay(repo, external_id, fp)
    if replay is not None:
        return replay
    original = await repo.transfer(transfer_id)
    if original is None:
        raise errors.TransferNotFound(transfer_id)
    if original["kind"] == TransferKind.reversal.value:
        raise errors.NotReversible(transfer_id)
    if original["reversed_by"] is not None:
        raise errors.AlreadyReversed(transfer_id)
    sides_row = (await session.execute(_ORIGINAL_SIDES, {"id": transfer_id})).mappings().one()
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "external_id": external_id,
        "body_hash": fp,
        "kind": TransferKind.reversal.value,
        "stage": original["stage"],
        "sign": -1,
        "unit_id": original["unit_id"],
        "source_code": original["source_code"],
        "debit_account_id": sides_row["credit_account_id"],
        "debit_role": sides_row["credit_role"],
        "credit_account_id": sides_row["debit_account_id"],
        "credit_role": sides_row["debit_role"],
        "amount": original["amount"],
        "value_date": original["value_date"],
        "period": original["period"],
        "work_id": original["work_id"],
        "pledge_id": None,
        "reverses": transfer_id,
        "in_kind_kind": original["in_kind_kind"],
        "quantity": original["quantity"],
        "households": original["households"],
        "rate_id": original["rate_id"],
        "rate_vnd": original["rate_vnd"],
        "memo": body.reason,
        "recorded_by": recorded_by,
    }
    try:
        async with session.begin_nested():
            inserted = await repo.insert_transfer(values)
    except IntegrityError as exc:  # a concurrent reversal of the same transfer won
        raise errors.AlreadyReversed(transfer_id) from exc
    if not inserted:
        replay = await _replay(repo, external_id, fp)
        assert replay is not None
        return replay
    return await get_transfer(session, values["id"])


_ORIGINAL_SIDES = text(
    "SELECT debit_account_id, debit_role, credit_account_id, credit_role"
    " FROM funding.transfers WHERE id = :id"
)
