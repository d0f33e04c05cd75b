"""Works of a unit, what is owed on them (obligations), their construction debt as of a date,
and the provinces' valuation rates of in-kind gifts.

Takes the request's session and never commits (the session dependency does, once).

Idempotency: a work is idempotent on (unit, code); an obligation and a correction on the
`Idempotency-Key` header (unique across obligations: the same key and body answer the first
result, another body is a 409). Without the header every obligation POST records a new row; a
correction is at most one per obligation anyway, and repeating it with the same document
answers the first one."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from services.funding import errors
from services.funding.domain.debt import (
    WORK_KINDS,
    Obligation,
    Payment,
    WorkDebt,
    base_set,
    check_criterion,
    kind_label,
    unit_debt,
    work_debt,
)
from services.funding.domain.ledger import fingerprint
from services.funding.models import ObligationBasis
from services.funding.repository import LedgerRepository
from services.funding.repository.works import WorksRepository
from services.funding.schemas.works import (
    ConstructionDebtOut,
    ObligationIn,
    ObligationOut,
    ObligationReversalIn,
    RateIn,
    RateOut,
    RatesOut,
    WorkDebtOut,
    WorkIn,
    WorkKindOut,
    WorkOut,
    WorkPage,
)
from services.funding.service import resolve_unit
from shared import clock
from shared.errors import Conflict, FieldError, InvalidInput, NotFound
from shared.pagination import (
    Page,
    cursor_after,
    decode_cursor,
    encode_cursor,
    invalid_cursor,
    keyset_page,
)
from shared.vn import format_vn_number

# Obligations from the earlier periods of the programme (2010–2020) may still be unpaid.
EARLIEST_OBLIGATION = date(2010, 1, 1)


# --- errors ------------------------------------------------------------------------------


def _bad(field: str, code: str, vi: str, en: str) -> InvalidInput:
    return errors.invalid_field(field, code, vi, en)


class WorkConflict(Conflict):
    code = "work.conflict"

    def __init__(self, unit: str, code: str) -> None:
        super().__init__(
            f"Đơn vị {unit} đã có công trình mã {code} với nội dung khác.",
            f"Unit {unit} already has a work with code {code} and another body.",
            errors=[
                FieldError(
                    field="code",
                    code="work.conflict",
                    message_vi="Cùng mã công trình, khác nội dung: không ghi lần hai.",
                    message_en="Same work code, different body: nothing was recorded.",
                )
            ],
        )


class ObligationNotFound(NotFound):
    code = "obligation.not_found"

    def __init__(self, work_id: int, obligation_id: int) -> None:
        super().__init__(
            f"Công trình {work_id} không có nghĩa vụ {obligation_id}.",
            f"Work {work_id} has no obligation {obligation_id}.",
        )


class ObligationKeyConflict(Conflict):
    code = "obligation.idempotency_conflict"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Khóa Idempotency-Key {key} đã được dùng cho một yêu cầu có nội dung khác.",
            f"Idempotency-Key {key} was already used for a request with another body.",
            errors=[
                FieldError(
                    field="Idempotency-Key",
                    code="obligation.idempotency_conflict",
                    message_vi="Cùng khóa, khác nội dung: không ghi lần hai.",
                    message_en="Same key, different body: nothing was recorded.",
                )
            ],
        )


class ObligationAlreadyCorrected(Conflict):
    code = "obligation.already_reversed"

    def __init__(self, obligation_id: int) -> None:
        super().__init__(
            f"Nghĩa vụ {obligation_id} đã được điều chỉnh giảm (đảo) rồi.",
            f"Obligation {obligation_id} has already been reversed.",
        )


class ObligationNotReversible(Conflict):
    code = "obligation.not_reversible"

    def __init__(self, obligation_id: int) -> None:
        super().__init__(
            f"Dòng {obligation_id} là bút toán điều chỉnh, không thể đảo tiếp; hãy ghi dòng mới.",
            f"Row {obligation_id} is a correction and cannot be reversed; record a new one.",
        )


class RateInUse(Conflict):
    code = "valuation.rate_in_use"

    def __init__(self, vi: str, en: str) -> None:
        super().__init__(
            vi,
            en,
            errors=[FieldError(field="rate_vnd", code=self.code, message_vi=vi, message_en=en)],
        )


class RateOverlap(Conflict):
    code = "valuation.overlap"

    def __init__(self, province: str, kind: str, others: list[RowMapping]) -> None:
        periods = ", ".join(f"{r['valid_from']:%d/%m/%Y}–{_dmy(r['valid_to'])}" for r in others)
        periods_en = ", ".join(
            f"{r['valid_from'].isoformat()}..{r['valid_to'] or 'open'}" for r in others
        )
        vi = (
            f"Tỉnh {province} đã có đơn giá '{kind}' trong thời gian chồng lấn: {periods}."
            " Hãy kết thúc (valid_to) đơn giá cũ trước."
        )
        en = (
            f"Province {province} already has a '{kind}' rate for an overlapping period:"
            f" {periods_en}. Close the earlier rate (valid_to) first."
        )
        super().__init__(
            vi,
            en,
            errors=[FieldError(field="valid_from", code=self.code, message_vi=vi, message_en=en)],
        )


def _dmy(day: date | None) -> str:
    return "nay" if day is None else f"{day:%d/%m/%Y}"


# --- criteria of the shipped sets ---------------------------------------------------------


@cache
def _criteria() -> dict[str, dict[int, str]]:
    """Criterion numbers and names of the shipped national sets (the criteria service's package
    data, not its tables): 1–19 for the commune sets of 2021, 1–9 for the district sets, 1–10
    for xa-ntm-2026."""
    from services.criteria.reference.catalog import load_catalog

    return {s.code: {c.number: c.name for c in s.criteria} for s in load_catalog()}


def criterion_name(set_code: str | None, number: int | None) -> str | None:
    if set_code is None or number is None:
        return None
    return _criteria().get(base_set(set_code), {}).get(number)


def _check_work(body: WorkIn) -> None:
    if body.kind not in WORK_KINDS:
        known = ", ".join(WORK_KINDS)
        raise _bad(
            "kind",
            "work.kind_unknown",
            f"Loại công trình '{body.kind}' không có trong danh mục ({known}).",
            f"Unknown kind of work '{body.kind}' (known: {known}).",
        )
    if body.criterion_number is None and body.set_code is None:
        return
    if body.criterion_number is None:
        raise _bad(
            "criterion_number",
            "work.criterion_required",
            "Đã ghi bộ tiêu chí thì phải ghi số tiêu chí công trình phục vụ.",
            "With a criteria set, give the number of the criterion the work serves.",
        )
    if body.set_code is None:
        raise _bad(
            "set_code",
            "work.set_required",
            "Số tiêu chí phải đi kèm mã bộ tiêu chí (ví dụ xa-ntm-2021).",
            "A criterion number needs its criteria set code (e.g. xa-ntm-2021).",
        )
    criteria = _criteria()
    problem = check_criterion(body.set_code, body.criterion_number, criteria)
    if problem == "set_unknown":
        known = ", ".join(sorted(criteria))
        raise _bad(
            "set_code",
            "criterion.set_unknown",
            f"Bộ tiêu chí '{body.set_code}' không có ({known}).",
            f"Unknown criteria set '{body.set_code}' (known: {known}).",
        )
    if problem == "number_out_of_range":
        count = max(criteria[base_set(body.set_code)])
        raise _bad(
            "criterion_number",
            "criterion.number_out_of_range",
            f"Bộ {body.set_code} có các tiêu chí 1–{count}, không có tiêu chí"
            f" {body.criterion_number}.",
            f"Set {body.set_code} has criteria 1–{count}, not {body.criterion_number}.",
        )


# --- works -------------------------------------------------------------------------------


def work_kinds() -> list[WorkKindOut]:
    return [WorkKindOut(code=c, name_vi=vi, name_en=en) for c, (vi, en) in WORK_KINDS.items()]


def _work_out(row: RowMapping, *, replayed: bool = False) -> WorkOut:
    figures = WorkDebt(
        contract=int(row["contract"]), acceptance=int(row["acceptance"]), paid=int(row["paid"])
    )
    vi, en = kind_label(row["kind"])
    return WorkOut(
        id=row["id"],
        unit=row["unit_code"],
        unit_name=row["unit_name"],
        edition=row["edition"],
        code=row["code"],
        name=row["name"],
        kind=row["kind"],
        kind_name_vi=vi,
        kind_name_en=en,
        set_code=row["set_code"],
        criterion_number=row["criterion_number"],
        criterion_name=criterion_name(row["set_code"], row["criterion_number"]),
        planned_vnd=row["planned_vnd"],
        started_on=row["started_on"],
        note=row["note"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        committed=figures.contract,
        accepted=figures.acceptance,
        paid=figures.paid,
        settled=int(row["settled"]),
        debt=figures.debt,
        replayed=replayed,
    )


_WORK_FIELDS = ("name", "kind", "set_code", "criterion_number", "planned_vnd", "started_on", "note")


async def create_work(
    session: AsyncSession, code: str, as_of: date, body: WorkIn, *, recorded_by: str | None
) -> WorkOut:
    """Record a work of the unit `code` names on `as_of`, or answer the same earlier one."""
    unit = await resolve_unit(session, code, as_of, field="code")
    _check_work(body)
    repo = WorksRepository(session)
    values: dict[str, Any] = {f: getattr(body, f) for f in _WORK_FIELDS}
    work_id = await repo.insert_work(
        {**values, "unit_id": unit["id"], "code": body.code, "created_by": recorded_by}
    )
    if work_id is None:
        existing = await repo.work_by_code(unit["id"], body.code)
        assert existing is not None
        if any(existing[f] != values[f] for f in _WORK_FIELDS):
            raise WorkConflict(code, body.code)
        return _work_out(existing, replayed=True)
    return await get_work(session, work_id)


async def get_work(session: AsyncSession, work_id: int) -> WorkOut:
    row = await WorksRepository(session).work(work_id)
    if row is None:
        raise errors.WorkNotFound(work_id)
    return _work_out(row)


async def list_works(
    session: AsyncSession, code: str, as_of: date, *, cursor: str | None, limit: int
) -> WorkPage:
    """Works of a unit and everything below it, in the order they were recorded."""
    unit = await resolve_unit(session, code, as_of, field="code")
    after = decode_cursor(cursor)
    if after is not None and (not isinstance(after, int) or isinstance(after, bool)):
        raise invalid_cursor()
    rows, total = await WorksRepository(session).works_page(unit, after_id=after, limit=limit)
    more = len(rows) > limit
    rows = rows[:limit]
    return WorkPage(
        items=[_work_out(r) for r in rows],
        next_cursor=encode_cursor(int(rows[-1]["id"])) if more and rows else None,
        total_count=total,
    )


# --- obligations -------------------------------------------------------------------------


def _obligation_out(row: RowMapping, *, replayed: bool = False) -> ObligationOut:
    return ObligationOut(
        id=row["id"],
        work_id=row["work_id"],
        work=row["work_code"],
        basis=row["basis"],
        amount=row["amount"],
        date=row["date"],
        document=row["document"],
        reverses=row["reverses"],
        reversed_by=row["reversed_by"],
        recorded_by=row["recorded_by"],
        recorded_at=row["recorded_at"],
        replayed=replayed,
    )


async def _keyed(repo: WorksRepository, key: str | None, fp: bytes) -> ObligationOut | None:
    """The first result of an earlier request with this key, or None; 409 if its body differs."""
    if key is None:
        return None
    row = await repo.obligation_by_key(key)
    if row is None:
        return None
    if row["body_hash"] is None or bytes(row["body_hash"]) != fp:
        raise ObligationKeyConflict(key)
    return _obligation_out(row, replayed=True)


async def list_obligations(
    session: AsyncSession, work_id: int, *, cursor: str | None, limit: int
) -> Page[ObligationOut]:
    await get_work(session, work_id)
    after = cursor_after(cursor, date.fromisoformat, int)
    rows, total = await WorksRepository(session).obligations_of(work_id, after, limit + 1)
    page, next_cursor = keyset_page(rows, limit, lambda r: [r["date"].isoformat(), r["id"]])
    items = [_obligation_out(r) for r in page]
    return Page(items=items, next_cursor=next_cursor, total_count=total)


async def add_obligation(
    session: AsyncSession,
    work_id: int,
    body: ObligationIn,
    *,
    key: str | None,
    recorded_by: str | None,
) -> ObligationOut:
    """Record a contract value or an accepted volume on a work."""
    repo = WorksRepository(session)
    fp = fingerprint({"work_id": work_id, **body.model_dump(mode="json")})
    replay = await _keyed(repo, key, fp)
    if replay is not None:
        return replay
    await get_work(session, work_id)
    if body.date > clock.today():
        raise _bad(
            "date",
            "date.in_future",
            f"Ngày {body.date:%d/%m/%Y} ở tương lai.",
            f"Date {body.date.isoformat()} is in the future.",
        )
    if body.date < EARLIEST_OBLIGATION:
        raise _bad(
            "date",
            "date.out_of_programme",
            f"Ngày {body.date:%d/%m/%Y} trước khi chương trình bắt đầu (01/01/2010).",
            f"Date {body.date.isoformat()} is before the programme began (2010-01-01).",
        )
    obligation_id = await repo.insert_obligation(
        {
            "work_id": work_id,
            "basis": body.basis.value,
            "amount": body.amount,
            "date": body.date,
            "document": body.document,
            "recorded_by": recorded_by,
            "idempotency_key": key,
            "body_hash": fp,
        }
    )
    if obligation_id is None:  # the key was taken in between by a concurrent request
        replay = await _keyed(repo, key, fp)
        assert replay is not None
        return replay
    row = await repo.obligation(obligation_id)
    assert row is not None
    return _obligation_out(row)


async def reverse_obligation(
    session: AsyncSession,
    work_id: int,
    obligation_id: int,
    body: ObligationReversalIn,
    *,
    key: str | None,
    recorded_by: str | None,
) -> ObligationOut:
    """Correct an obligation by the row with its opposite amount (at most once)."""
    repo = WorksRepository(session)
    fp = fingerprint({"reverses": obligation_id, "document": body.document})
    replay = await _keyed(repo, key, fp)
    if replay is not None:
        return replay
    original = await repo.obligation(obligation_id)
    if original is None or original["work_id"] != work_id:
        raise ObligationNotFound(work_id, obligation_id)
    if original["reverses"] is not None:
        raise ObligationNotReversible(obligation_id)
    if original["reversed_by"] is None:
        inserted = await repo.insert_obligation(
            {
                "work_id": work_id,
                "basis": original["basis"],
                "amount": -int(original["amount"]),
                "date": original["date"],
                "document": body.document,
                "reverses": obligation_id,
                "recorded_by": recorded_by,
                "idempotency_key": key,
                "body_hash": fp,
            }
        )
        if inserted is not None:
            row = await repo.obligation(inserted)
            assert row is not None
            return _obligation_out(row)
        replay = await _keyed(repo, key, fp)  # a concurrent request took the key
        if replay is not None:
            return replay
        original = await repo.obligation(obligation_id)
        assert original is not None
    # already corrected: a repeat of that correction answers it, anything else is a conflict
    correction = await repo.obligation(int(original["reversed_by"]))
    assert correction is not None
    if (
        correction["body_hash"] is not None
        and bytes(correction["body_hash"]) == fp
        and (key is None or correction["idempotency_key"] == key)
    ):
        return _obligation_out(correction, replayed=True)
    raise ObligationAlreadyCorrected(obligation_id)


# --- construction debt -------------------------------------------------------------------


def _debt_label(row: RowMapping, debt: int) -> str:
    kind_vi, _ = kind_label(row["kind"])
    return (
        f"{row['name']} ({kind_vi}, mã {row['code']}, {row['unit_name']}):"
        f" còn nợ {format_vn_number(debt)} đồng"
    )


async def construction_debt(session: AsyncSession, code: str, as_of: date) -> ConstructionDebtOut:
    """The construction debt of a unit and everything below it as of a date, per work (the
    definition is `services.funding.domain.debt`)."""
    unit = await resolve_unit(session, code, as_of, field="code")
    works, obligation_rows, payment_rows = await WorksRepository(session).debt_entries(unit, as_of)
    obligations: dict[int, list[Obligation]] = defaultdict(list)
    for o in obligation_rows:
        obligations[o["work_id"]].append(
            Obligation(basis=ObligationBasis(o["basis"]), amount=int(o["amount"]), date=o["date"])
        )
    payments: dict[int, list[Payment]] = defaultdict(list)
    for p in payment_rows:
        payments[p["work_id"]].append(Payment(amount=int(p["amount"]), date=p["date"]))
    out: list[WorkDebtOut] = []
    figures: list[WorkDebt] = []
    for w in works:
        f = work_debt(obligations[w["id"]], payments[w["id"]], as_of)
        figures.append(f)
        out.append(
            WorkDebtOut(
                id=w["id"],
                unit=w["unit_code"],
                code=w["code"],
                name=w["name"],
                kind=w["kind"],
                kind_name_vi=kind_label(w["kind"])[0],
                set_code=w["set_code"],
                criterion_number=w["criterion_number"],
                criterion_name=criterion_name(w["set_code"], w["criterion_number"]),
                contract=f.contract,
                acceptance=f.acceptance,
                obligation=f.obligation,
                paid=f.paid,
                debt=f.debt,
                label_vi=_debt_label(w, f.debt),
            )
        )
    total = unit_debt(figures)
    in_debt = [w for w in out if w.debt > 0]
    day = f"{as_of:%d/%m/%Y}"
    if in_debt:
        summary = (
            f"{unit['name']} còn nợ đọng xây dựng cơ bản {format_vn_number(total)} đồng ở"
            f" {len(in_debt)} công trình tính đến ngày {day}: "
            + "; ".join(w.label_vi for w in in_debt)
            + "."
        )
    else:
        summary = f"{unit['name']} không có nợ đọng xây dựng cơ bản tính đến ngày {day}."
    return ConstructionDebtOut(
        unit=unit["code"],
        unit_name=unit["name"],
        edition=unit["edition"],
        as_of=as_of,
        total_debt=total,
        has_debt=total > 0,
        works=out,
        works_in_debt=in_debt,
        summary_vi=summary,
    )


# --- valuation rates ---------------------------------------------------------------------


def _rate_out(row: RowMapping, *, replayed: bool = False) -> RateOut:
    return RateOut(
        id=row["id"],
        province=row["province_code"] or None,
        kind=row["kind"],
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
        rate_vnd=row["rate_vnd"],
        verified=row["verified"],
        source_note=row["source_note"],
        recorded_by=row["recorded_by"],
        recorded_at=row["recorded_at"],
        used=row["used"],
        replayed=replayed,
    )


async def _check_kind(session: AsyncSession, kind: str) -> None:
    if await LedgerRepository(session).in_kind_kind(kind) is None:
        raise _bad(
            "kind",
            "in_kind.kind_unknown",
            f"Loại hiện vật '{kind}' không có trong danh mục.",
            f"Unknown in-kind kind '{kind}'.",
        )


async def _check_province(repo: WorksRepository, province: str) -> None:
    if not await repo.is_province(province):
        raise _bad(
            "province",
            "province.unknown",
            f"Không có tỉnh mã {province}.",
            f"No province with code {province}.",
        )


async def list_rates(
    session: AsyncSession, *, province: str | None, kind: str | None, on: date | None
) -> RatesOut:
    repo = WorksRepository(session)
    if province is not None:
        await _check_province(repo, province)
    if kind is not None:
        await _check_kind(session, kind)
    items = [_rate_out(r) for r in await repo.rates(province=province, kind=kind, on=on)]
    in_force = (
        [_rate_out(r) for r in await repo.rates_in_force(province=province or "", kind=kind, on=on)]
        if on is not None
        else []
    )
    return RatesOut(items=items, in_force=in_force)


async def put_rate(
    session: AsyncSession, province: str, kind: str, body: RateIn, *, recorded_by: str | None
) -> tuple[RateOut, bool]:
    """Set a province's rate of `kind` from `valid_from` (the key of the period).

    Creates the period, or changes the one starting that day: any field while no posting used
    it; once used, only `verified`, `source_note` and an end (`valid_to`) that keeps every
    posting valued with it inside the period. A new rate is a new `valid_from`; periods of the
    same province and kind never overlap. True with the rate when a new period was created."""
    repo = WorksRepository(session)
    await _check_province(repo, province)
    await _check_kind(session, kind)
    if body.valid_to is not None and body.valid_to < body.valid_from:
        raise _bad(
            "valid_to",
            "valuation.period_invalid",
            "Ngày kết thúc (valid_to) trước ngày bắt đầu (valid_from).",
            "valid_to is before valid_from.",
        )
    await repo.lock_rates(province, kind)
    values: dict[str, Any] = {
        "valid_to": body.valid_to,
        "rate_vnd": body.rate_vnd,
        "verified": body.verified,
        "source_note": body.source_note,
        "recorded_by": recorded_by,
    }
    existing = await repo.rate(province, kind, body.valid_from)
    if existing is not None and all(
        existing[f] == values[f] for f in ("valid_to", "rate_vnd", "verified", "source_note")
    ):
        return _rate_out(existing, replayed=True), False
    if existing is not None and existing["used"]:
        if existing["rate_vnd"] != body.rate_vnd:
            raise RateInUse(
                f"Đơn giá từ {body.valid_from:%d/%m/%Y} đã được dùng để quy đổi giao dịch:"
                " không sửa được; hãy kết thúc nó (valid_to) và thêm đơn giá mới từ ngày sau.",
                f"The rate from {body.valid_from.isoformat()} has valued postings: it cannot"
                " change; close it (valid_to) and add a new rate from a later valid_from.",
            )
        outside = await repo.postings_outside(existing["id"], body.valid_to)
        if outside:
            raise RateInUse(
                f"{outside} giao dịch đã quy đổi theo đơn giá này sau ngày {_dmy(body.valid_to)}.",
                f"{outside} postings valued with this rate are dated after {body.valid_to}.",
            )
    overlaps = await repo.overlapping_rates(
        province, kind, body.valid_from, body.valid_to, existing["id"] if existing else 0
    )
    if overlaps:
        raise RateOverlap(province, kind, list(overlaps))
    if existing is None:
        rate_id = await repo.insert_rate(
            {**values, "province_code": province, "kind": kind, "valid_from": body.valid_from}
        )
        return _rate_out(await repo.rate_by_id(rate_id)), True
    try:
        async with session.begin_nested():
            await repo.update_rate(existing["id"], values)
    except DBAPIError as exc:  # a posting used it after our check (the trigger holds the rule)
        raise RateInUse(
            "Đơn giá vừa được dùng để quy đổi một giao dịch: không sửa được.",
            "The rate has just valued a posting: it cannot change.",
        ) from exc
    return _rate_out(await repo.rate_by_id(existing["id"])), False
