"""criteria sets loaded from the catalog files, and their indicators

Revision ID: c0002_criteria_sets
Revises: c0001_units
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c0002_criteria_sets"
down_revision: str | None = "c0001_units"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "criteria"


def upgrade() -> None:
    op.create_table(
        "criteria_sets",
        sa.Column("code", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=True),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("threshold_scheme", sa.Text(), nullable=False),
        sa.Column("extends", sa.Text(), nullable=True),
        sa.Column("province_code", sa.Text(), nullable=True),
        sa.Column("criteria_count", sa.Integer(), nullable=False),
        sa.Column("indicator_count", sa.Integer(), nullable=False),
        sa.Column("definition", postgresql.JSONB(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "level IN ('province', 'district', 'commune', 'village')", name="ck_criteria_sets_level"
        ),
        schema=S,
    )
    op.create_table(
        "criteria_indicators",
        sa.Column("set_code", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("criterion_number", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("set_code", "code", name="pk_criteria_indicators"),
        sa.ForeignKeyConstraint(
            ["set_code"],
            [f"{S}.criteria_sets.code"],
            name="fk_criteria_indicators_set_code_criteria_sets",
        ),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("criteria_indicators", schema=S)
    op.drop_table("criteria_sets", schema=S)
