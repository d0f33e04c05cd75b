"""hierarchy rollups: what every report scope holds per month, source and stage, so a province
report reads a thousand rows instead of every commune's monthly aggregates

Revision ID: f0006_rollups
Revises: f0004_reports, f0005_works
Create Date: 2026-11-23

A report scope is a unit and everything below it, named `L:<path>` for a legacy unit (the
units whose `path` is that path or below it) and `C:<path>` for a unit of the 2025 edition
(the units whose `current_path` is that path or below it, which brings in the legacy units that
passed into it, and, for a province, the legacy districts of the legacy provinces that passed
into it, since districts have no successor of their own). This is the rule the reports applied
by path prefix at read time; it now lives in one place, the view `funding.unit_scopes_wanted`.

- `funding.unit_scopes` (unit, scope) materialises the rule: a legacy commune belongs to five
  scopes (`L:38`, `L:38.395`, `L:38.395.15592`, `C:38`, `C:38.15601`). It is recomputed by a
  statement trigger on `funding.units` whenever a reference load changes the units; if the
  scopes then differ, `funding.rollup` is rebuilt from the transfers (a rare, heavy step).
- `funding.rollup` holds, per (scope, month, source, stage, in-kind kind), the same signed sums
  as `funding.monthly`, plus `pledged`: the net movement of the `pledged` accounts (a pledge adds,
  a receipt against it subtracts, reversals mirror), so the pledges outstanding at a month end
  are a sum over the same rows and reports no longer read `funding.account_monthly`. Works are
  not in its key (by work and by criterion read `funding.monthly` per work, through a partial
  index), which keeps a scope to months x sources x stages rows, about a thousand.
- A statement trigger on `funding.transfers` feeds it in the same transaction as the postings:
  one set-based upsert per INSERT or COPY, in key order so concurrent postings do not deadlock.
  TRUNCATE of the transfers (tests, benchmarks; the ledger itself is append-only) empties it.
"""

from collections.abc import Sequence

from alembic import op

from shared.db import sql_statements

revision: str = "f0006_rollups"
down_revision: str | tuple[str, ...] | None = ("f0004_reports", "f0005_works")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "funding"

# The transfers' contribution to the rollup, from a set of rows ({rows}): summed per unit first
# (many postings share a unit and month), then spread over the unit's scopes and summed again.
_ROLLUP = """
    WITH per_unit AS (
        SELECT unit_id, date_trunc('month', value_date)::date AS month, source_code, stage,
               coalesce(in_kind_kind, '') AS in_kind_kind,
               sum(sign * amount) AS amount, coalesce(sum(sign * quantity), 0) AS quantity,
               coalesce(sum(sign * households), 0) AS households, sum(sign) AS transfers,
               sum(CASE WHEN debit_role = 'pledged' THEN amount
                        WHEN credit_role = 'pledged' THEN -amount ELSE 0 END) AS pledged
          FROM {rows}
         GROUP BY 1, 2, 3, 4, 5
    )
    SELECT s.scope, p.month, p.source_code, p.stage, p.in_kind_kind,
           sum(p.amount)::bigint, sum(p.quantity), sum(p.households)::bigint,
           sum(p.transfers)::bigint, sum(p.pledged)::bigint
      FROM per_unit p JOIN {S}.unit_scopes s ON s.unit_id = p.unit_id
     GROUP BY 1, 2, 3, 4, 5
     ORDER BY 1, 2, 3, 4, 5
"""

_COLUMNS = (
    "scope, month, source_code, stage, in_kind_kind, amount, quantity, households, transfers,"
    " pledged"
)

