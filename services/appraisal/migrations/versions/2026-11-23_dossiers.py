"""dossiers, the audit chain, comments, signed decisions, the outbox, signing keys

Revision ID: a0002_dossiers
Revises: a0001_schema
Create Date: 2026-11-23

Invariants held by the database:
- one live dossier per (kind, unit code + edition, title, year): a withdrawn or rejected one
  does not block a new attempt;
- audit entries and decisions are append-only (UPDATE and DELETE raise); each audit entry
  carries the hash of the one before it, so a row changed behind the trigger's back is found by
  `GET /v1/dossiers/{id}/timeline/verify`;
- an outbox row is written in the same transaction as the decision it announces.
"""

from collections.abc import Sequence

from alembic import op

from shared.db import sql_statements

revision: str = "a0002_dossiers"
down_revision: str | None = "a0001_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "appraisal"

UPGRADE = f"""
CREATE TABLE {S}.dossiers (
    id uuid PRIMARY KEY,
    kind text NOT NULL DEFAULT 'recognition'
        CONSTRAINT ck_dossiers_kind CHECK (kind IN ('recognition', 'revocation')),
    unit_code text NOT NULL,
    unit_edition text NOT NULL,
    unit_level text NOT NULL
        CONSTRAINT ck_dossiers_level CHECK (unit_level IN ('commune', 'district', 'province')),
    unit_name text NOT NULL,
    unit_path text NOT NULL,
    province_code text NOT NULL,
    has_district boolean NOT NULL,
    unit_as_of date NOT NULL,
    title text NOT NULL,
    year integer NOT NULL CONSTRAINT ck_dossiers_year CHECK (year BETWEEN 2010 AND 2035),
    set_code text NOT NULL,
    workflow_code text NOT NULL,
    workflow_version integer NOT NULL,
    step text NOT NULL,
    step_entered_on date NOT NULL,
    due_on date,
    status text NOT NULL DEFAULT 'open' CONSTRAINT ck_dossiers_status
        CHECK (status IN ('open', 'recognised', 'rejected', 'withdrawn', 'revoked')),
    content jsonb NOT NULL DEFAULT '{{}}',
    revokes_dossier_id uuid REFERENCES {S}.dossiers (id),
    revocation_grounds jsonb,
    submitted_evaluation jsonb,
    submitted_evaluation_hash text,
    decision_evaluation jsonb,
    decision_evaluation_hash text,
    construction_debt jsonb,
    construction_debt_hash text,
    audit_head bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex'),
    audit_count integer NOT NULL DEFAULT 0,
    version integer NOT NULL DEFAULT 1,
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_dossiers_snapshot_hash CHECK (
        (submitted_evaluation IS NULL) = (submitted_evaluation_hash IS NULL)
        AND (decision_evaluation IS NULL) = (decision_evaluation_hash IS NULL)
        AND (construction_debt IS NULL) = (construction_debt_hash IS NULL))
);
CREATE UNIQUE INDEX uq_dossiers_live ON {S}.dossiers (kind, unit_code, unit_edition, title, year)
    WHERE status NOT IN ('withdrawn', 'rejected');
CREATE INDEX ix_dossiers_created ON {S}.dossiers (created_at, id);
CREATE INDEX ix_dossiers_unit ON {S}.dossiers (unit_code);
CREATE INDEX ix_dossiers_path ON {S}.dossiers (unit_path text_pattern_ops);
CREATE INDEX ix_dossiers_open_step ON {S}.dossiers (step, province_code) WHERE status = 'open';

CREATE TABLE {S}.audit_entries (
    dossier_id uuid NOT NULL REFERENCES {S}.dossiers (id),
    seq integer NOT NULL CONSTRAINT ck_audit_entries_seq CHECK (seq > 0),
    entry jsonb NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dossier_id, seq)
);

CREATE TABLE {S}.comments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dossier_id uuid NOT NULL REFERENCES {S}.dossiers (id),
    step text NOT NULL,
    criterion_number smallint CONSTRAINT ck_comments_criterion CHECK (criterion_number > 0),
    body text NOT NULL,
    author text,
    role text,
    unit_code text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_comments_dossier ON {S}.comments (dossier_id, id);

CREATE TABLE {S}.decisions (
    id uuid PRIMARY KEY,
    dossier_id uuid NOT NULL REFERENCES {S}.dossiers (id),
    kind text NOT NULL CONSTRAINT ck_decisions_kind CHECK (kind IN ('recognition', 'revocation')),
    number text NOT NULL,
    date date NOT NULL,
    signer text NOT NULL,
    effective_on date NOT NULL,
    pdf_ref text,
    record jsonb NOT NULL,
    signature bytea NOT NULL,
    key_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_decisions_dossier_id UNIQUE (dossier_id)
);

CREATE TABLE {S}.outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL CONSTRAINT uq_outbox_event_id UNIQUE,
    type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    last_error text
);
CREATE INDEX ix_outbox_pending ON {S}.outbox (id) WHERE published_at IS NULL;

CREATE FUNCTION {S}.forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only', TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'P0001';
END $$;

CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON {S}.audit_entries
    FOR EACH ROW EXECUTE FUNCTION {S}.forbid_change();
CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON {S}.decisions
    FOR EACH ROW EXECUTE FUNCTION {S}.forbid_change();
"""

DOWNGRADE = f"""
DROP TABLE IF EXISTS {S}.outbox, {S}.decisions, {S}.comments, {S}.audit_entries,
    {S}.dossiers CASCADE;
DROP FUNCTION IF EXISTS {S}.forbid_change();
"""


def upgrade() -> None:
    for statement in sql_statements(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements(DOWNGRADE):
        op.execute(statement)
