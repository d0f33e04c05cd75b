"""shared.bulk: the streaming NDJSON and CSV readers (property-based round trips over any
chunking), content-type dispatch, the spool's limits and the error log."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.bulk import (
    MAX_ERRORS,
    BodyTooLarge,
    ErrorLog,
    ImportFormat,
    ImportLimits,
    Parsed,
    RowError,
    UnsupportedMediaType,
    format_of,
    merge_errors,
    read_csv,
    read_ndjson,
    spool_body,
)
from shared.errors import InvalidInput


async def pieces(data: bytes, cuts: Sequence[int] = ()) -> AsyncIterator[bytes]:
    """`data` in chunks split at `cuts` (positions, in any order)."""
    start = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        yield data[start:cut]
        start = cut
    yield data[start:]


def run_reader(reader: AsyncIterator[Parsed]) -> list[Parsed]:
    async def collect() -> list[Parsed]:
        return [item async for item in reader]

    return asyncio.run(collect())


cell = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12
)
csv_rows = st.lists(st.lists(cell, min_size=3, max_size=3), max_size=15)
cuts = st.lists(st.integers(min_value=0, max_value=2000), max_size=8)

json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | cell
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(cell, inner, max_size=3),
    max_leaves=8,
)
json_rows = st.lists(
    st.tuples(st.dictionaries(cell, json_value, max_size=4), st.integers(0, 2)), max_size=15
)


def write_csv(header: list[str], rows: list[list[str]], *, bom: bool) -> tuple[bytes, list[int]]:
    """The CSV text of the rows, and the line each record starts on."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    starts = []
    for row in rows:
        starts.append(out.getvalue().count("\n") + 1)
        writer.writerow(row)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode(), starts


def blank(cells: list[str]) -> bool:
    return not any(c and not c.isspace() for c in cells)


class TestCsvReader:
    @settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
    @given(rows=csv_rows, cuts=cuts, bom=st.booleans())
    def test_rows_written_then_read_are_the_same_with_their_line_numbers(
        self, rows: list[list[str]], cuts: list[int], bom: bool
    ) -> None:
        data, starts = write_csv(["a", "b", "c"], rows, bom=bom)
        got = run_reader(read_csv(pieces(data, cuts)))
        expected = [
            (line, dict(zip("abc", r, strict=True)))
            for line, r in zip(starts, rows, strict=True)
            if not blank(r)
        ]
        assert got == expected

    def test_semicolons_bom_and_header_case(self) -> None:
        data = "\ufeffUnit ; Value\r\n15592;35,59\r\n".encode()
        assert run_reader(read_csv(pieces(data, [1, 2]))) == [
            (2, {"unit": "15592", "value": "35,59"})
        ]

    def test_short_rows_read_missing_cells_as_empty_and_long_ones_are_errors(self) -> None:
        data = b"a,b,c\n1\n1,2,3,,\n1,2,3,4\n"
        got = run_reader(read_csv(pieces(data)))
        assert got[0] == (2, {"a": "1", "b": "", "c": ""})
        assert got[1] == (3, {"a": "1", "b": "2", "c": "3"})
        line, error = got[2]
        assert line == 4
        assert isinstance(error, RowError)
        assert error.code == "csv.column_count"

    def test_an_unclosed_quote_is_an_error_at_its_line(self) -> None:
        got = run_reader(read_csv(pieces(b'a,b\n1,2\n3,"4\n5,6\n')))
        assert got[0] == (2, {"a": "1", "b": "2"})
        line, error = got[1]
        assert (line, isinstance(error, RowError) and error.code) == (3, "csv.unclosed_quote")

    def test_a_line_that_is_not_utf8_is_an_error_and_the_next_one_is_read(self) -> None:
        got = run_reader(read_csv(pieces(b"a,b\n\xff,1\n2,3\n")))
        assert isinstance(got[0][1], RowError)
        assert got[0][1].code == "encoding.invalid"
        assert got[1] == (3, {"a": "2", "b": "3"})

    def test_no_header_is_an_invalid_input(self) -> None:
        with pytest.raises(InvalidInput) as caught:
            run_reader(read_csv(pieces(b"\n  \n")))
        assert caught.value.code == "import.csv_header_missing"

    def test_a_line_over_the_limit_is_413(self) -> None:
        limits = ImportLimits(max_line_bytes=10)
        with pytest.raises(BodyTooLarge) as caught:
            run_reader(read_csv(pieces(b"a,b\n" + b"x" * 40 + b"\n", [5, 20]), limits))
        assert caught.value.code == "import.line_too_long"
        assert "2" in caught.value.message_vi


