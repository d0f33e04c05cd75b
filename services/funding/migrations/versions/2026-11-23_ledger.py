"""the funding ledger: sources, units, accounts, immutable transfers, monthly aggregates, works,
valuation rates, import jobs

Revision ID: f0002_ledger
Revises: f0001_schema
Create Date: 2026-11-23

Invariants held by the database itself, not only by Python:
- a transfer is one debit, one credit and one positive integer amount (it balances by
  construction), between two accounts of the same unit and source whose roles fit its kind
  (composite foreign keys carry unit, source and role; a CHECK lists the allowed role pairs);
- transfers, accounts and work obligations are append-only (UPDATE and DELETE raise);
- a reversal mirrors exactly the transfer it reverses (trigger), and a transfer is reversed at
  most once (unique index);
- the monthly aggregates are maintained by a statement-level trigger in the same transaction
  as the postings (one set-based upsert per INSERT or COPY statement).
"""

from collections.abc import Sequence

from alembic import op

from shared.db import sql_statements

revision: str = "f0002_ledger"
down_revision: str | None = "f0001_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "funding"

UPGRADE = f"""
CREATE TABLE {S}.reference_loads (
    dataset text PRIMARY KEY,
    checksum text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {S}.source_groups (
    code text PRIMARY KEY,
    name_vi text NOT NULL,
    name_en text NOT NULL,
    sort smallint NOT NULL
);

CREATE TABLE {S}.sources (
    code text PRIMARY KEY CONSTRAINT ck_sources_code CHECK (code ~ '^[A-Z]+(-[A-Z]+)?$'),
    group_code text NOT NULL REFERENCES {S}.source_groups (code),
    name_vi text NOT NULL,
    name_en text NOT NULL,
    in_kind boolean NOT NULL DEFAULT false,
    valid_from date,
    valid_to date,
    sort smallint NOT NULL,
    taxonomy_version text NOT NULL
);

CREATE TABLE {S}.in_kind_kinds (
    code text PRIMARY KEY,
    name_vi text NOT NULL,
    name_en text NOT NULL,
    quantity_unit text NOT NULL,
    quantity_unit_vi text NOT NULL,
    sort smallint NOT NULL
);

-- The national administrative units as this service needs them: to resolve a code at a date,
-- and to roll amounts up by path. `current_path` is the path of the unit a legacy commune
-- passed into in 2025 (its primary successor), so post-2025 units see earlier history.
CREATE TABLE {S}.units (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code text NOT NULL,
    edition text NOT NULL CONSTRAINT ck_units_edition CHECK (edition IN ('legacy', '2025')),
    level text NOT NULL
        CONSTRAINT ck_units_level CHECK (level IN ('province', 'district', 'commune')),
    name text NOT NULL,
    province_code text NOT NULL,
    path text NOT NULL,
    current_path text,
    valid_from date,
    valid_to date,
    CONSTRAINT uq_units_edition_code UNIQUE (edition, code)
);
CREATE INDEX ix_units_code ON {S}.units (code);
CREATE INDEX ix_units_path ON {S}.units (path text_pattern_ops);
CREATE INDEX ix_units_current_path ON {S}.units (current_path text_pattern_ops);

CREATE TABLE {S}.works (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id bigint NOT NULL REFERENCES {S}.units (id),
    code text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    set_code text,
    criterion_number smallint CONSTRAINT ck_works_criterion CHECK (criterion_number > 0),
    planned_vnd bigint NOT NULL DEFAULT 0 CONSTRAINT ck_works_planned CHECK (planned_vnd >= 0),
    started_on date,
    note text,
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_works_unit_code UNIQUE (unit_id, code),
    CONSTRAINT ck_works_criterion_set CHECK ((criterion_number IS NULL) OR (set_code IS NOT NULL))
);

-- What a unit owes on a work: contract values and accepted volumes (nghiệm thu). Append-only;
-- a correction is a row with the opposite amount that points at the row it corrects.
CREATE TABLE {S}.work_obligations (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_id bigint NOT NULL REFERENCES {S}.works (id),
    basis text NOT NULL CONSTRAINT ck_work_obligations_basis
        CHECK (basis IN ('contract', 'acceptance')),
    amount bigint NOT NULL,
    date date NOT NULL,
    document text,
    reverses bigint REFERENCES {S}.work_obligations (id),
    recorded_by text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_work_obligations_sign CHECK (
        (reverses IS NULL AND amount > 0) OR (reverses IS NOT NULL AND amount < 0))
);
CREATE UNIQUE INDEX uq_work_obligations_reverses ON {S}.work_obligations (reverses);
CREATE INDEX ix_work_obligations_work ON {S}.work_obligations (work_id, date);

-- Money value of in-kind gifts per unit of quantity; province_code NULL is the national default.
CREATE TABLE {S}.valuation_rates (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    province_code text NOT NULL DEFAULT '',
    kind text NOT NULL REFERENCES {S}.in_kind_kinds (code),
    valid_from date NOT NULL,
    valid_to date,
    rate_vnd bigint NOT NULL CONSTRAINT ck_valuation_rates_rate CHECK (rate_vnd > 0),
    verified boolean NOT NULL DEFAULT false,
    source_note text,
    recorded_by text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_valuation_rates UNIQUE (province_code, kind, valid_from),
    CONSTRAINT ck_valuation_rates_validity CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

-- Accounts per (unit, programme period, purpose, source, role[, work]).
--   contributor: who gives (the contra account of the source); pledged: committed, not yet
--   received; fund: received and available; work: disbursed to a work; settled: settled on it.
CREATE TABLE {S}.accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id bigint NOT NULL REFERENCES {S}.units (id),
    period text NOT NULL CONSTRAINT ck_accounts_period CHECK (period IN ('2021-2025', '2026-2030')),
    purpose text NOT NULL DEFAULT 'ntm',
    source_code text NOT NULL REFERENCES {S}.sources (code),
    role text NOT NULL CONSTRAINT ck_accounts_role
        CHECK (role IN ('contributor', 'pledged', 'fund', 'work', 'settled')),
    work_id bigint REFERENCES {S}.works (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_accounts_work CHECK ((work_id IS NOT NULL) = (role IN ('work', 'settled'))),
    CONSTRAINT uq_accounts_key
        UNIQUE NULLS NOT DISTINCT (unit_id, period, purpose, source_code, role, work_id),
    CONSTRAINT uq_accounts_posting UNIQUE (id, unit_id, source_code, role)
);

CREATE TABLE {S}.transfers (
    id uuid PRIMARY KEY,
    external_id text NOT NULL,
    body_hash bytea NOT NULL,
    kind text NOT NULL CONSTRAINT ck_transfers_kind
        CHECK (kind IN ('pledge', 'receipt', 'disbursement', 'settlement', 'reversal')),
    -- the stage the amount counts in (a reversal counts, negatively, in its original's stage)
    stage text NOT NULL CONSTRAINT ck_transfers_stage
        CHECK (stage IN ('pledge', 'receipt', 'disbursement', 'settlement')),
    sign smallint NOT NULL,
    unit_id bigint NOT NULL,
    source_code text NOT NULL,
    debit_account_id bigint NOT NULL,
    debit_role text NOT NULL,
    credit_account_id bigint NOT NULL,
    credit_role text NOT NULL,
    amount bigint NOT NULL CONSTRAINT ck_transfers_amount CHECK (amount > 0),
    value_date date NOT NULL,
    period text NOT NULL,
    work_id bigint,
    pledge_id uuid REFERENCES {S}.transfers (id),
    reverses uuid REFERENCES {S}.transfers (id),
    in_kind_kind text REFERENCES {S}.in_kind_kinds (code),
    quantity numeric(20, 3),
    households integer CONSTRAINT ck_transfers_households CHECK (households >= 0),
    rate_id bigint REFERENCES {S}.valuation_rates (id),
    rate_vnd bigint,
    memo text,
    recorded_by text,
    import_job_id uuid,
    posted_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_transfers_external_id UNIQUE (external_id),
    CONSTRAINT fk_transfers_debit FOREIGN KEY (debit_account_id, unit_id, source_code, debit_role)
        REFERENCES {S}.accounts (id, unit_id, source_code, role),
    CONSTRAINT fk_transfers_credit
        FOREIGN KEY (credit_account_id, unit_id, source_code, credit_role)
        REFERENCES {S}.accounts (id, unit_id, source_code, role),
    CONSTRAINT ck_transfers_two_sides CHECK (debit_account_id <> credit_account_id),
    CONSTRAINT ck_transfers_roles CHECK (
        (stage = 'pledge' AND sign = 1 AND debit_role = 'pledged' AND credit_role = 'contributor')
        OR (stage = 'receipt' AND sign = 1 AND debit_role = 'fund'
            AND credit_role IN ('contributor', 'pledged'))
        OR (stage = 'disbursement' AND sign = 1 AND debit_role = 'work' AND credit_role = 'fund')
        OR (stage = 'settlement' AND sign = 1 AND debit_role = 'settled' AND credit_role = 'work')
        OR (sign = -1 AND kind = 'reversal')
    ),
    CONSTRAINT ck_transfers_reversal CHECK (
        (kind = 'reversal') = (reverses IS NOT NULL)
        AND (kind = 'reversal') = (sign = -1)
        AND (kind = 'reversal' OR stage = kind)
    ),
    CONSTRAINT ck_transfers_pledge CHECK (
        pledge_id IS NULL OR (kind = 'receipt' AND credit_role = 'pledged')),
    CONSTRAINT ck_transfers_in_kind CHECK (
        (in_kind_kind IS NULL) = (quantity IS NULL)
        AND (quantity IS NULL OR quantity > 0)
        AND (rate_vnd IS NULL OR in_kind_kind IS NOT NULL)),
    CONSTRAINT ck_transfers_work CHECK (
        (work_id IS NOT NULL) = (stage IN ('disbursement', 'settlement'))),
    CONSTRAINT ck_transfers_period CHECK (period IN ('2021-2025', '2026-2030'))
);
CREATE UNIQUE INDEX uq_transfers_reverses ON {S}.transfers (reverses);
CREATE INDEX ix_transfers_unit_date ON {S}.transfers (unit_id, value_date);
CREATE INDEX ix_transfers_pledge ON {S}.transfers (pledge_id) WHERE pledge_id IS NOT NULL;
CREATE INDEX ix_transfers_work ON {S}.transfers (work_id) WHERE work_id IS NOT NULL;

-- Monthly aggregates per (unit, month, source, stage, in-kind kind, work): what every report
-- reads. Signed sums, so a reversal removes its amount (and quantity) from every report.
CREATE TABLE {S}.monthly (
    unit_id bigint NOT NULL,
    month date NOT NULL,
    source_code text NOT NULL,
    stage text NOT NULL,
    in_kind_kind text NOT NULL DEFAULT '',
    work_id bigint NOT NULL DEFAULT 0,
    amount bigint NOT NULL,
    quantity numeric(24, 3) NOT NULL,
    households bigint NOT NULL,
    transfers bigint NOT NULL,
    PRIMARY KEY (unit_id, month, source_code, stage, in_kind_kind, work_id)
);

-- the same shape as criteria.import_jobs, so one job runner (shared) serves both services
CREATE TABLE {S}.import_jobs (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    status text NOT NULL CONSTRAINT ck_import_jobs_status
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    dry_run boolean NOT NULL,
    mode text NOT NULL CONSTRAINT ck_import_jobs_mode CHECK (mode IN ('atomic', 'partial')),
    total integer NOT NULL,
    processed integer NOT NULL,
    created integer NOT NULL,
    updated integer NOT NULL,
    ignored integer NOT NULL,
    rejected integer NOT NULL,
    errors jsonb NOT NULL DEFAULT '[]',
    errors_truncated boolean NOT NULL,
    problem jsonb,
    recorded_by text,
    request_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION {S}.forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: post a reversal instead', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'P0001';
END $$;

CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON {S}.transfers
    FOR EACH ROW EXECUTE FUNCTION {S}.forbid_change();
CREATE TRIGGER accounts_append_only BEFORE UPDATE OR DELETE ON {S}.accounts
    FOR EACH ROW EXECUTE FUNCTION {S}.forbid_change();
CREATE TRIGGER work_obligations_append_only BEFORE UPDATE OR DELETE ON {S}.work_obligations
    FOR EACH ROW EXECUTE FUNCTION {S}.forbid_change();

-- A reversal must mirror its original: same unit, source, amount, date, quantity; sides swapped;
-- counted in the original's stage; and a reversal itself is never reversed.
CREATE FUNCTION {S}.check_reversal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o {S}.transfers;
BEGIN
    SELECT * INTO o FROM {S}.transfers WHERE id = NEW.reverses;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reversed transfer % does not exist', NEW.reverses USING ERRCODE = 'P0002';
    END IF;
    IF o.kind = 'reversal' THEN
        RAISE EXCEPTION 'a reversal cannot be reversed' USING ERRCODE = 'P0003';
    END IF;
    IF NEW.debit_account_id <> o.credit_account_id OR NEW.credit_account_id <> o.debit_account_id
       OR NEW.amount <> o.amount OR NEW.stage <> o.stage OR NEW.value_date <> o.value_date
       OR NEW.unit_id <> o.unit_id OR NEW.source_code <> o.source_code
       OR NEW.quantity IS DISTINCT FROM o.quantity
       OR NEW.households IS DISTINCT FROM o.households
       OR NEW.in_kind_kind IS DISTINCT FROM o.in_kind_kind
       OR NEW.work_id IS DISTINCT FROM o.work_id THEN
        RAISE EXCEPTION 'a reversal must mirror transfer %', o.id USING ERRCODE = 'P0004';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER transfers_reversal_mirrors BEFORE INSERT ON {S}.transfers
    FOR EACH ROW WHEN (NEW.reverses IS NOT NULL) EXECUTE FUNCTION {S}.check_reversal();

CREATE FUNCTION {S}.aggregate_transfers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {S}.monthly AS m
        (unit_id, month, source_code, stage, in_kind_kind, work_id,
         amount, quantity, households, transfers)
    SELECT unit_id, date_trunc('month', value_date)::date, source_code, stage,
           coalesce(in_kind_kind, ''), coalesce(work_id, 0),
           sum(sign * amount), coalesce(sum(sign * quantity), 0),
           coalesce(sum(sign * households), 0), sum(sign)
      FROM new_rows
     GROUP BY 1, 2, 3, 4, 5, 6
     ORDER BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (unit_id, month, source_code, stage, in_kind_kind, work_id) DO UPDATE
       SET amount = m.amount + excluded.amount,
           quantity = m.quantity + excluded.quantity,
           households = m.households + excluded.households,
           transfers = m.transfers + excluded.transfers;
    RETURN NULL;
END $$;
CREATE TRIGGER transfers_aggregate AFTER INSERT ON {S}.transfers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {S}.aggregate_transfers();
"""

DOWNGRADE = f"""
DROP TABLE IF EXISTS {S}.import_jobs, {S}.monthly, {S}.transfers, {S}.accounts,
    {S}.valuation_rates, {S}.work_obligations, {S}.works, {S}.units, {S}.in_kind_kinds,
    {S}.sources, {S}.source_groups, {S}.reference_loads CASCADE;
DROP FUNCTION IF EXISTS {S}.aggregate_transfers(), {S}.check_reversal(), {S}.forbid_change();
"""


def upgrade() -> None:
    for statement in sql_statements(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements(DOWNGRADE):
        op.execute(statement)
