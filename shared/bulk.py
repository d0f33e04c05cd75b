"""Bulk import I/O shared by the services: streaming NDJSON and CSV readers, the import
summary, size limits and content-type dispatch (contract.md, "Bulk import").

The readers never hold the body: they take an async stream of byte chunks and yield rows
chunk by chunk, each with the line number it starts on (1-based; in CSV the header is line 1).
A row that cannot be read (malformed JSON, a line that is not UTF-8, a CSV record with too many
cells) becomes a `RowError` in the stream instead of an exception, so one bad line never stops
an import. Cell values are left as strings: the kind-specific converter parses Vietnamese
numbers and dates with `shared.vn`, knowing what each column means.

The body is first spooled (`spool_body`): in memory up to a threshold, on disk beyond, while its
size and line count are checked against the limits (413 problem+json). A service can then
decide between answering at once and handing the spool to a background job.
"""

from __future__ import annotations

import asyncio
import csv
import heapq
import tempfile
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Iterable,
    Iterator,
    Sequence,
)
from contextlib import aclosing
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any, Final

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shared.errors import PROBLEM_JSON, FieldError, InvalidInput, Problem, ProblemError
from shared.logging import current_request_id
from shared.vn import nfc

__all__ = [
    "MAX_ERRORS",
    "Batch",
    "BodyTooLarge",
    "ErrorLog",
    "ImportFormat",
    "ImportLimits",
    "ImportMode",
    "ImportSummary",
    "Parsed",
    "RowError",
    "SpooledBody",
    "UnsupportedMediaType",
    "check_csv_header",
    "format_of",
    "iter_batches",
    "iter_csv_batches",
    "iter_ndjson_batches",
    "merge_errors",
    "read_csv",
    "read_ndjson",
    "read_rows",
    "spool_body",
    "summary_problem_response",
]

MAX_ERRORS: Final = 1000
"""Row errors kept in a summary; the counts stay exact beyond it (`errors_truncated`)."""

CHUNK_SIZE: Final = 1 << 20
"""Bytes read from a spooled body at a time (a batch of rows is what one chunk holds)."""

_BOM: Final = b"\xef\xbb\xbf"


# --------------------------------------------------------------------------- models


class RowError(BaseModel):
    """Why one row (by its line number in the body) was rejected."""

    line: int = Field(description="Line the row starts on (1-based; a CSV header is line 1)")
    field: str | None = Field(default=None, description="The failing field, when one is known")
    code: str = Field(description="Stable machine code, e.g. `unit.not_found`, `date.invalid`")
    message_vi: str
    message_en: str

    def as_field_error(self) -> FieldError:
        return FieldError(
            row=self.line,
            field=self.field,
            code=self.code,
            message_vi=self.message_vi,
            message_en=self.message_en,
        )


class ImportMode(StrEnum):
    atomic = "atomic"  # all rows or none
    partial = "partial"  # the good rows; the rejected ones are reported


class ImportSummary(BaseModel):
    """What an import did (or, with `dry_run`, would do).

    `total = created + updated + ignored + rejected`. When an atomic import is refused because
    some rows are rejected, nothing is written and every valid row counts as `ignored`."""

    kind: str = Field(examples=["indicator-values"])
    dry_run: bool
    mode: ImportMode
    total: int = Field(description="Data rows read (blank lines and the CSV header excluded)")
    created: int
    updated: int = 0
    ignored: int = Field(description="Rows already recorded as sent, or not written")
    rejected: int
    errors: list[RowError] = Field(
        default_factory=list, description=f"Rejected rows in line order, at most {MAX_ERRORS}"
    )
    errors_truncated: bool = False


class ErrorLog:
    """Row errors of one import in line order: the first `MAX_ERRORS` kept, all counted."""

    def __init__(self, cap: int = MAX_ERRORS) -> None:
        self.cap = cap
        self.errors: list[RowError] = []
        self.entries = 0  # error entries, kept or not
        self.rows = 0  # rejected rows (a row may have several errors)

    def reject(self, errors: Sequence[RowError]) -> None:
        """Record the errors of one rejected row."""
        if not errors:
            return
        self.rows += 1
        self.entries += len(errors)
        room = self.cap - len(self.errors)
        if room > 0:
            self.errors.extend(errors[:room])

    @property
    def truncated(self) -> bool:
        return self.entries > len(self.errors)


# --------------------------------------------------------------------------- errors


class BodyTooLarge(ProblemError):
    status = 413
    code = "import.too_large"


