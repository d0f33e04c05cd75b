"""Tables of the funding service (schema `funding`)."""

from __future__ import annotations

from sqlmodel import SQLModel

import shared.db  # noqa: F401  - installs the naming convention on SQLModel.metadata

SCHEMA = "funding"

__all__ = ["SCHEMA", "SQLModel"]