UPGRADE = f"""
-- Every (unit, scope) pair: the unit counts in the report of every unit whose scope this is.
-- A scope's path is a prefix of the unit's path (legacy scopes) or of its current path (2025
-- scopes), on a dot boundary; a legacy district without a successor of its own takes its
-- province's current path, so it counts for the 2025 scopes above its province's successor.
CREATE VIEW {S}.unit_scopes_wanted AS
WITH paths AS (
    SELECT u.id, string_to_array(u.path, '.') AS legacy,
           string_to_array(coalesce(u.current_path, p.current_path), '.') AS current
      FROM {S}.units u
      LEFT JOIN {S}.units p ON u.edition = 'legacy' AND u.level = 'district'
           AND u.current_path IS NULL
           AND p.edition = 'legacy' AND p.level = 'province' AND p.code = u.province_code
),
prefixes AS (
    SELECT id, e.edition, array_to_string(e.parts[1:n], '.') AS prefix
      FROM paths
     CROSS JOIN LATERAL (VALUES ('legacy', legacy), ('2025', current)) AS e (edition, parts)
     CROSS JOIN LATERAL unnest(e.parts) WITH ORDINALITY AS x (part, n)
),
keys AS (
    SELECT DISTINCT edition, CASE edition WHEN '2025' THEN current_path ELSE path END AS path
      FROM {S}.units
     WHERE edition = 'legacy' OR current_path IS NOT NULL
)
SELECT x.id AS unit_id,
       (CASE k.edition WHEN '2025' THEN 'C:' ELSE 'L:' END) || k.path AS scope
  FROM prefixes x JOIN keys k ON k.edition = x.edition AND k.path = x.prefix;

CREATE TABLE {S}.unit_scopes (
    unit_id bigint NOT NULL,
    scope text NOT NULL,
    PRIMARY KEY (unit_id, scope)
);
CREATE INDEX ix_unit_scopes_scope ON {S}.unit_scopes (scope, unit_id);

-- What every report reads: signed sums per scope, month, source, stage and in-kind kind.
CREATE TABLE {S}.rollup (
    scope text NOT NULL,
    month date NOT NULL,
    source_code text NOT NULL,
    stage text NOT NULL,
    in_kind_kind text NOT NULL DEFAULT '',
    amount bigint NOT NULL,
    quantity numeric(24, 3) NOT NULL,
    households bigint NOT NULL,
    transfers bigint NOT NULL,
    pledged bigint NOT NULL,
    PRIMARY KEY (scope, month, source_code, stage, in_kind_kind)
);

-- the works' rows of the monthly aggregates, for the reports by work and by criterion
CREATE INDEX ix_monthly_work ON {S}.monthly (work_id, month) WHERE work_id <> 0;

CREATE FUNCTION {S}.rollup_transfers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {S}.rollup AS r ({_COLUMNS})
    {_ROLLUP.format(rows="new_rows", S=S)}
    ON CONFLICT (scope, month, source_code, stage, in_kind_kind) DO UPDATE
       SET amount = r.amount + excluded.amount,
           quantity = r.quantity + excluded.quantity,
           households = r.households + excluded.households,
           transfers = r.transfers + excluded.transfers,
           pledged = r.pledged + excluded.pledged;
    RETURN NULL;
END $$;

CREATE TRIGGER transfers_rollup AFTER INSERT ON {S}.transfers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {S}.rollup_transfers();

CREATE FUNCTION {S}.clear_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {S}.rollup;
    RETURN NULL;
END $$;

CREATE TRIGGER transfers_truncate_rollup AFTER TRUNCATE ON {S}.transfers
    FOR EACH STATEMENT EXECUTE FUNCTION {S}.clear_rollup();

-- A reference load that moves units between scopes rebuilds the scopes, then the rollup.
CREATE FUNCTION {S}.refresh_unit_scopes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT unit_id, scope FROM {S}.unit_scopes_wanted
                   EXCEPT SELECT unit_id, scope FROM {S}.unit_scopes)
       AND NOT EXISTS (SELECT unit_id, scope FROM {S}.unit_scopes
                       EXCEPT SELECT unit_id, scope FROM {S}.unit_scopes_wanted) THEN
        RETURN NULL;
    END IF;
    DELETE FROM {S}.unit_scopes;
    INSERT INTO {S}.unit_scopes (unit_id, scope)
        SELECT unit_id, scope FROM {S}.unit_scopes_wanted ORDER BY 1, 2;
    DELETE FROM {S}.rollup;
    INSERT INTO {S}.rollup ({_COLUMNS})
    {_ROLLUP.format(rows=S + ".transfers", S=S)};
    RETURN NULL;
END $$;

CREATE TRIGGER units_scopes AFTER INSERT OR UPDATE OR DELETE ON {S}.units
    FOR EACH STATEMENT EXECUTE FUNCTION {S}.refresh_unit_scopes();

-- the units and transfers already there
INSERT INTO {S}.unit_scopes (unit_id, scope)
SELECT unit_id, scope FROM {S}.unit_scopes_wanted ORDER BY 1, 2;

-- (the rollup of the transfers already there)
INSERT INTO {S}.rollup ({_COLUMNS})
{_ROLLUP.format(rows=S + ".transfers", S=S)}
"""

DOWNGRADE = f"""
DROP TRIGGER IF EXISTS units_scopes ON {S}.units;
DROP TRIGGER IF EXISTS transfers_truncate_rollup ON {S}.transfers;
DROP TRIGGER IF EXISTS transfers_rollup ON {S}.transfers;
DROP FUNCTION IF EXISTS {S}.refresh_unit_scopes(), {S}.clear_rollup(), {S}.rollup_transfers();
DROP INDEX IF EXISTS {S}.ix_monthly_work;
DROP TABLE IF EXISTS {S}.rollup, {S}.unit_scopes;
DROP VIEW IF EXISTS {S}.unit_scopes_wanted
"""


def upgrade() -> None:
    for statement in sql_statements(UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in sql_statements(DOWNGRADE):
        op.execute(statement)