class UnsupportedMediaType(ProblemError):
    status = 415
    code = "import.unsupported_media_type"


def _row_error(line: int, field: str | None, code: str, vi: str, en: str) -> RowError:
    return RowError(line=line, field=field, code=code, message_vi=vi, message_en=en)


# ------------------------------------------------------------------- content types


class ImportFormat(StrEnum):
    ndjson = "ndjson"
    csv = "csv"


_MEDIA_TYPES: Final = {
    "application/x-ndjson": ImportFormat.ndjson,
    "application/ndjson": ImportFormat.ndjson,
    "application/json-lines": ImportFormat.ndjson,
    "application/jsonl": ImportFormat.ndjson,
    "text/csv": ImportFormat.csv,
}
ACCEPTED_MEDIA_TYPES: Final = ("application/x-ndjson", "application/json-lines", "text/csv")


def format_of(content_type: str | None) -> ImportFormat:
    """The import format of a `Content-Type` header; anything else is a 415.

    Only UTF-8 is read: a `charset` parameter naming another encoding is refused too."""
    media, _, params = (content_type or "").partition(";")
    fmt = _MEDIA_TYPES.get(media.strip().lower())
    accepted = ", ".join(ACCEPTED_MEDIA_TYPES)
    if fmt is None:
        shown = media.strip() or "(none)"
        raise UnsupportedMediaType(
            f"Kiểu nội dung '{shown}' không được hỗ trợ; dùng một trong: {accepted}.",
            f"Content type '{shown}' is not supported; use one of: {accepted}.",
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(
                f"Bảng mã '{charset}' không được hỗ trợ; dữ liệu phải là UTF-8.",
                f"Charset '{charset}' is not supported; the body must be UTF-8.",
                code="import.unsupported_charset",
            )
    return fmt


# ----------------------------------------------------------------- limits, spooling


@dataclass(frozen=True)
class ImportLimits:
    """What one import may send; beyond it the request is answered 413."""

    max_bytes: int = 256 * 1024 * 1024
    max_rows: int = 2_000_000
    max_line_bytes: int = 1024 * 1024


def _too_large(limits: ImportLimits) -> BodyTooLarge:
    mib = limits.max_bytes / (1024 * 1024)
    return BodyTooLarge(
        f"Dữ liệu gửi lên vượt quá {mib:g} MiB; hãy chia thành nhiều tệp.",
        f"The body exceeds {mib:g} MiB; split it into several files.",
    )


def _too_many_rows(limits: ImportLimits) -> BodyTooLarge:
    return BodyTooLarge(
        f"Tệp có quá {limits.max_rows:,} dòng; hãy chia thành nhiều tệp.".replace(",", "."),
        f"The body has more than {limits.max_rows:,} rows; split it into several files.",
        code="import.too_many_rows",
    )


def _line_too_long(line: int, limits: ImportLimits) -> BodyTooLarge:
    kib = limits.max_line_bytes // 1024
    return BodyTooLarge(
        f"Dòng {line} dài quá {kib} KiB.",
        f"Line {line} is longer than {kib} KiB.",
        code="import.line_too_long",
    )


@dataclass
class SpooledBody:
    """A request body held in memory up to a threshold and on disk beyond it."""

    file: IO[bytes]
    size: int
    lines: int  # newline count, plus one for an unterminated last line

    async def chunks(self, size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """The body again, from the start, in chunks (disk reads run in a worker thread)."""
        await asyncio.to_thread(self.file.seek, 0)
        while True:
            chunk = await asyncio.to_thread(self.file.read, size)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self.file.close()


async def spool_body(
    stream: AsyncIterable[bytes],
    *,
    limits: ImportLimits,
    memory_bytes: int,
    content_length: str | None = None,
) -> SpooledBody:
    """Read a request body into a spool, refusing it (413) as soon as it passes a limit.

    `content_length` (the header) lets an oversized body be refused before it is read."""
    declared = (content_length or "").strip()
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise _too_large(limits)
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=memory_bytes)  # noqa: SIM115
    size = lines = 0
    last = b"\n"
    try:
        async for chunk in stream:
            if not chunk:
                continue
            size += len(chunk)
            if size > limits.max_bytes:
                raise _too_large(limits)
            lines += chunk.count(b"\n")
            # the header of a CSV file is one line more than max_rows allows
            if lines > limits.max_rows + 1:
                raise _too_many_rows(limits)
            last = chunk[-1:]
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    if last != b"\n":
        lines += 1
    return SpooledBody(file=spool, size=size, lines=lines)


# ------------------------------------------------------------------------ readers

Parsed = tuple[int, dict[str, Any] | RowError]
"""One row of a body: its line number and its fields, or why it could not be read."""


@dataclass(slots=True)
class Batch:
    """The rows read from one chunk: `items[i]` starts on line `lines[i]`.

    Two parallel sequences rather than a tuple per row: a large import then allocates no
    object per row beyond the row itself, which keeps the garbage collector quiet."""

    lines: Sequence[int]
    items: list[dict[str, Any] | RowError]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Parsed]:
        return zip(self.lines, self.items, strict=True)

    def add(self, parsed: Parsed) -> None:
        assert isinstance(self.lines, list)
        self.lines.append(parsed[0])
        self.items.append(parsed[1])


