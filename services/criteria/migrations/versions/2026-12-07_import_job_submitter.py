"""import jobs remember the unit of whoever submitted them, so that only callers whose scope
covers it (and the submitter) read the job

Revision ID: c0007_import_job_submitter
Revises: c0006_import_jobs
Create Date: 2026-12-07

`submitter_unit` is the unit the submitter's role is bound to (NULL: the whole country, and
jobs recorded before this revision, which only national callers then read).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0007_import_job_submitter"
down_revision: str | None = "c0006_import_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "criteria"


def upgrade() -> None:
    op.add_column("import_jobs", sa.Column("submitter_unit", sa.Text(), nullable=True), schema=S)


def downgrade() -> None:
    op.drop_column("import_jobs", "submitter_unit", schema=S)