class TestNdjsonReader:
    @settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
    @given(rows=json_rows, cuts=cuts, crlf=st.booleans())
    def test_rows_written_then_read_are_the_same_with_their_line_numbers(
        self, rows: list[tuple[dict[str, Any], int]], cuts: list[int], crlf: bool
    ) -> None:
        end = b"\r\n" if crlf else b"\n"
        data = b""
        expected: list[Parsed] = []
        line = 1
        for row, blanks in rows:
            data += (b" " + end) * blanks
            line += blanks
            expected.append((line, row))
            data += orjson.dumps(row) + end
            line += 1
        assert run_reader(read_ndjson(pieces(data, cuts))) == expected

    def test_a_malformed_line_is_a_row_error_and_reading_goes_on(self) -> None:
        got = run_reader(read_ndjson(pieces(b'{"a":1}\n{"a":\n\n"text"\n{"b":2}')))
        assert got[0] == (1, {"a": 1})
        assert [(n, e.code) for n, e in got[1:3] if isinstance(e, RowError)] == [
            (2, "json.invalid"),
            (4, "json.not_object"),
        ]
        assert got[3] == (5, {"b": 2})

    def test_a_bom_split_across_chunks_is_dropped(self) -> None:
        data = b'\xef\xbb\xbf{"a":1}\n'
        assert run_reader(read_ndjson(pieces(data, [1, 2]))) == [(1, {"a": 1})]


class TestFormatOf:
    @pytest.mark.parametrize(
        ("content_type", "expected"),
        [
            ("application/x-ndjson", ImportFormat.ndjson),
            ("application/json-lines; charset=utf-8", ImportFormat.ndjson),
            ("Text/CSV; charset=UTF-8", ImportFormat.csv),
        ],
    )
    def test_accepted_types(self, content_type: str, expected: ImportFormat) -> None:
        assert format_of(content_type) is expected

    @pytest.mark.parametrize(
        "content_type", [None, "", "application/json", "text/csv; charset=latin-1"]
    )
    def test_anything_else_is_415(self, content_type: str | None) -> None:
        with pytest.raises(UnsupportedMediaType) as caught:
            format_of(content_type)
        assert caught.value.status == 415
        assert caught.value.message_vi
        assert caught.value.message_en


class TestSpool:
    def test_the_body_is_kept_and_counted(self) -> None:
        async def go() -> tuple[bytes, int, int]:
            body = await spool_body(
                pieces(b"a\nb\nc", [1, 3]), limits=ImportLimits(), memory_bytes=2
            )
            data = b"".join([c async for c in body.chunks(2)])
            body.close()
            return data, body.size, body.lines

        assert asyncio.run(go()) == (b"a\nb\nc", 5, 3)

    @pytest.mark.parametrize(
        ("body", "declared", "code"),
        [
            (b"x" * 11, None, "import.too_large"),
            (b"x", "11", "import.too_large"),
            (b"\n" * 5, None, "import.too_many_rows"),
        ],
    )
    def test_limits_answer_413(self, body: bytes, declared: str | None, code: str) -> None:
        limits = ImportLimits(max_bytes=10, max_rows=3)
        with pytest.raises(BodyTooLarge) as caught:
            asyncio.run(
                spool_body(pieces(body), limits=limits, memory_bytes=5, content_length=declared)
            )
        assert (caught.value.status, caught.value.code) == (413, code)


def error(line: int) -> RowError:
    return RowError(line=line, code="x", message_vi="x", message_en="x")


class TestErrorLog:
    def test_counts_every_row_and_keeps_the_first_errors(self) -> None:
        log = ErrorLog()
        for n in range(MAX_ERRORS + 5):
            log.reject([error(n), error(n)])
        log.reject([])
        assert log.rows == MAX_ERRORS + 5
        assert len(log.errors) == MAX_ERRORS
        assert log.truncated

    def test_merge_keeps_line_order_and_the_cap(self) -> None:
        merged = merge_errors([error(1), error(4)], [error(2), error(3), error(9)], cap=4)
        assert [e.line for e in merged] == [1, 2, 3, 4]