def _batch() -> Batch:
    return Batch(lines=[], items=[])


async def _lines(
    chunks: AsyncIterable[bytes], limits: ImportLimits
) -> AsyncIterator[tuple[int, list[bytes]]]:
    """Complete lines (without their newline) per chunk, with the number of the first one."""
    pending = b""
    number = 1
    first = True
    async for chunk in chunks:
        data = pending + chunk if pending else chunk
        if first and data:
            if len(data) < len(_BOM) and _BOM.startswith(data):
                pending = data  # a BOM split across chunks
                continue
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
            first = False
        end = data.rfind(b"\n")
        if end < 0:
            pending = data
            if len(pending) > limits.max_line_bytes:
                raise _line_too_long(number, limits)
            continue
        pending = data[end + 1 :]
        if len(pending) > limits.max_line_bytes:
            raise _line_too_long(number + data.count(b"\n", 0, end + 1), limits)
        lines = data[:end].split(b"\n")
        if end > limits.max_line_bytes and max(map(len, lines)) > limits.max_line_bytes:
            at = next(i for i, line in enumerate(lines) if len(line) > limits.max_line_bytes)
            raise _line_too_long(number + at, limits)
        yield number, lines
        number += len(lines)
    if pending:
        yield number, [pending]


def _invalid_json(line: int, detail: str) -> RowError:
    return _row_error(
        line,
        None,
        "json.invalid",
        f"Dòng {line}: không phải JSON hợp lệ ({detail}).",
        f"Line {line}: not valid JSON ({detail}).",
    )


def _not_an_object(line: int) -> RowError:
    return _row_error(
        line,
        None,
        "json.not_object",
        f"Dòng {line}: mỗi dòng phải là một đối tượng JSON {{...}}.",
        f"Line {line}: each line must be a JSON object {{...}}.",
    )


async def iter_ndjson_batches(
    chunks: AsyncIterable[bytes], limits: ImportLimits | None = None
) -> AsyncIterator[Batch]:
    """NDJSON rows, one batch per chunk read. Blank lines are skipped (but counted)."""
    limits = limits or ImportLimits()
    loads = orjson.loads
    async for number, lines in _lines(chunks, limits):
        # The common chunk (no blank or broken line) is parsed at C speed; any surprise
        # sends the whole chunk through the line-by-line path, which names the bad lines.
        try:
            values = list(map(loads, lines))
        except orjson.JSONDecodeError:
            pass
        else:
            if set(map(type, values)) <= {dict}:
                if values:
                    yield Batch(lines=range(number, number + len(values)), items=values)
                continue
        batch = _batch()
        for offset, raw in enumerate(lines):
            if not raw or raw.isspace():
                continue
            line = number + offset
            try:
                value = loads(raw)
            except orjson.JSONDecodeError as exc:
                batch.add((line, _invalid_json(line, str(exc).split(":", 1)[0])))
                continue
            if type(value) is dict:
                batch.add((line, value))
            else:
                batch.add((line, _not_an_object(line)))
        if batch:
            yield batch


