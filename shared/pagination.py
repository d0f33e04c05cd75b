"""Opaque keyset cursors and the page envelope used by every REST list."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel, Field

from shared.errors import FieldError, InvalidInput

T = TypeVar("T")
R = TypeVar("R")

# the query parameters of a list: `?cursor=&limit=` (the page size default and maximum are
# the route's: its own `Query(ge=1, le=…)` when it needs other bounds)
Cursor = Annotated[
    str | None, Query(description="`next_cursor` of the previous page; absent: the first page")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]


class Page(BaseModel, Generic[T]):
    """A page of a list: items, the cursor of the next page (null at the end), the total count."""

    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page")
    total_count: int


def encode_cursor(key: Any) -> str:
    """Encode the sort key of the last row of a page."""
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def invalid_cursor() -> InvalidInput:
    """The 422 for a cursor this service did not make, naming the `cursor` field."""
    return InvalidInput(
        "Con trỏ phân trang (cursor) không hợp lệ.",
        "The pagination cursor is invalid.",
        code="cursor.invalid",
        errors=[
            FieldError(
                field="cursor",
                code="cursor.invalid",
                message_vi="Con trỏ phân trang không hợp lệ.",
                message_en="The pagination cursor is invalid.",
            )
        ],
    )


def decode_cursor(cursor: str | None) -> Any:
    """Decode a cursor made by `encode_cursor`; a tampered cursor is a 422 naming `cursor`.

    Cursors hold sort keys read from PostgreSQL, so one with a value PostgreSQL could not have
    given (a NUL in a string, an integer beyond BIGINT) was not made here: refused before the
    value reaches a query."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise invalid_cursor() from exc
    if not _storable(key):
        raise invalid_cursor()
    return key


def _storable(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    return True


def cursor_after(cursor: str | None, *parts: Callable[[Any], Any]) -> tuple[Any, ...] | None:
    """The sort key a `keyset_page` cursor holds, each part converted by its `parts` function
    (`int`, `uuid.UUID`, `datetime.fromisoformat`…); None for the first page. A cursor of
    another shape is the 422 naming `cursor`."""
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != len(parts):
        raise invalid_cursor()
    try:
        return tuple(convert(value) for convert, value in zip(parts, raw, strict=True))
    except (TypeError, ValueError) as exc:
        raise invalid_cursor() from exc


def id_after(cursor: str | None) -> int | None:
    """The id a cursor of a list ordered by an integer id (or sequence number) holds."""
    after = cursor_after(cursor, int)
    return None if after is None else int(after[0])


def keyset_page(
    rows: Sequence[R], limit: int, key: Callable[[R], Sequence[Any]]
) -> tuple[Sequence[R], str | None]:
    """The page of `rows` read with `LIMIT limit + 1` after the cursor's key: its first `limit`
    rows and the cursor of the next page (None on the last), made of the last row's `key`
    (JSON-able values, read back by `cursor_after`)."""
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], encode_cursor(list(key(rows[limit - 1])))
