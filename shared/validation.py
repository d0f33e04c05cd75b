"""Field types shared by the services' API models."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000: refuse it as bad input rather than fail on insert
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


NoNul = AfterValidator(_no_nul)
"""The check as metadata, after a string's own constraints:
`Annotated[str, StringConstraints(max_length=200, strip_whitespace=True), NoNul]`.
(`Annotated[PgText, StringConstraints(...)]` would apply the constraints after the check, as
generic length checks: whitespace stripped after `min_length` was checked.)"""

PgText = Annotated[str, NoNul]
"""A string PostgreSQL can store (no NUL character)."""
