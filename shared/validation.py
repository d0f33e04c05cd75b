"""Field types shared by the services' API models."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000: refuse it as bad input rather than fail on insert
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


PgText = Annotated[str, AfterValidator(_no_nul)]
"""A string PostgreSQL can store (no NUL character)."""