class _Feed:
    """An iterator the CSV reader pulls records from, filled one record at a time."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: deque[str] = deque()

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        try:
            return self.items.popleft()
        except IndexError:
            raise StopIteration from None


def _decode_lines(number: int, lines: list[bytes]) -> list[tuple[int, str | None]]:
    """Lines as text; None where a line is not UTF-8."""
    try:
        text = b"\n".join(lines).decode("utf-8")
    except UnicodeDecodeError:
        out: list[tuple[int, str | None]] = []
        for offset, raw in enumerate(lines):
            try:
                out.append((number + offset, raw.decode("utf-8")))
            except UnicodeDecodeError:
                out.append((number + offset, None))
        return out
    return [(number + offset, line) for offset, line in enumerate(text.split("\n"))]


def _not_utf8(line: int) -> RowError:
    return _row_error(
        line,
        None,
        "encoding.invalid",
        f"Dòng {line}: không phải văn bản UTF-8 (hãy lưu tệp CSV với bảng mã UTF-8).",
        f"Line {line}: not UTF-8 text (save the CSV file as UTF-8).",
    )


def _delimiter(header: str) -> str:
    """`,` unless the header uses `;` (spreadsheets in Vietnamese locales) or tabs more."""
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _header_names(cells: list[str]) -> list[str]:
    return [nfc(c).strip().lower() for c in cells]


def _missing_header() -> InvalidInput:
    return InvalidInput(
        "Tệp CSV phải có dòng tiêu đề (tên các cột) ở dòng đầu tiên.",
        "A CSV file must start with a header row naming its columns.",
        code="import.csv_header_missing",
    )


def _columns_missing(missing: Sequence[str], required: Sequence[str]) -> InvalidInput:
    names = ", ".join(missing)
    expected = ",".join(required)
    return InvalidInput(
        f"Tệp CSV thiếu cột: {names}. Dòng tiêu đề cần có: {expected}.",
        f"The CSV file lacks column(s): {names}. The header must name: {expected}.",
        code="import.csv_columns_missing",
        errors=[
            FieldError(
                row=1,
                field=name,
                code="csv.column_missing",
                message_vi=f"Thiếu cột '{name}'.",
                message_en=f"Column '{name}' is missing.",
            )
            for name in missing
        ],
    )


async def iter_csv_batches(
    chunks: AsyncIterable[bytes],
    limits: ImportLimits | None = None,
    *,
    required_columns: Sequence[str] = (),
) -> AsyncGenerator[Batch, None]:
    """CSV rows as {column: cell} dicts, one batch per chunk read.

    The first non-blank record is the header (names are stripped and lowercased); its
    delimiter (`,`, `;` or tab) is the file's. Quoted cells may span lines; a row starts on the
    line its record starts on. Rows whose cells are all empty are skipped; a row with fewer
    cells than the header reads the missing ones as empty; a row with more non-empty cells than
    the header is a `csv.column_count` error.

    Raises:
        InvalidInput: no header (`import.csv_header_missing`), or a required column missing
            (`import.csv_columns_missing`), before any row is yielded.
    """
    limits = limits or ImportLimits()
    header: list[str] | None = None
    width = 0
    feed = _Feed()
    reader: Any = None
    pending: list[str] = []
    pending_start = 0
    pending_quotes = 0
    pending_bad = False

    def parse(start: int, record: str) -> Parsed | None:
        nonlocal header, width, reader
        if header is None:
            if not record.strip():
                return None
            delimiter = _delimiter(record)
            reader = csv.reader(feed, delimiter=delimiter)
            feed.items.append(record)
            try:
                names = _header_names(next(reader))
            except csv.Error:
                raise _missing_header() from None
            missing = [c for c in required_columns if c not in names]
            if missing:
                raise _columns_missing(missing, required_columns)
            header, width = names, len(names)
            return None
        feed.items.append(record)
        try:
            cells: list[str] = next(reader)
        except csv.Error as exc:
            feed.items.clear()
            return start, _row_error(
                start,
                None,
                "csv.malformed",
                f"Dòng {start}: bản ghi CSV không hợp lệ ({exc}).",
                f"Line {start}: malformed CSV record ({exc}).",
            )
        except StopIteration:  # pragma: no cover - one record in, one row out
            return None
        if not any(c and not c.isspace() for c in cells):
            return None
        if len(cells) > width:
            if any(c and not c.isspace() for c in cells[width:]):
                return start, _row_error(
                    start,
                    None,
                    "csv.column_count",
                    f"Dòng {start}: có {len(cells)} ô nhưng tiêu đề chỉ có {width} cột.",
                    f"Line {start}: {len(cells)} cells but the header names {width} columns.",
                )
            cells = cells[:width]
        row = dict(zip(header, cells, strict=False))
        if len(cells) < width:
            for name in header[len(cells) :]:
                row[name] = ""
        return start, row

    async for number, lines in _lines(chunks, limits):
        batch = _batch()
        for line, text in _decode_lines(number, lines):
            if text is None:
                if header is None:
                    raise InvalidInput(
                        "Tệp CSV không phải văn bản UTF-8; hãy lưu lại với bảng mã UTF-8.",
                        "The CSV file is not UTF-8 text; save it again as UTF-8.",
                        code="import.encoding_invalid",
                    )
                if not pending:
                    batch.add((line, _not_utf8(line)))
                    continue
                pending_bad = True
                text = ""
            if not pending:
                quotes = text.count('"')
                if not quotes & 1:  # the common case: a record on one line
                    parsed = parse(line, text)
                    if parsed is not None:
                        batch.add(parsed)
                    continue
                pending, pending_start, pending_quotes = [text], line, quotes
                continue
            pending.append(text)
            pending_quotes += text.count('"')
            if sum(len(p) for p in pending) > limits.max_line_bytes:
                raise _line_too_long(pending_start, limits)
            if not pending_quotes & 1:
                record, start, bad = "\n".join(pending), pending_start, pending_bad
                pending, pending_bad = [], False
                if bad:
                    batch.add((start, _not_utf8(start)))
                    continue
                parsed = parse(start, record)
                if parsed is not None:
                    batch.add(parsed)
        if batch:
            yield batch
    if pending:  # a quote opened and never closed: the rest of the body is one broken record
        if header is None:
            raise _missing_header()
        error = _row_error(
            pending_start,
            None,
            "csv.unclosed_quote",
            f'Dòng {pending_start}: dấu ngoặc kép (") mở nhưng không được đóng.',
            f'Line {pending_start}: a double quote (") is opened and never closed.',
        )
        yield Batch(lines=[pending_start], items=[error])
    if header is None:
        raise _missing_header()


def iter_batches(
    fmt: ImportFormat,
    chunks: AsyncIterable[bytes],
    limits: ImportLimits | None = None,
    *,
    required_columns: Sequence[str] = (),
) -> AsyncIterator[Batch]:
    """Rows of a body of either format, one batch per chunk read."""
    if fmt is ImportFormat.csv:
        return iter_csv_batches(chunks, limits, required_columns=required_columns)
    return iter_ndjson_batches(chunks, limits)


async def read_rows(
    fmt: ImportFormat, chunks: AsyncIterable[bytes], limits: ImportLimits | None = None
) -> AsyncIterator[Parsed]:
    """Rows of a body of either format, one at a time: (line number, dict or RowError)."""
    async for batch in iter_batches(fmt, chunks, limits):
        for item in batch:
            yield item


def read_ndjson(
    chunks: AsyncIterable[bytes], limits: ImportLimits | None = None
) -> AsyncIterator[Parsed]:
    """NDJSON rows one at a time: each line one JSON object; a malformed line a RowError."""
    return read_rows(ImportFormat.ndjson, chunks, limits)


def read_csv(
    chunks: AsyncIterable[bytes], limits: ImportLimits | None = None
) -> AsyncIterator[Parsed]:
    """CSV rows one at a time, as {header name: cell}; see `iter_csv_batches`."""
    return read_rows(ImportFormat.csv, chunks, limits)


async def check_csv_header(
    body: SpooledBody, required_columns: Sequence[str], limits: ImportLimits | None = None
) -> None:
    """Refuse a CSV body without the required columns before any work is queued for it."""
    limits = limits or ImportLimits()

    async def head() -> AsyncIterator[bytes]:
        async for chunk in body.chunks(limits.max_line_bytes):
            yield chunk
            return

    try:
        batches = iter_csv_batches(head(), limits, required_columns=required_columns)
        async with aclosing(batches):
            async for _batch in batches:
                break
    finally:
        await asyncio.to_thread(body.file.seek, 0)


# -------------------------------------------------------------------- helpers


def merge_errors(*sorted_lists: Iterable[RowError], cap: int = MAX_ERRORS) -> list[RowError]:
    """Row errors from several sources, each in line order, merged in line order and capped."""
    out: list[RowError] = []
    for error in heapq.merge(*sorted_lists, key=lambda e: e.line):
        if len(out) >= cap:
            break
        out.append(error)
    return out


def summary_problem_response(
    request: Request, error: ProblemError, summary: ImportSummary
) -> JSONResponse:
    """problem+json for an import refused row by row (an atomic import with rejected rows):
    the rows in `errors`, and the whole summary as the extension member `summary`."""
    body = Problem(
        title="Unprocessable Content" if error.status == 422 else "Error",
        status=error.status,
        code=error.code,
        detail=error.message_en,
        message_vi=error.message_vi,
        message_en=error.message_en,
        instance=request.url.path,
        request_id=current_request_id(),
        errors=error.errors,
    ).model_dump(mode="json", exclude_none=True)
    body["summary"] = summary.model_dump(mode="json")
    return JSONResponse(body, status_code=error.status, media_type=PROBLEM_JSON)
