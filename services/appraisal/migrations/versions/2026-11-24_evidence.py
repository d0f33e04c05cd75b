"""evidence files: content-addressed blobs and their references from dossiers

Revision ID: a0003_evidence
Revises: a0002_dossiers
Create Date: 2026-11-24

Invariants held by the database:
- a blob is named by the SHA-256 of its bytes (64 lowercase hex digits) and recorded once,
  however many dossiers cite it; its bytes live in the evidence store under that name;
- a dossier cites the same bytes for the same criterion / indicator at most once (a repeated
  upload answers the existing reference);
- references are append-only, like the audit chain that records each upload.
"""

from collections.abc import Sequence

from alembic import op

from shared.db import sql_statements

revision: str = "a0003_evidence"
down_revision: str | None = "a0002_dossiers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "appraisal"

UPGRADE = f"""
CREATE TABLE {S}.evidence_blobs (
    sha256 text PRIMARY KEY CONSTRAINT ck_evidence_blobs_sha256 CHECK (sha256 ~ '^[0-9a-f]{{64}}$'),
    size bigint NOT NULL CONSTRAINT ck_evidence_blobs_size CHECK (size >= 0),
    content_type text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {S}.evidence (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dossier_id uuid NOT NULL REFERENCES {S}.dossiers (id),
    sha256 text NOT NULL REFERENCES {S}.evidence_blobs (sha256),
    filename text NOT NULL,
    criterion_number smallint CONSTRAINT ck_evidence_criterion CHECK (criterion_number > 0),
    indicator_code text,
    step text NOT NULL,
    uploaded_by text,
    role text,
    unit_code text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX uq_evidence_citation ON {S}.evidence
    (dossier_id, sha256, coalesce(criterion_number, 0), coalesce(indicator_code, ''));
CREATE INDEX ix_evidence_dossier ON {S}.evidence (dossier_id, id);
CREATE INDEX ix_evidence_sha256 ON {S}.evidence (sha256);

CREATE TRIGGER evidence_append_only BEFORE UPDATE OR DELETE ON {S}.evidence
    FOR EACH ROW EXECUTE FUNCTION {S}.forbid_change();
"""

DOWNGRADE = f"""
DROP TABLE IF EXISTS {S}.evidence, {S}.evidence_blobs CASCADE;
"""


def upgrade() -> None:
    for statement in sql_statements(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements(DOWNGRADE):
        op.execute(statement)
