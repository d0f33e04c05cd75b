"""Bulk import of transfers (`POST /v1/imports/transfers`).

Every row follows the rules of `POST /v1/transfers` (`service.post_transfer`): the same wire
model (`TransferIn`), the same idempotency fingerprint over the same normalised fields, the
same checks in the same order, the same posting. Only the way is different, so that memory
stays flat and a million rows take seconds (architecture.md, "Performance shape"):

1. the body is spooled (memory up to `JOB_THRESHOLD_BYTES`, disk beyond) under the limits;
2. rows are read chunk by chunk (`shared.bulk`, orjson or the csv module) and checked in
   Python: shape and types as `TransferIn`, the fingerprint, and the rules that need only the
   small reference tables, held in dicts (type, programme dates, the unit valid on the date,
   the source known and in force): no database call per row;
3. rows are streamed by one binary COPY into a temporary staging table (a row breaking a rule
   of step 2 is staged too, marked: a repeat of an already posted id is answered first, as
   the single POST does);
4. one set-based statement marks each staged row with the first rule it breaks (idempotency
   against the ledger and within the file, in-kind kinds, valuation rates, works, pledges)
   and whether it only repeats a transfer already posted (`ignored`);
5. the missing accounts are opened set-wise, then one `INSERT … SELECT` posts the rest (the
   statement-level trigger updates `funding.monthly` in one upsert), unless an atomic import
   has a rejected row.

Bodies above the job threshold answer 202 and run as a background job (`shared.jobs`).

Formats. NDJSON rows are typed as the JSON of `POST /v1/transfers` (amount a JSON integer,
quantity a number); dates may also be written `dd/mm/yyyy`. CSV rows are Vietnamese style:
amounts and quantities `1.250.000.000`, `1200,5`; dates `18/11/2023` or ISO; empty cells are
absent fields. Either way the normalised row, hence its fingerprint, is the same.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.funding.domain.ledger import fingerprint, in_programme, period_of
from services.funding.models import Period, TransferKind
from services.funding.repository.imports import (
    ConcurrentWrite,
    Rejection,
    SourceValidity,
    StageRecord,
    Taken,
    TransferImportRepository,
    UnitValidity,
)
from services.funding.schemas import MAX_AMOUNT, TransferIn
from shared import clock
from shared.bulk import (
    MAX_ERRORS,
    ErrorLog,
    ImportFormat,
    ImportLimits,
    ImportSummary,
    RowError,
    iter_batches,
    merge_errors,
)
from shared.errors import Conflict, InvalidInput
from shared.jobs import ImportOptions, JobSpec, Progress, refused
from shared.vn import VnParseError, parse_vn_date, parse_vn_decimal, parse_vn_integer

log = logging.getLogger("ntm.funding.imports")

KIND: Final = "transfers"
SCHEMA: Final = "funding"
CSV_COLUMNS: Final = ("external_id", "unit", "source", "date")
"""Required CSV columns; `amount` (absent for an in-kind gift valued from the rates), `type`,
`kind`, `quantity`, `quantity_unit`, `households`, `work`, `pledge`, `purpose`, `memo` are
optional, other columns are ignored."""

# Module constants, read at call time, so tests (and a deployment's start-up) can change them.
LIMITS = ImportLimits(max_bytes=512 * 1024 * 1024, max_rows=2_000_000)
JOB_THRESHOLD_ROWS = 20_000
"""Bodies with more lines than this are processed as a background job (202)."""
JOB_THRESHOLD_BYTES = 5 * 1024 * 1024
"""…and so are bodies larger than this; smaller ones are spooled in memory."""
PROGRESS_EVERY_S = 1.0
MAX_RUNNING_JOBS = 2

_FIELDS: Final = tuple(TransferIn.model_fields)
_TEXT_FIELDS: Final = ("source", "kind", "quantity_unit", "work", "pledge", "memo")
_INTEGER_CELLS: Final = ("amount", "households")

# The common row, checked without pydantic (see `_fast_json`); anything else takes the full
# path, which is `TransferIn` itself. Both must give the same record (a property test holds
# them to it).
_FAST_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/\-]{0,99}")
_FAST_PURPOSE = re.compile(r"[a-z0-9_\-]{1,40}")
_FAST_TYPES: Final = frozenset(k.value for k in TransferKind)
_FULL_ONLY: Final = ("kind", "quantity", "quantity_unit", "households", "work", "pledge")
_REVERSAL: Final = TransferKind.reversal.value
_PERIODS: Final = {p: p.value for p in Period}
_MAX_MEMO = 2000
_MAX_SOURCE = 20

_PYDANTIC_DATE: Final = TypeAdapter(date)

_dates: dict[str, tuple[date, str]] = {}
_MAX_DATES = 10_000


def _date(text: str) -> tuple[date, str]:
    """A day-first or ISO date and its ISO form; parsed dates are remembered."""
    found = _dates.get(text)
    if found is not None:
        return found
    day = parse_vn_date(text)
    if len(_dates) > _MAX_DATES:
        _dates.clear()
    found = _dates[text] = (day, day.isoformat())
    return found


@dataclass(frozen=True)
class Reference:
    """The small reference tables the per-row checks read: units and sources."""

    units: dict[str, list[UnitValidity]]
    sources: dict[str, SourceValidity]
    today: date

    def unit_at(self, code: str, day: date) -> UnitValidity | None:
        """As `LedgerRepository.unit_at`: valid on `day`, the latest `valid_from` first."""
        for unit in self.units.get(code, ()):
            if (unit.valid_from is None or unit.valid_from <= day) and (
                unit.valid_to is None or unit.valid_to >= day
            ):
                return unit
        return None


async def load_reference(repo: TransferImportRepository) -> Reference:
    return Reference(units=await repo.units(), sources=await repo.sources(), today=clock.today())


# ------------------------------------------------------------------ per-row checks


def _error(line: int, name: str | None, code: str, vi: str, en: str) -> RowError:
    return RowError(line=line, field=name, code=code, message_vi=vi, message_en=en)


_HINTS: Final[dict[str, tuple[str, str]]] = {
    "external_id": (
        "mã giao dịch gồm chữ, số và . : / - _, tối đa 100 ký tự",
        "an id of letters, digits and . : / - _, at most 100 characters",
    ),
    "unit": ("mã đơn vị có 2, 3 hoặc 5 chữ số", "a unit code has 2, 3 or 5 digits"),
    "source": ("mã nguồn vốn, tối đa 20 ký tự", "a source code of at most 20 characters"),
    "amount": (
        "số tiền là số nguyên đồng lớn hơn 0, không có phần thập phân",
        "the amount is a whole number of đồng above 0, without decimals",
    ),
    "date": (
        "ngày dạng dd/mm/yyyy hoặc yyyy-mm-dd",
        "a date is written dd/mm/yyyy or yyyy-mm-dd",
    ),
    "type": (
        "loại giao dịch là pledge, receipt, disbursement hoặc settlement",
        "the type is pledge, receipt, disbursement or settlement",
    ),
    "quantity": (
        "số lượng lớn hơn 0, tối đa 3 chữ số thập phân",
        "a quantity above 0 with at most 3 decimals",
    ),
    "households": (
        "số hộ là số nguyên từ 0 đến 10.000.000",
        "households is a whole number from 0 to 10,000,000",
    ),
    "purpose": (
        "mục đích gồm chữ thường, số, _ và -, tối đa 40 ký tự",
        "a purpose of lowercase letters, digits, _ and -, at most 40 characters",
    ),
    "memo": ("ghi chú tối đa 2000 ký tự", "a memo of at most 2000 characters"),
}


def _missing(line: int, name: str) -> RowError:
    return _error(
        line,
        name,
        "field.missing",
        f"Dòng {line}: thiếu trường '{name}'.",
        f"Line {line}: field '{name}' is missing.",
    )


def _invalid(line: int, name: str, value: object) -> RowError:
    # quoted back to the sender; a NUL could not be stored in a job's errors (jsonb)
    shown = str(value).replace("\x00", "\\0")
    if len(shown) > 60:
        shown = shown[:57] + "…"
    vi, en = _HINTS.get(name, ("phải là chuỗi ký tự, không chứa ký tự NUL", "must be text"))
    return _error(
        line,
        name,
        "field.invalid",
        f"Dòng {line}: '{name}' = '{shown}' không hợp lệ: {vi}.",
        f"Line {line}: '{name}' = '{shown}' is invalid: {en}.",
    )


def _parse_error(line: int, name: str, exc: VnParseError) -> RowError:
    return _error(
        line, name, exc.code, f"Dòng {line}: {exc.message_vi}", f"Line {line}: {exc.message_en}"
    )


def _rules(
    kind: str, unit_code: str, source_code: str, day: date, ref: Reference
) -> tuple[str | None, UnitValidity | None, SourceValidity | None]:
    """The rules of `_posting_values` that need only the reference dicts, in its order: the
    first one broken (or None), the unit and the source."""
    if kind == _REVERSAL:
        return "transfer.type_invalid", None, None
    if not in_programme(day):
        return "date.out_of_programme", None, None
    if day > ref.today:
        return "date.in_future", None, None
    unit = ref.unit_at(unit_code, day)
    if unit is None:
        return "unit.not_found", None, None
    source = ref.sources.get(source_code)
    if source is None:
        return "source.unknown", unit, None
    if (source.valid_from and day < source.valid_from) or (
        source.valid_to and day > source.valid_to
    ):
        return "source.not_in_force", unit, source
    return None, unit, source


def _record(
    line: int,
    external_id: str,
    body_hash: bytes,
    kind: str,
    unit_code: str,
    source_code: str,
    amount: int | None,
    day: date,
    purpose: str,
    memo: str | None,
    ref: Reference,
    body: TransferIn | None = None,
) -> StageRecord:
    reject, unit, source = _rules(kind, unit_code, source_code, day, ref)
    return (
        line,
        external_id,
        body_hash,
        reject,
        kind,
        unit_code,
        unit.id if unit is not None else None,
        unit.province_code if unit is not None else None,
        source_code,
        source.in_kind if source is not None else False,
        amount,
        day,
        _PERIODS[period_of(day)],
        body.kind if body is not None else None,
        body.quantity if body is not None else None,
        body.quantity_unit if body is not None else None,
        body.households if body is not None else None,
        body.work if body is not None else None,
        body.pledge if body is not None else None,
        purpose,
        memo,
    )


def _fast_json(line: int, raw: dict[str, Any], ref: Reference) -> StageRecord | None:
    """The record of a plain NDJSON row (money, no in-kind, work or pledge), or None to let
    `_checked` look closer. Most rows of a large file are plain; checking them here costs a few
    dict look-ups instead of a pydantic model."""
    try:
        external_id = raw["external_id"]
        unit = raw["unit"]
        source = raw["source"]
        amount = raw["amount"]
        day_text = raw["date"]
    except KeyError:
        return None
    kind: Any = "receipt"
    purpose: Any = "ntm"
    memo: Any = None
    if len(raw) > 5:
        for name in _FULL_ONLY:
            if raw.get(name) is not None:
                return None
        kind = raw.get("type", "receipt")
        purpose = raw.get("purpose", "ntm")
        memo = raw.get("memo")
        if (
            type(kind) is not str
            or kind not in _FAST_TYPES
            or type(purpose) is not str
            or (purpose != "ntm" and _FAST_PURPOSE.fullmatch(purpose) is None)
            or (memo is not None and (type(memo) is not str or len(memo) > _MAX_MEMO))
            or (memo is not None and "\x00" in memo)
        ):
            return None
    if (
        type(external_id) is not str
        or type(amount) is not int
        or not 0 < amount <= MAX_AMOUNT
        or type(unit) is not str
        or unit not in ref.units
        or type(source) is not str
        or source not in ref.sources
        or type(day_text) is not str
        or _FAST_ID.fullmatch(external_id) is None
    ):
        return None
    try:
        day, iso = _date(day_text)
    except VnParseError:
        return None
    body: dict[str, Any] = {
        "external_id": external_id,
        "unit": unit,
        "source": source,
        "amount": amount,
        "date": iso,
        "type": kind,
        "purpose": purpose,
    }
    if memo is not None:
        body["memo"] = memo
    return _record(
        line, external_id, fingerprint(body), kind, unit, source, amount, day, purpose, memo, ref
    )


def _csv_fields(line: int, raw: dict[str, Any], errors: list[RowError]) -> dict[str, Any]:
    """The cells of a CSV row as `TransferIn` reads them: Vietnamese numbers and dates, empty
    cells absent."""
    data: dict[str, Any] = {}
    for name in _FIELDS:
        cell = raw.get(name)
        if not isinstance(cell, str) or not cell.strip():
            continue
        cell = cell.strip()
        try:
            if name in _INTEGER_CELLS:
                data[name] = parse_vn_integer(cell)
            elif name == "quantity":
                data[name] = parse_vn_decimal(cell)
            elif name == "date":
                data[name] = _date(cell)[0]
            else:
                data[name] = cell
        except VnParseError as exc:
            errors.append(_parse_error(line, name, exc))
    return data


def _validated(line: int, data: dict[str, Any], errors: list[RowError]) -> TransferIn | None:
    """`data` as `POST /v1/transfers` reads it, or None with its errors (one per field)."""
    named = {e.field for e in errors}
    try:
        body = TransferIn.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else None
            if name is None or name in named:
                continue
            named.add(name)
            if err["type"] == "missing":
                errors.append(_missing(line, name))
            else:
                errors.append(_invalid(line, name, data.get(name)))
        errors.sort(key=lambda e: _FIELDS.index(e.field) if e.field in _FIELDS else 99)
        return None
    for name in _TEXT_FIELDS:
        value = getattr(body, name)
        if isinstance(value, str) and "\x00" in value and name not in named:
            errors.append(_invalid(line, name, value))
    return None if errors else body


def _checked(
    line: int, raw: dict[str, Any], fmt: ImportFormat, ref: Reference
) -> StageRecord | list[RowError]:
    """The full per-row checks: `TransferIn` itself, naming every field that is wrong."""
    errors: list[RowError] = []
    if fmt is ImportFormat.csv:
        data = _csv_fields(line, raw, errors)
    else:
        data = raw
        day_text = raw.get("date")
        if type(day_text) is str:
            try:
                data = {**raw, "date": _date(day_text)[0]}
            except VnParseError as exc:
                # what pydantic accepts stays accepted (`2023-04-12T00:00:00`), as in the
                # single POST; otherwise the Vietnamese message says what is wrong
                try:
                    _PYDANTIC_DATE.validate_python(day_text)
                except ValidationError:
                    errors.append(_parse_error(line, "date", exc))
    body = _validated(line, data, errors)
    if body is None:
        return errors
    normalised = body.model_dump(mode="json")
    return _record(
        line,
        body.external_id,
        fingerprint(normalised),
        body.type.value,
        body.unit,
        body.source,
        body.amount,
        body.date,
        body.purpose,
        body.memo,
        ref,
        body,
    )


def convert(
    line: int, raw: dict[str, Any], fmt: ImportFormat, ref: Reference
) -> StageRecord | list[RowError]:
    """One row checked in Python: the record to stage, or what is wrong with its shape."""
    if fmt is ImportFormat.ndjson:
        fast = _fast_json(line, raw, ref)
        if fast is not None:
            return fast
    return _checked(line, raw, fmt, ref)


# ------------------------------------------------------------------ set-wise checks


def rejection_error(r: Rejection) -> RowError:
    """The message of a rule a staged row breaks (the texts of `service._posting_values`)."""
    n, day = r.line, r.date
    vi_day, en_day = f"{day:%d/%m/%Y}", day.isoformat()
    messages: dict[str, tuple[str, str, str]] = {
        "transfer.idempotency_conflict": (
            "external_id",
            f"mã giao dịch {r.external_id} đã được dùng cho một giao dịch có nội dung khác;"
            " không ghi sổ lần hai",
            f"external id {r.external_id} was already used for a transfer with another body;"
            " nothing was posted",
        ),
        "transfer.type_invalid": (
            "type",
            "bút toán đảo ghi qua POST /v1/transfers/{id}/reversal",
            "post reversals through POST /v1/transfers/{id}/reversal",
        ),
        "date.out_of_programme": (
            "date",
            f"ngày {vi_day} nằm ngoài chương trình (01/01/2021 - 31/12/2030)",
            f"date {en_day} is outside the programme (2021-01-01 to 2030-12-31)",
        ),
        "date.in_future": ("date", f"ngày {vi_day} ở tương lai", f"date {en_day} is in the future"),
        "unit.not_found": (
            "unit",
            f"mã đơn vị {r.unit} không tồn tại vào ngày {vi_day}",
            f"unit code {r.unit} does not exist on {en_day}",
        ),
        "source.unknown": (
            "source",
            f"nguồn vốn {r.source} không có trong danh mục",
            f"unknown funding source {r.source}",
        ),
        "source.not_in_force": (
            "source",
            f"nguồn vốn {r.source} không áp dụng vào ngày {vi_day}",
            f"funding source {r.source} does not apply on {en_day}",
        ),
        "in_kind.incomplete": (
            "kind" if r.kind is None else "quantity",
            "đóng góp hiện vật cần cả 'kind' và 'quantity'",
            "an in-kind gift needs both 'kind' and 'quantity'",
        ),
        "in_kind.kind_unknown": (
            "kind",
            f"loại hiện vật '{r.kind}' không có trong danh mục",
            f"unknown in-kind kind '{r.kind}'",
        ),
        "in_kind.unit_mismatch": (
            "quantity_unit",
            f"'{r.kind}' tính theo {r.expected_unit}, không phải {r.quantity_unit}",
            f"'{r.kind}' is counted in {r.expected_unit}, not {r.quantity_unit}",
        ),
        "valuation.no_rate": (
            "amount",
            f"chưa có đơn giá quy đổi cho '{r.kind}' vào ngày {vi_day}",
            f"no valuation rate for '{r.kind}' on {en_day}",
        ),
        "valuation.zero": (
            "quantity",
            "giá trị quy đổi bằng 0 đồng",
            "the valued amount rounds to 0 VND",
        ),
        "valuation.too_large": (
            "quantity",
            "giá trị quy đổi vượt quá giới hạn số tiền",
            "the valued amount exceeds the largest amount",
        ),
        "in_kind.kind_required": (
            "kind",
            f"nguồn {r.source} là đóng góp hiện vật: cần 'kind' và 'quantity'",
            f"source {r.source} is an in-kind contribution: 'kind' and 'quantity' are needed",
        ),
        "amount.required": ("amount", "thiếu số tiền (đồng)", "the amount (VND) is missing"),
        "work.required": (
            "work",
            "giải ngân, quyết toán phải ghi công trình ('work')",
            "a disbursement or settlement names its work ('work')",
        ),
        "work.not_found": (
            "work",
            f"đơn vị {r.unit} không có công trình mã {r.work}",
            f"unit {r.unit} has no work with code {r.work}",
        ),
        "pledge.invalid": (
            "pledge",
            "'pledge' phải là mã một cam kết cùng đơn vị, cùng nguồn, và chỉ dùng khi nhận",
            "'pledge' must name a pledge of the same unit and source, on a receipt",
        ),
    }
    name, vi, en = messages.get(r.code, (None, r.code, r.code))
    return _error(n, name, r.code, f"Dòng {n}: {vi}.", f"Line {n}: {en}.")


def _taken_error(t: Taken) -> RowError:
    return _error(
        t.line,
        "external_id",
        "transfer.idempotency_conflict",
        f"Dòng {t.line}: mã giao dịch {t.external_id} vừa được một lượt ghi khác dùng cho"
        " nội dung khác; không ghi sổ lần hai.",
        f"Line {t.line}: external id {t.external_id} was just posted by another request with"
        " another body; nothing was posted twice.",
    )


class ConcurrentImport(Conflict):
    code = "import.concurrent_write"

    def __init__(self) -> None:
        super().__init__(
            "Một lượt ghi khác đang ghi cùng các giao dịch; không dòng nào được ghi."
            " Hãy gửi lại tệp (các dòng đã ghi sẽ được bỏ qua).",
            "Another request was posting the same transfers; nothing was recorded."
            " Send the file again (rows already posted are ignored).",
        )


async def import_transfers(
    session: AsyncSession,
    chunks: AsyncIterable[bytes],
    fmt: ImportFormat,
    options: ImportOptions,
    progress: Progress | None = None,
    job_id: uuid.UUID | None = None,
) -> ImportSummary:
    """Import a body of transfers in the session's transaction; its summary.

    Writes nothing for a dry run, or when an atomic import has a rejected row."""
    repo = TransferImportRepository(session)
    ref = await load_reference(repo)
    await repo.create_stage()
    errors = ErrorLog()
    total = 0
    pledges = False

    async def records() -> AsyncIterator[StageRecord]:
        nonlocal total, pledges
        batches = iter_batches(fmt, chunks, LIMITS, required_columns=CSV_COLUMNS)
        async for batch in batches:
            total += len(batch)
            for line, item in batch:
                if isinstance(item, RowError):
                    errors.reject([item])
                    continue
                record = convert(line, item, fmt, ref)
                if isinstance(record, list):
                    errors.reject(record)
                    continue
                if options.unit_check is not None:
                    denied = options.unit_check(line, record[5])
                    if denied is not None:
                        errors.reject([denied])
                        continue
                if record[18] is not None:
                    pledges = True
                yield record
            if progress is not None:
                await progress(total, errors.rows)

    started = time.perf_counter()
    await repo.copy_to_stage(records())
    read = time.perf_counter()
    if total == 0:
        raise InvalidInput(
            "Không có dòng dữ liệu nào để nhập.",
            "The body holds no rows to import.",
            code="import.empty",
        )
    counts = await repo.check(pledges=pledges)
    rejected = errors.rows + counts.rejected
    found = [rejection_error(r) for r in await repo.rejections(MAX_ERRORS)]
    checked = time.perf_counter()
    summary = ImportSummary(
        kind=KIND,
        dry_run=options.dry_run,
        mode=options.mode,
        total=total,
        created=counts.fresh,
        ignored=counts.ignored,
        rejected=rejected,
        errors=merge_errors(errors.errors, found),
        errors_truncated=False,
    )
    summary.errors_truncated = errors.entries + counts.rejected > len(summary.errors)
    if not refused(summary) and not options.dry_run and counts.fresh:
        try:
            inserted, taken = await repo.post(
                recorded_by=options.recorded_by, job_id=job_id, fresh=counts.fresh
            )
        except ConcurrentWrite as exc:
            log.warning("transfer import met a concurrent write", extra={"error": str(exc)})
            raise ConcurrentImport() from exc
        summary.created = inserted
        if taken:
            lost = [t for t in taken if not t.same]
            summary.ignored += len(taken) - len(lost)
            summary.rejected += len(lost)
            summary.errors = merge_errors(summary.errors, [_taken_error(t) for t in lost])
            summary.errors_truncated = summary.errors_truncated or (
                errors.entries + counts.rejected + len(lost) > len(summary.errors)
            )
            if refused(summary):
                await repo.undo()
    if refused(summary):
        summary.created, summary.ignored = 0, total - summary.rejected
    log.info(
        "transfers imported",
        extra={
            "rows": total,
            "rows_created": summary.created,
            "rows_ignored": summary.ignored,
            "rows_rejected": summary.rejected,
            "dry_run": options.dry_run,
            "read_s": round(read - started, 3),  # parse, per-row checks, COPY to staging
            "check_s": round(checked - read, 3),  # the set-wise checks
            "write_s": round(time.perf_counter() - checked, 3),  # accounts, INSERT … SELECT
        },
    )
    return summary


def job_spec() -> JobSpec:
    """How the shared job runner runs a transfer import (constants read at call time)."""
    return JobSpec(
        schema=SCHEMA,
        kind=KIND,
        run=import_transfers,
        progress_every_s=PROGRESS_EVERY_S,
        max_running=MAX_RUNNING_JOBS,
    )
