"""the posting function: one round trip opens the two accounts (if new) and inserts the transfer

Revision ID: f0007_posting
Revises: f0006_rollups
Create Date: 2026-11-23

`funding.account_id(...)` returns an account's id, opening it on first use (safe under
concurrency: each statement of a plpgsql function sees what other transactions committed).
`funding.post_transfer(p jsonb)` posts one transfer given its checked values, idempotent on
the external id: it answers (id, created, posted_at), `created` false when the id was taken.
It also drops `funding.account_monthly` (f0004), which nothing reads since the rollups of f0006;
a downgrade does not bring it back.
"""

from collections.abc import Sequence

from alembic import op

from shared.db import sql_statements

revision: str = "f0007_posting"
down_revision: str | None = "f0006_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "funding"

UPGRADE = f"""
-- reports read funding.rollup since f0006: the per-account movements had no reader left
DROP TRIGGER transfers_account_monthly ON {S}.transfers;
DROP FUNCTION {S}.aggregate_account_movements();
DROP TABLE {S}.account_monthly;

CREATE FUNCTION {S}.account_id(
    p_unit bigint, p_period text, p_purpose text, p_source text, p_role text, p_work bigint
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
    SELECT id INTO v FROM {S}.accounts
     WHERE unit_id = p_unit AND period = p_period AND purpose = p_purpose
       AND source_code = p_source AND role = p_role AND work_id IS NOT DISTINCT FROM p_work;
    IF FOUND THEN
        RETURN v;
    END IF;
    INSERT INTO {S}.accounts (unit_id, period, purpose, source_code, role, work_id)
    VALUES (p_unit, p_period, p_purpose, p_source, p_role, p_work)
    ON CONFLICT ON CONSTRAINT uq_accounts_key DO NOTHING
    RETURNING id INTO v;
    IF v IS NULL THEN
        SELECT id INTO STRICT v FROM {S}.accounts
         WHERE unit_id = p_unit AND period = p_period AND purpose = p_purpose
           AND source_code = p_source AND role = p_role AND work_id IS NOT DISTINCT FROM p_work;
    END IF;
    RETURN v;
END $$;

CREATE FUNCTION {S}.post_transfer(p jsonb)
RETURNS TABLE (transfer_id uuid, created boolean, posted_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_unit bigint := (p->>'unit_id')::bigint;
    v_work bigint := (p->>'work_id')::bigint;
    v_debit bigint;
    v_credit bigint;
    v_id uuid;
    v_at timestamptz;
BEGIN
    v_debit := {S}.account_id(v_unit, p->>'period', p->>'purpose', p->>'source_code',
        p->>'debit_role', CASE WHEN p->>'debit_role' IN ('work', 'settled') THEN v_work END);
    v_credit := {S}.account_id(v_unit, p->>'period', p->>'purpose', p->>'source_code',
        p->>'credit_role', CASE WHEN p->>'credit_role' IN ('work', 'settled') THEN v_work END);
    INSERT INTO {S}.transfers AS t (id, external_id, body_hash, kind, stage, sign, unit_id,
        source_code, debit_account_id, debit_role, credit_account_id, credit_role, amount,
        value_date, period, work_id, pledge_id, reverses, in_kind_kind, quantity, households,
        rate_id, rate_vnd, memo, recorded_by)
    VALUES ((p->>'id')::uuid, p->>'external_id', decode(p->>'body_hash', 'hex'), p->>'kind',
        p->>'stage', 1, v_unit, p->>'source_code', v_debit, p->>'debit_role', v_credit,
        p->>'credit_role', (p->>'amount')::bigint, (p->>'value_date')::date, p->>'period',
        v_work, (p->>'pledge_id')::uuid, NULL, p->>'in_kind_kind', (p->>'quantity')::numeric,
        (p->>'households')::integer, (p->>'rate_id')::bigint, (p->>'rate_vnd')::bigint,
        p->>'memo', p->>'recorded_by')
    ON CONFLICT ON CONSTRAINT uq_transfers_external_id DO NOTHING
    RETURNING t.id, t.posted_at INTO v_id, v_at;
    IF v_id IS NOT NULL THEN
        RETURN QUERY SELECT v_id, true, v_at;
    ELSE
        RETURN QUERY SELECT t.id, false, t.posted_at FROM {S}.transfers t
                      WHERE t.external_id = p->>'external_id';
    END IF;
END $$;
"""

DOWNGRADE = f"""
DROP FUNCTION {S}.post_transfer(jsonb);
DROP FUNCTION {S}.account_id(bigint, text, text, text, text, bigint);
"""


def upgrade() -> None:
    for statement in sql_statements(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements(DOWNGRADE):
        op.execute(statement)
