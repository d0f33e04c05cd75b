"""Opaque keyset cursors and the page envelope used by every REST list."""

from __future__ import annotations

import base64
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, Field

from shared.errors import FieldError, InvalidInput

T = TypeVar("T")


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
