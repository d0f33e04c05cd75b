"""administrative units of both editions and their lineage

Revision ID: c0001_units
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0001_units"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "criteria"


def upgrade() -> None:
    op.create_table(
        "units",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("edition", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("level_order", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("short_name", sa.Text(), nullable=False),
        sa.Column("type_name", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("parent_code", sa.Text(), nullable=True),
        sa.Column("province_code", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("search_key", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["parent_id"], [f"{S}.units.id"], name="fk_units_parent_id_units"),
        sa.CheckConstraint(
            "level IN ('province', 'district', 'commune', 'village')", name="ck_units_level"
        ),
        sa.CheckConstraint("edition IN ('legacy', '2025')", name="ck_units_edition"),
        sa.CheckConstraint(
            "valid_from IS NULL OR valid_to IS NULL OR valid_from <= valid_to",
            name="ck_units_validity",
        ),
        schema=S,
    )
    op.create_index("ix_units_edition_code", "units", ["edition", "code"], unique=True, schema=S)
    op.create_index("ix_units_code", "units", ["code"], schema=S)
    op.create_index(
        "ix_units_path", "units", ["path"], schema=S, postgresql_ops={"path": "text_pattern_ops"}
    )
    op.create_index("ix_units_parent_id", "units", ["parent_id"], schema=S)
    op.create_index("ix_units_level_province", "units", ["level", "province_code"], schema=S)

    op.create_table(
        "unit_lineage",
        sa.Column("predecessor_id", sa.BigInteger(), nullable=False),
        sa.Column("successor_id", sa.BigInteger(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("predecessor_id", "successor_id", name="pk_unit_lineage"),
        sa.ForeignKeyConstraint(
            ["predecessor_id"], [f"{S}.units.id"], name="fk_unit_lineage_predecessor_id_units"
        ),
        sa.ForeignKeyConstraint(
            ["successor_id"], [f"{S}.units.id"], name="fk_unit_lineage_successor_id_units"
        ),
        schema=S,
    )
    op.create_index("ix_unit_lineage_successor_id", "unit_lineage", ["successor_id"], schema=S)

    op.create_table(
        "reference_loads",
        sa.Column("dataset", sa.Text(), primary_key=True),
        sa.Column("checksum", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("reference_loads", schema=S)
    op.drop_table("unit_lineage", schema=S)
    op.drop_table("units", schema=S)
