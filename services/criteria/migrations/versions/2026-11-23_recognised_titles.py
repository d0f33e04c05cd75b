"""recognised titles (a projection of appraisal's decisions) and the event inbox

Revision ID: c0004_titles
Revises: c0003_indicator_values
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c0004_titles"
down_revision: str | None = "c0003_indicator_values"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "criteria"


def upgrade() -> None:
    op.create_table(
        "recognised_titles",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("decision_number", sa.Text(), nullable=False),
        sa.Column("decision_date", sa.Date(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("revoked_on", sa.Date(), nullable=True),
        sa.Column("revocation_decision", sa.Text(), nullable=True),
        sa.Column("granted_event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("revoked_event_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], [f"{S}.units.id"], name="fk_recognised_titles_unit_id_units"
        ),
        sa.CheckConstraint(
            "revoked_on IS NULL OR revoked_on >= effective_on",
            name="ck_recognised_titles_revocation_after_grant",
        ),
        schema=S,
    )
    op.create_index(
        "ix_recognised_titles_unit_id_title", "recognised_titles", ["unit_id", "title"], schema=S
    )
    op.create_index(
        "ix_recognised_titles_granted_event_id",
        "recognised_titles",
        ["granted_event_id"],
        unique=True,
        schema=S,
    )
    op.create_table(
        "inbox",
        sa.Column("event_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("inbox", schema=S)
    op.drop_table("recognised_titles", schema=S)
