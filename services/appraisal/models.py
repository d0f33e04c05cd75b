"""Tables of the appraisal service (schema `appraisal`)."""

from __future__ import annotations

from sqlmodel import SQLModel

import shared.db  # noqa: F401  - installs the naming convention on SQLModel.metadata

SCHEMA = "appraisal"

__all__ = ["SCHEMA", "SQLModel"]
