"""yearly targets per unit ("+1 model commune, +2 advanced communes…")

Revision ID: c0005_targets
Revises: c0004_titles
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0005_targets"
down_revision: str | None = "c0004_titles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "criteria"


def upgrade() -> None:
    op.create_table(
        "targets",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("label_vi", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("achieved_manual", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["unit_id"], [f"{S}.units.id"], name="fk_targets_unit_id_units"),
        sa.CheckConstraint("quantity > 0", name="ck_targets_positive"),
        schema=S,
    )
    op.create_index(
        "ix_targets_unit_id_year_kind",
        "targets",
        ["unit_id", "year", "kind"],
        unique=True,
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("targets", schema=S)
