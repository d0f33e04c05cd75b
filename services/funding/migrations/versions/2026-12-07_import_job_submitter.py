"""import jobs remember the unit of whoever submitted them, so that only callers whose scope
covers it (and the submitter) read the job

Revision ID: f0008_import_job_submitter
Revises: f0007_posting
Create Date: 2026-12-07

`submitter_unit` is the unit the submitter's role is bound to (NULL: the whole country, and
jobs recorded before this revision, which only national callers then read). The same column
as criteria.import_jobs (c0007): one job runner serves both.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f0008_import_job_submitter"
down_revision: str | None = "f0007_posting"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "funding"


def upgrade() -> None:
    op.execute(f"ALTER TABLE {S}.import_jobs ADD COLUMN submitter_unit text")


def downgrade() -> None:
    op.execute(f"ALTER TABLE {S}.import_jobs DROP COLUMN submitter_unit")
