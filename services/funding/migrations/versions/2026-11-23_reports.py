"""monthly movements of the pledged accounts, for the pledges still outstanding in reports

Revision ID: f0004_reports
Revises: f0002_ledger
Create Date: 2026-11-23

`funding.monthly` keeps amounts by stage; it cannot tell a receipt that settles a pledge from
one that does not, so the pledges still outstanding (the balance of the `pledged` accounts) are
not in it. This adds the debits and credits of the `pledged` accounts per month (the table
could take every account's; only these are read), maintained like
`funding.monthly` by a statement-level trigger in the same transaction as the postings, and
filled once from the transfers already there. A balance at any month end is then a sum over at
most one row per account and month, never a scan of the transfers.
"""

from collections.abc import Sequence

from alembic import op

from shared.db import sql_statements

revision: str = "f0004_reports"
down_revision: str | None = "f0002_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "funding"

# the sides of the postings that move a `pledged` account, as (account, month, debit, credit):
# pledges, receipts against them, and their reversals (a tenth of the postings, typically; the
# other accounts' balances are not read by any report, and aggregating them too doubled the
# cost of a bulk COPY)
_MOVEMENTS = """
    SELECT account_id, month, sum(debit)::bigint, sum(credit)::bigint
      FROM (SELECT debit_account_id AS account_id, date_trunc('month', value_date)::date AS month,
                   amount AS debit, 0::bigint AS credit
              FROM {rows} WHERE debit_role = 'pledged'
            UNION ALL
            SELECT credit_account_id, date_trunc('month', value_date)::date, 0::bigint, amount
              FROM {rows} WHERE credit_role = 'pledged') x
     GROUP BY 1, 2
     ORDER BY 1, 2
"""

UPGRADE = f"""
-- The foreign key also makes `TRUNCATE funding.accounts CASCADE` empty this table.
CREATE TABLE {S}.account_monthly (
    account_id bigint NOT NULL REFERENCES {S}.accounts (id),
    month date NOT NULL,
    debits bigint NOT NULL,
    credits bigint NOT NULL,
    PRIMARY KEY (account_id, month)
);

CREATE FUNCTION {S}.aggregate_account_movements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {S}.account_monthly AS m (account_id, month, debits, credits)
    {_MOVEMENTS.format(rows="new_rows")}
    ON CONFLICT (account_id, month) DO UPDATE
       SET debits = m.debits + excluded.debits,
           credits = m.credits + excluded.credits;
    RETURN NULL;
END $$;

CREATE TRIGGER transfers_account_monthly AFTER INSERT ON {S}.transfers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {S}.aggregate_account_movements();

-- what was posted before this migration
INSERT INTO {S}.account_monthly (account_id, month, debits, credits)
{_MOVEMENTS.format(rows=S + ".transfers")}
"""

DOWNGRADE = f"""
DROP TRIGGER IF EXISTS transfers_account_monthly ON {S}.transfers;
DROP FUNCTION IF EXISTS {S}.aggregate_account_movements();
DROP TABLE IF EXISTS {S}.account_monthly
"""


def upgrade() -> None:
    for statement in sql_statements(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements(DOWNGRADE):
        op.execute(statement)
