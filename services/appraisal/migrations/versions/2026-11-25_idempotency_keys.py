"""idempotency keys: the first answer of each keyed write (shared.replay)

Revision ID: a0004_idempotency_keys
Revises: a0003_evidence
Create Date: 2026-11-25

A row is inserted when a write claims its `Idempotency-Key` and completed with the answer in
the same transaction; a failed write rolls it back. `request_hash` is the fingerprint of the
route, path parameters, body, actor and If-Match: the same key with another hash is a 409.
"""

from collections.abc import Sequence

from alembic import op

from shared.db import sql_statements

revision: str = "a0004_idempotency_keys"
down_revision: str | None = "a0003_evidence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "appraisal"

UPGRADE = f"""
CREATE TABLE {S}.idempotency_keys (
    key text PRIMARY KEY,
    request_hash bytea NOT NULL,
    status_code smallint,
    response jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""

DOWNGRADE = f"""
DROP TABLE IF EXISTS {S}.idempotency_keys;
"""


def upgrade() -> None:
    for statement in sql_statements(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements(DOWNGRADE):
        op.execute(statement)
