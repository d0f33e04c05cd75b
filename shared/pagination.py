"""Opaque keyset cursors and the page envelope used by every REST list."""

from __future__ import annotations

import base64
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, Field

from shared.errors import InvalidInput

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list: items, the cursor of the next page (null at the end), the total count."""

    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page")
    total_count: int


def encode_cursor(key: Any) -> str:
    """Encode the sort key of the last row of a page."""
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    """Decode a cursor made by `encode_cursor`; a tampered cursor is a 422 naming `cursor`."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidInput(
            "Con trỏ phân trang (cursor) không hợp lệ.",
            "The pagination cursor is invalid.",
            code="cursor.invalid",
        ) from exc
