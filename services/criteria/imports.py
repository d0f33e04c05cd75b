"""Bulk import of indicator values (`POST /v1/imports/indicator-values`).

The pipeline keeps memory flat whatever the size of the body (architecture.md, "Performance
shape"):

1. the body is spooled (memory up to `JOB_THRESHOLD_BYTES`, disk beyond) under the limits;
2. rows are read chunk by chunk (`shared.bulk`) and given cheap per-row checks in Python
   (shape, types, Vietnamese numbers and dates): no database call per row;
3. rows that pass are streamed by one COPY into a temporary staging table;
4. one set-based statement marks each staged row with the rule it breaks (the rules of
   `values.record_values`: unit valid on `as_of`, set known, set level = unit level,
   indicator in the set, not derived, value of the indicator's kind) and whether it only
   repeats the latest version recorded for its unit, set, year, indicator and `as_of` (then
   it is `ignored`: re-sending a file creates nothing twice);
5. one `INSERT … SELECT` writes the rest, unless an atomic import has a rejected row.

Bodies above the job threshold answer 202 and run in a background task with its own
transactions: one for the data (atomic semantics hold), short ones for progress.

Value formats. NDJSON is typed as in `POST /v1/indicator-values`: booleans are JSON
`true`/`false`, numbers JSON numbers (or strings such as `"82.5"`, read with a dot decimal).
In CSV a value is a boolean when it is one of `đạt`, `true`, `x`, `có` (true) or `không đạt`,
`chưa đạt`, `false`, `không` (false), in any case and with or without diacritics; anything
else is read as a Vietnamese number (`35,59`, `1.234`, `35,59%`). Dates are `dd/mm/yyyy` or
ISO `yyyy-mm-dd` in both formats. CSV evidence is a list separated by `;`.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria.repository.imports import (
    IndicatorImportRepository,
    Rejection,
    StageRecord,
)
from services.criteria.schemas import UNIT_CODE_PATTERN, in_value_range
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
from shared.errors import InvalidInput
from shared.jobs import ImportOptions, JobSpec, Progress, refused
from shared.vn import VnParseError, fold, nfc, parse_vn_date, parse_vn_percent

log = logging.getLogger("ntm.criteria.imports")

KIND: Final = "indicator-values"
CSV_COLUMNS: Final = ("unit", "set", "year", "indicator", "value", "as_of")
"""Required CSV columns; `evidence` and `note` are optional, other columns are ignored."""

# Module constants, read at call time, so tests (and a deployment's start-up) can change them.
LIMITS = ImportLimits(max_bytes=256 * 1024 * 1024, max_rows=2_000_000)
JOB_THRESHOLD_ROWS = 20_000
"""Bodies with more lines than this are processed as a background job (202)."""
JOB_THRESHOLD_BYTES = 5 * 1024 * 1024
"""…and so are bodies larger than this; smaller ones are spooled in memory."""
PROGRESS_EVERY_S = 1.0
MAX_RUNNING_JOBS = 2
"""Jobs running at once in one process; the others wait as `queued`."""

YEAR_MIN, YEAR_MAX = 2010, 2035  # as `ValueIn.year`
_MAX_EVIDENCE, _MAX_EVIDENCE_LEN, _MAX_NOTE_LEN, _MAX_SET_LEN = 20, 500, 2000, 64
_UNIT = re.compile(UNIT_CODE_PATTERN)
_INDICATOR = re.compile(r"^\d{1,2}\.\d{1,2}$")

_TRUE_WORDS: Final = ("đạt", "true", "x", "có")
_FALSE_WORDS: Final = ("không đạt", "chưa đạt", "false", "không")
_BOOLEAN_WORDS: Final[dict[str, bool]] = {
    **{w: True for w in _TRUE_WORDS},
    **{fold(w): True for w in _TRUE_WORDS},
    **{w: False for w in _FALSE_WORDS},
    **{fold(w): False for w in _FALSE_WORDS},
}


# ------------------------------------------------------------------ per-row checks


def _error(line: int, name: str, code: str, vi: str, en: str) -> RowError:
    return RowError(line=line, field=name, code=code, message_vi=vi, message_en=en)


def _missing(line: int, name: str) -> RowError:
    return _error(
        line,
        name,
        "field.missing",
        f"Dòng {line}: thiếu trường '{name}'.",
        f"Line {line}: field '{name}' is missing.",
    )


def _invalid(line: int, name: str, value: object, vi: str, en: str) -> RowError:
    # quoted back to the sender; a NUL could not be stored in a job's errors (jsonb)
    shown = str(value).replace("\x00", "\\0")
    if len(shown) > 60:
        shown = shown[:57] + "…"
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


_dates: dict[str, date] = {}


def _date(text: str) -> date:
    """A day-first or ISO date; parsed dates are remembered (files repeat a few dates)."""
    found = _dates.get(text)
    if found is not None:
        return found
    day = parse_vn_date(text)
    if len(_dates) > 10_000:
        _dates.clear()
    _dates[text] = day
    return day


def _number(value: Decimal, line: int, raw: object) -> Decimal | RowError:
    if not in_value_range(value):
        return _error(
            line,
            "value",
            "value.out_of_range",
            f"Dòng {line}: giá trị '{raw}' nằm ngoài khoảng cho phép"
            " (tối đa 15 chữ số phần nguyên, 20 chữ số thập phân).",
            f"Line {line}: value '{raw}' is out of range"
            " (at most 15 integer and 20 decimal digits).",
        )
    return value


class _Row:
    """Field checks shared by both formats; `errors` collects what fails."""

    __slots__ = ("errors", "line", "raw")

    def __init__(self, line: int, raw: dict[str, Any]) -> None:
        self.line = line
        self.raw = raw
        self.errors: list[RowError] = []

    def text(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None or (type(value) is str and not value.strip()):
            self.errors.append(_missing(self.line, name))
            return None
        if type(value) is not str or "\x00" in value:
            self.errors.append(
                _invalid(self.line, name, value, "phải là chuỗi ký tự", "must be a string")
            )
            return None
        return value.strip()

    def unit(self) -> str:
        value = self.text("unit")
        if value is not None and _UNIT.fullmatch(value) is None:
            self.errors.append(
                _invalid(
                    self.line,
                    "unit",
                    value,
                    "mã đơn vị có 2 (tỉnh), 3 (huyện) hoặc 5 (xã) chữ số, thôn là '<mã xã>-<mã>'",
                    "a unit code has 2 (province), 3 (district) or 5 (commune) digits, "
                    "a village is '<commune>-<code>'",
                )
            )
        return value or ""

    def set_code(self) -> str:
        value = self.text("set")
        if value is not None and len(value) > _MAX_SET_LEN:
            self.errors.append(
                _invalid(self.line, "set", value, "quá 64 ký tự", "longer than 64 characters")
            )
        return value or ""

    def indicator(self) -> str:
        value = self.text("indicator")
        if value is not None and _INDICATOR.fullmatch(value) is None:
            self.errors.append(
                _invalid(
                    self.line,
                    "indicator",
                    value,
                    "mã chỉ tiêu có dạng '<tiêu chí>.<số>', ví dụ '2.1'",
                    "an indicator code looks like '<criterion>.<n>', e.g. '2.1'",
                )
            )
        return value or ""

    def year(self) -> int:
        value = self.raw.get("year")
        if value is None or value == "":
            self.errors.append(_missing(self.line, "year"))
            return 0
        if type(value) is str and value.strip().isdigit():
            value = int(value.strip())
        if type(value) is not int or not YEAR_MIN <= value <= YEAR_MAX:
            self.errors.append(
                _invalid(
                    self.line,
                    "year",
                    value,
                    f"năm phải là số nguyên từ {YEAR_MIN} đến {YEAR_MAX}",
                    f"the year must be a whole number from {YEAR_MIN} to {YEAR_MAX}",
                )
            )
            return 0
        return value

    def as_of(self) -> date:
        value = self.text("as_of")
        if value is None:
            return date.min
        try:
            return _date(value)
        except VnParseError as exc:
            self.errors.append(_parse_error(self.line, "as_of", exc))
            return date.min

    def note(self) -> str | None:
        value = self.raw.get("note")
        if value is None or value == "":
            return None
        if type(value) is not str or len(value) > _MAX_NOTE_LEN or "\x00" in value:
            self.errors.append(
                _invalid(
                    self.line,
                    "note",
                    value,
                    f"ghi chú là chuỗi tối đa {_MAX_NOTE_LEN} ký tự",
                    f"a note is a string of at most {_MAX_NOTE_LEN} characters",
                )
            )
            return None
        return nfc(value)

    def evidence(self, items: object) -> str | None:
        if items is None or items == "" or items == []:
            return None
        if (
            type(items) is not list
            or len(items) > _MAX_EVIDENCE
            or any(
                type(i) is not str or not i or len(i) > _MAX_EVIDENCE_LEN or "\x00" in i
                for i in items
            )
        ):
            self.errors.append(
                _invalid(
                    self.line,
                    "evidence",
                    items,
                    f"tối đa {_MAX_EVIDENCE} mã tài liệu, mỗi mã tối đa {_MAX_EVIDENCE_LEN} ký tự",
                    f"at most {_MAX_EVIDENCE} document ids of at most {_MAX_EVIDENCE_LEN} "
                    "characters each",
                )
            )
            return None
        return orjson.dumps([nfc(i) for i in items]).decode()


def _json_value(row: _Row) -> tuple[bool | None, Decimal | None]:
    value = row.raw.get("value")
    line = row.line
    if type(value) is bool:
        return value, None
    number: Decimal | RowError
    if type(value) is int:
        number = _number(Decimal(value), line, value)
    elif type(value) is float:
        number = _number(Decimal(repr(value)), line, value)
    elif type(value) is str and value.strip():
        try:
            number = _number(Decimal(value.strip()), line, value)
        except InvalidOperation:
            number = _invalid(
                line,
                "value",
                value,
                "cần true/false hoặc một số",
                "expected true/false or a number",
            )
    elif value is None or value == "":
        number = _missing(line, "value")
    else:
        number = _invalid(
            line, "value", value, "cần true/false hoặc một số", "expected true/false or a number"
        )
    if isinstance(number, RowError):
        row.errors.append(number)
        return None, None
    return None, number


def _csv_value(row: _Row) -> tuple[bool | None, Decimal | None]:
    value = row.text("value")
    if value is None:
        return None, None
    key = value.lower()
    word = _BOOLEAN_WORDS.get(key)
    if word is None and not key[0].isdigit() and key[0] not in "+-":
        word = _BOOLEAN_WORDS.get(fold(key))
    if word is not None:
        return word, None
    try:
        number = _number(parse_vn_percent(value), row.line, value)
    except VnParseError as exc:
        row.errors.append(_parse_error(row.line, "value", exc))
        return None, None
    if isinstance(number, RowError):
        row.errors.append(number)
        return None, None
    return None, number


# What the fast path has already seen valid (bounded; a file names few distinct ones).
_known_units: set[str] = set()
_known_sets: set[str] = set()
_known_indicators: set[str] = set()
_known_numbers: dict[float, Decimal] = {}
_KNOWN_MAX = 100_000
_MAX_DATES = 1000


def _known(known: set[str], value: object, valid: Callable[[str], bool]) -> bool:
    """Whether `value` is a string that passes `valid`, remembering the ones that do."""
    if value in known:
        return True
    if type(value) is not str or not valid(value):
        return False
    if len(known) > _KNOWN_MAX:
        known.clear()
    known.add(value)
    return True


def _no_extras(raw: dict[str, Any]) -> bool:
    """No evidence and no note (`==`, so that `{}` or `0` still go to the full checks)."""
    return raw.get("evidence") in (None, []) and raw.get("note") in (None, "")


def _unit_code(value: str) -> bool:
    return _UNIT.fullmatch(value) is not None


def _set_code(value: str) -> bool:
    return 0 < len(value) <= _MAX_SET_LEN and value == value.strip() and "\x00" not in value


def _indicator_code(value: str) -> bool:
    return _INDICATOR.fullmatch(value) is not None


def _fast_json(line: int, raw: dict[str, Any]) -> StageRecord | None:
    """The record of a well-formed NDJSON row, or None to let `_convert` look closer.

    Most rows of a large file are well formed and repeat the same units, sets, indicators,
    dates and values, so remembering what was valid makes the common row cost a few lookups;
    anything unusual falls back to the full checks, which name what is wrong."""
    try:
        unit = raw["unit"]
        set_code = raw["set"]
        indicator = raw["indicator"]
        year = raw["year"]
        value = raw["value"]
        day = _dates.get(raw["as_of"])
        if (
            day is None
            or type(year) is not int
            or not YEAR_MIN <= year <= YEAR_MAX
            or (len(raw) > 6 and not _no_extras(raw))
            or not _known(_known_units, unit, _unit_code)
            or not _known(_known_sets, set_code, _set_code)
            or not _known(_known_indicators, indicator, _indicator_code)
        ):
            return None
    except (KeyError, TypeError):  # a field missing, or an unhashable one: look closer
        return None
    kind: type = type(value)
    if kind is bool:
        return (line, unit, set_code, year, indicator, value, None, day, None, None)
    if kind is float:
        number = _known_numbers.get(value)
        if number is None:
            checked = _number(Decimal(repr(value)), line, value)
            if isinstance(checked, RowError):
                return None
            if len(_known_numbers) > _KNOWN_MAX:
                _known_numbers.clear()
            number = _known_numbers[value] = checked
    elif kind is int and -(10**15) < value < 10**15:
        number = Decimal(value)
    else:
        return None
    return (line, unit, set_code, year, indicator, None, number, day, None, None)


def _convert(line: int, raw: dict[str, Any], fmt: ImportFormat) -> StageRecord | list[RowError]:
    """One row checked in Python; the record to stage, or what is wrong with it."""
    if fmt is ImportFormat.ndjson:
        fast = _fast_json(line, raw)
        if fast is not None:
            return fast
    return _checked(line, raw, fmt)


def _checked(line: int, raw: dict[str, Any], fmt: ImportFormat) -> StageRecord | list[RowError]:
    """The full per-row checks, naming every field that is wrong."""
    row = _Row(line, raw)
    unit = row.unit()
    set_code = row.set_code()
    year = row.year()
    indicator = row.indicator()
    if fmt is ImportFormat.csv:
        value_bool, value_num = _csv_value(row)
        cell = raw.get("evidence")
        items: object = (
            [p.strip() for p in cell.split(";") if p.strip()] if isinstance(cell, str) else cell
        )
    else:
        value_bool, value_num = _json_value(row)
        items = raw.get("evidence")
    as_of = row.as_of()
    evidence = row.evidence(items)
    note = row.note()
    if row.errors:
        return row.errors
    return (line, unit, set_code, year, indicator, value_bool, value_num, as_of, evidence, note)


# ------------------------------------------------------------------ set-wise checks


def _level_vi(level: str | None) -> str:
    return {"province": "tỉnh", "district": "huyện", "commune": "xã", "village": "thôn"}.get(
        level or "", level or "?"
    )


def _rejection_error(r: Rejection) -> RowError:
    n = r.line
    if r.code == "unit.not_found":
        return _error(
            n,
            "unit",
            r.code,
            f"Dòng {n}: không có đơn vị '{r.unit}' có hiệu lực ngày {r.as_of:%d/%m/%Y}.",
            f"Line {n}: no unit '{r.unit}' valid on {r.as_of.isoformat()}.",
        )
    if r.code == "criteria_set.not_found":
        return _error(
            n,
            "set",
            r.code,
            f"Dòng {n}: không có bộ tiêu chí '{r.set}'.",
            f"Line {n}: no criteria set '{r.set}'.",
        )
    if r.code == "criteria_set.wrong_level":
        return _error(
            n,
            "set",
            r.code,
            f"Dòng {n}: bộ '{r.set}' dành cho cấp {_level_vi(r.set_level)}, "
            f"'{r.unit}' là cấp {_level_vi(r.unit_level)}.",
            f"Line {n}: set '{r.set}' is for level {r.set_level}, '{r.unit}' is a {r.unit_level}.",
        )
    if r.code == "indicator.not_found":
        return _error(
            n,
            "indicator",
            r.code,
            f"Dòng {n}: bộ '{r.set}' không có chỉ tiêu '{r.indicator}'.",
            f"Line {n}: set '{r.set}' has no indicator '{r.indicator}'.",
        )
    if r.code == "indicator.derived":
        return _error(
            n,
            "indicator",
            r.code,
            f"Dòng {n}: chỉ tiêu '{r.indicator}' được tính tự động, không nhập.",
            f"Line {n}: indicator '{r.indicator}' is derived, not recorded.",
        )
    expected = ("true/false", "đạt/không đạt") if r.kind == "boolean" else ("a number", "một số")
    return _error(
        n,
        "value",
        "value.wrong_kind",
        f"Dòng {n}: chỉ tiêu '{r.indicator}' cần giá trị {expected[1]}.",
        f"Line {n}: indicator '{r.indicator}' needs {expected[0]}.",
    )


async def import_indicator_values(
    session: AsyncSession,
    chunks: AsyncIterable[bytes],
    fmt: ImportFormat,
    options: ImportOptions,
    progress: Progress | None = None,
    job_id: uuid.UUID | None = None,
) -> ImportSummary:
    """Import a body of indicator values in the session's transaction; its summary.

    Writes nothing for a dry run, or when an atomic import has a rejected row."""
    repo = IndicatorImportRepository(session)
    await repo.create_stage()
    errors = ErrorLog()
    total = 0
    # the (set, year, as_of) the file names: when the table has no version on any of them,
    # no row can repeat a recorded one and the check skips that look-up
    dates: set[tuple[str, int, date]] | None = set()

    async def records() -> AsyncIterator[StageRecord]:
        nonlocal total, dates
        batches = iter_batches(fmt, chunks, LIMITS, required_columns=CSV_COLUMNS)
        async for batch in batches:
            total += len(batch)
            for line, item in batch:
                if isinstance(item, RowError):
                    errors.reject([item])
                    continue
                record = _convert(line, item, fmt)
                if isinstance(record, list):
                    errors.reject(record)
                    continue
                if options.unit_check is not None:
                    denied = options.unit_check(line, record[1])
                    if denied is not None:
                        errors.reject([denied])
                        continue
                if dates is not None:
                    dates.add((record[2], record[3], record[7]))
                    if len(dates) > _MAX_DATES:
                        dates = None
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
    counts = await repo.check(dates)
    rejected = errors.rows + counts.rejected
    found = [_rejection_error(r) for r in await repo.rejections(MAX_ERRORS)]
    checked = time.perf_counter()
    listed = merge_errors(errors.errors, found)
    summary = ImportSummary(
        kind=KIND,
        dry_run=options.dry_run,
        mode=options.mode,
        total=total,
        created=counts.fresh,
        ignored=counts.ignored,
        rejected=rejected,
        errors=listed,
        errors_truncated=errors.entries + counts.rejected > len(listed),
    )
    if refused(summary):
        summary.created, summary.ignored = 0, total - rejected
    elif not options.dry_run and counts.fresh:
        summary.created = await repo.insert(options.recorded_by)
    log.info(
        "indicator values imported",
        extra={
            "rows": total,  # ("created" would clash with the LogRecord attribute)
            "rows_created": summary.created,
            "rows_ignored": summary.ignored,
            "rows_rejected": summary.rejected,
            "dry_run": options.dry_run,
            "read_s": round(read - started, 3),  # parse, per-row checks, COPY to staging
            "check_s": round(checked - read, 3),  # the set-wise checks
            "write_s": round(time.perf_counter() - checked, 3),  # INSERT … SELECT
        },
    )
    return summary


# ------------------------------------------------------------------------- jobs


def job_spec() -> JobSpec:
    """The background job of this import (shared.jobs), with the module's current settings."""
    return JobSpec(
        schema="criteria",
        kind=KIND,
        run=import_indicator_values,
        progress_every_s=PROGRESS_EVERY_S,
        max_running=MAX_RUNNING_JOBS,
    )
