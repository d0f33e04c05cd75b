"""unit profiles (region, commune group) and the append-only indicator values

Revision ID: c0003_indicator_values
Revises: c0002_criteria_sets
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c0003_indicator_values"
down_revision: str | None = "c0002_criteria_sets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "criteria"


def upgrade() -> None:
    op.create_table(
        "unit_profiles",
        sa.Column("unit_id", sa.BigInteger(), primary_key=True),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("commune_group", sa.Text(), nullable=True),
        sa.Column("specially_disadvantaged", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], [f"{S}.units.id"], name="fk_unit_profiles_unit_id_units"
        ),
        sa.CheckConstraint(
            "region IS NULL OR region IN ('TDMNPB','DBSH','BTB','DHNTB','TN','DNB','DBSCL')",
            name="ck_unit_profiles_region",
        ),
        sa.CheckConstraint(
            "commune_group IS NULL OR commune_group IN ('1','2','3')", name="ck_unit_profiles_group"
        ),
        schema=S,
    )
    op.create_table(
        "indicator_values",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("set_code", sa.Text(), nullable=False),
        sa.Column("indicator_code", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("value_bool", sa.Boolean(), nullable=True),
        sa.Column("value_num", sa.Numeric(), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=True),
        sa.Column("evidence", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], [f"{S}.units.id"], name="fk_indicator_values_unit_id_units"
        ),
        sa.ForeignKeyConstraint(
            ["set_code", "indicator_code"],
            [f"{S}.criteria_indicators.set_code", f"{S}.criteria_indicators.code"],
            name="fk_indicator_values_set_code_criteria_indicators",
        ),
        sa.CheckConstraint(
            "(value_bool IS NULL) <> (value_num IS NULL)", name="ck_indicator_values_one_value"
        ),
        schema=S,
    )
    op.create_index(
        "ix_indicator_values_current",
        "indicator_values",
        ["set_code", "year", "unit_id", "indicator_code", "as_of", "id"],
        schema=S,
    )
    # Append-only: history is never rewritten; a correction is a new row.
    op.execute(
        f"CREATE FUNCTION {S}.forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN RAISE EXCEPTION 'indicator values are append-only' USING ERRCODE = 'P0001'; END $$"
    )
    op.execute(
        f"CREATE TRIGGER indicator_values_append_only BEFORE UPDATE OR DELETE ON {S}.indicator_values"
        f" FOR EACH ROW EXECUTE FUNCTION {S}.forbid_change()"
    )


def downgrade() -> None:
    op.execute(f"DROP TRIGGER indicator_values_append_only ON {S}.indicator_values")
    op.execute(f"DROP FUNCTION {S}.forbid_change()")
    op.drop_table("indicator_values", schema=S)
    op.drop_table("unit_profiles", schema=S)
