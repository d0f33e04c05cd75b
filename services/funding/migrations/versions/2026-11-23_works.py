"""works and construction debt: idempotent obligations, mirrored corrections, valuation rates that
are never changed once used

Revision ID: f0005_works
Revises: f0002_ledger
Create Date: 2026-11-23

- `work_obligations` gains `idempotency_key` (unique) and `body_hash`, so a repeated
  `POST /v1/works/{id}/obligations` with the same Idempotency-Key answers the first result;
- a correction of an obligation (a row with `reverses`) must mirror it: same work, same basis,
  same date, the opposite amount, and it may not correct a correction (trigger);
- a valuation rate used by a posting keeps its kind, province, start and rate for ever, and its
  period may only be narrowed while every posting that used it stays inside (trigger; the foreign
  key from `transfers.rate_id` already refuses deleting it).
"""

from collections.abc import Sequence

from alembic import op

from shared.db import sql_statements

revision: str = "f0005_works"
down_revision: str | None = "f0002_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "funding"

UPGRADE = f"""
ALTER TABLE {S}.work_obligations ADD COLUMN idempotency_key text, ADD COLUMN body_hash bytea;
CREATE UNIQUE INDEX uq_work_obligations_idempotency_key
    ON {S}.work_obligations (idempotency_key);
CREATE INDEX ix_works_unit ON {S}.works (unit_id, id);

CREATE FUNCTION {S}.check_obligation_correction() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o {S}.work_obligations;
BEGIN
    SELECT * INTO o FROM {S}.work_obligations WHERE id = NEW.reverses;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'corrected obligation % does not exist', NEW.reverses
            USING ERRCODE = 'P0002';
    END IF;
    IF o.reverses IS NOT NULL THEN
        RAISE EXCEPTION 'a correction cannot be corrected' USING ERRCODE = 'P0003';
    END IF;
    IF NEW.work_id <> o.work_id OR NEW.basis <> o.basis OR NEW.amount <> -o.amount
       OR NEW.date <> o.date THEN
        RAISE EXCEPTION 'a correction must mirror obligation %', o.id USING ERRCODE = 'P0004';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER work_obligations_correction_mirrors BEFORE INSERT ON {S}.work_obligations
    FOR EACH ROW WHEN (NEW.reverses IS NOT NULL)
    EXECUTE FUNCTION {S}.check_obligation_correction();

CREATE FUNCTION {S}.keep_used_rate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM {S}.transfers WHERE rate_id = OLD.id) THEN
        RETURN NEW;
    END IF;
    IF NEW.rate_vnd <> OLD.rate_vnd OR NEW.kind <> OLD.kind
       OR NEW.province_code <> OLD.province_code OR NEW.valid_from <> OLD.valid_from
       OR EXISTS (SELECT 1 FROM {S}.transfers WHERE rate_id = OLD.id
                   AND NEW.valid_to IS NOT NULL AND value_date > NEW.valid_to) THEN
        RAISE EXCEPTION 'valuation rate % is used by postings: add a new rate instead', OLD.id
            USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER valuation_rates_keep_used BEFORE UPDATE ON {S}.valuation_rates
    FOR EACH ROW EXECUTE FUNCTION {S}.keep_used_rate();
"""

DOWNGRADE = f"""
DROP TRIGGER IF EXISTS valuation_rates_keep_used ON {S}.valuation_rates;
DROP FUNCTION IF EXISTS {S}.keep_used_rate();
DROP TRIGGER IF EXISTS work_obligations_correction_mirrors ON {S}.work_obligations;
DROP FUNCTION IF EXISTS {S}.check_obligation_correction();
DROP INDEX IF EXISTS {S}.ix_works_unit;
DROP INDEX IF EXISTS {S}.uq_work_obligations_idempotency_key;
ALTER TABLE {S}.work_obligations DROP COLUMN IF EXISTS idempotency_key,
    DROP COLUMN IF EXISTS body_hash
"""


def upgrade() -> None:
    for statement in sql_statements(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements(DOWNGRADE):
        op.execute(statement)
