"""the funding schema (created by the migration runner) and its version table

Revision ID: f0001_schema
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

revision: str = "f0001_schema"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The runner creates the schema before Alembic writes its version table into it; the
    # service's tables arrive with its first feature migration.
    pass


def downgrade() -> None:
    pass
