"""SQL of the bulk import of transfers: the reference data the per-row checks use, the staging
table, the set-wise checks, the accounts, and the one insert.

The staging statements run on the asyncpg connection inside the session's transaction
(`raw_connection`), so COPY, the checks and the insert share one transaction; the temporary
tables vanish with it (ON COMMIT DROP)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from services.funding.domain.ledger import sides
from services.funding.models import AccountRole, TransferKind
from shared.db import raw_connection

StageRecord = tuple[
    int,  # line
    str,  # external_id
    bytes,  # body_hash: the fingerprint of the normalised row (as POST /v1/transfers)
    str | None,  # reject: the first rule of the per-row checks the row breaks
    str,  # type
    str,  # unit_code
    int | None,  # unit_id
    str | None,  # province_code
    str,  # source_code
    bool,  # source_in_kind
    int | None,  # amount
    date,  # value_date
    str,  # period
    str | None,  # in_kind_kind
    Decimal | None,  # quantity
    str | None,  # quantity_unit
    int | None,  # households
    str | None,  # work
    str | None,  # pledge
    str,  # purpose
    str | None,  # memo
]

STAGE_COLUMNS = (
    "line",
    "external_id",
    "body_hash",
    "reject",
    "type",
    "unit_code",
    "unit_id",
    "province_code",
    "source_code",
    "source_in_kind",
    "amount",
    "value_date",
    "period",
    "in_kind_kind",
    "quantity",
    "quantity_unit",
    "households",
    "work",
    "pledge",
    "purpose",
    "memo",
)

_PREPARE = (
    "SET LOCAL work_mem = '256MB';"
    "CREATE TEMP TABLE transfer_stage (line int NOT NULL, external_id text NOT NULL,"
    " body_hash bytea NOT NULL, reject text, type text NOT NULL, unit_code text NOT NULL,"
    " unit_id bigint, province_code text, source_code text NOT NULL,"
    " source_in_kind boolean NOT NULL, amount bigint, value_date date NOT NULL,"
    " period text NOT NULL, in_kind_kind text, quantity numeric(20, 3), quantity_unit text,"
    " households integer, work text, pledge text, purpose text NOT NULL, memo text)"
    " ON COMMIT DROP"
)

BIGINT_MAX = 2**63 - 1


def _case(column: str, roles: dict[tuple[str, bool], AccountRole]) -> str:
    """A CASE over (type, from a pledge) giving the role `sides()` assigns."""
    arms = " ".join(
        f"WHEN m.type = '{kind}'{' AND m.pledge_found_id IS NOT NULL' if pledged else ''}"
        f" THEN '{role.value}'"
        for (kind, pledged), role in sorted(roles.items(), key=lambda kv: not kv[0][1])
    )
    return f"CASE {arms} END AS {column}"


def _role_columns() -> str:
    """debit_role and credit_role from the posting rules of the domain (one source of truth)."""
    debit: dict[tuple[str, bool], AccountRole] = {}
    credit: dict[tuple[str, bool], AccountRole] = {}
    for kind in TransferKind:
        if kind is TransferKind.reversal:
            continue
        for pledged in (True, False):
            if pledged and kind is not TransferKind.receipt:
                continue
            d, c = sides(kind, from_pledge=pledged)
            debit[(kind.value, pledged)] = d
            credit[(kind.value, pledged)] = c
    return f"{_case('debit_role', debit)}, {_case('credit_role', credit)}"


# Each staged row gets the first rule it breaks, in the order POST /v1/transfers checks them:
# the external id first (a repeat is answered before anything else is looked at), then what
# the per-row checks found (type, dates, unit, source), then in-kind, amount, work, pledge.
# The file's own repeats of an id count as sent after the table's transfers, in line order.
_MARKED = """
WITH rates AS (
  SELECT q.province_code, q.in_kind_kind, q.value_date, r.id, r.rate_vnd
  FROM (SELECT DISTINCT province_code, in_kind_kind, value_date FROM transfer_stage
        WHERE in_kind_kind IS NOT NULL AND amount IS NULL AND reject IS NULL) q
  CROSS JOIN LATERAL (
    SELECT v.id, v.rate_vnd FROM funding.valuation_rates v
    WHERE v.province_code IN (q.province_code, '') AND v.kind = q.in_kind_kind
      AND v.valid_from <= q.value_date AND (v.valid_to IS NULL OR v.valid_to >= q.value_date)
    ORDER BY v.province_code = '', v.valid_from DESC LIMIT 1) r
), firsts AS ({firsts})
SELECT s.*, t.id AS existing_id, t.body_hash AS existing_hash,
  f.line AS first_line, f.body_hash AS first_hash,
  k.quantity_unit AS expected_unit, r.id AS rate_id, r.rate_vnd,
  CASE WHEN s.amount IS NULL AND r.id IS NOT NULL THEN round(s.quantity * r.rate_vnd) END
    AS valued,
  w.id AS work_id, p.id AS pledge_found_id, p.kind AS pledge_kind,
  p.unit_id AS pledge_unit_id, p.source_code AS pledge_source
FROM transfer_stage s
LEFT JOIN funding.transfers t ON t.external_id = s.external_id
LEFT JOIN firsts f ON f.external_id = s.external_id
LEFT JOIN funding.in_kind_kinds k ON k.code = s.in_kind_kind
LEFT JOIN rates r ON r.province_code = s.province_code AND r.in_kind_kind = s.in_kind_kind
  AND r.value_date = s.value_date AND s.amount IS NULL
LEFT JOIN funding.works w ON w.unit_id = s.unit_id AND w.code = s.work
LEFT JOIN funding.transfers p ON p.external_id = s.pledge
"""
_FIRSTS = (
    "SELECT DISTINCT ON (external_id) external_id, line, body_hash FROM transfer_stage"
    " WHERE external_id IN (SELECT external_id FROM transfer_stage GROUP BY external_id"
    " HAVING count(*) > 1) ORDER BY external_id, line"
)
_NO_FIRSTS = "SELECT NULL::text AS external_id, NULL::int AS line, NULL::bytea AS body_hash"

_CHECK = f"""
CREATE TEMP TABLE transfer_checked ON COMMIT DROP AS
SELECT m.line, m.external_id, m.body_hash, m.type, m.unit_code, m.unit_id, m.source_code,
  m.value_date, m.period, m.in_kind_kind, m.quantity, m.quantity_unit, m.expected_unit,
  m.households, m.work, m.work_id, m.pledge, m.purpose, m.memo, gen_random_uuid() AS id,
  CASE
    WHEN m.existing_id IS NOT NULL AND m.existing_hash <> m.body_hash
      THEN 'transfer.idempotency_conflict'
    WHEN m.existing_id IS NOT NULL THEN NULL
    WHEN m.first_line < m.line AND m.first_hash <> m.body_hash
      THEN 'transfer.idempotency_conflict'
    WHEN m.reject IS NOT NULL THEN m.reject
    WHEN (m.in_kind_kind IS NOT NULL OR m.quantity IS NOT NULL)
         AND (m.in_kind_kind IS NULL OR m.quantity IS NULL) THEN 'in_kind.incomplete'
    WHEN m.in_kind_kind IS NOT NULL AND m.expected_unit IS NULL THEN 'in_kind.kind_unknown'
    WHEN m.in_kind_kind IS NOT NULL AND m.quantity_unit IS NOT NULL
         AND m.quantity_unit <> m.expected_unit THEN 'in_kind.unit_mismatch'
    WHEN m.in_kind_kind IS NOT NULL AND m.amount IS NULL AND m.rate_id IS NULL
      THEN 'valuation.no_rate'
    WHEN m.in_kind_kind IS NOT NULL AND m.amount IS NULL AND m.valued <= 0
      THEN 'valuation.zero'
    WHEN m.in_kind_kind IS NOT NULL AND m.amount IS NULL AND m.valued > {BIGINT_MAX}
      THEN 'valuation.too_large'
    WHEN m.in_kind_kind IS NULL AND m.source_in_kind THEN 'in_kind.kind_required'
    WHEN m.in_kind_kind IS NULL AND m.amount IS NULL THEN 'amount.required'
    WHEN m.type IN ('disbursement', 'settlement') AND m.work IS NULL THEN 'work.required'
    WHEN m.type IN ('disbursement', 'settlement') AND m.work_id IS NULL THEN 'work.not_found'
    WHEN m.pledge IS NOT NULL AND (m.type <> 'receipt' OR m.pledge_found_id IS NULL
         OR m.pledge_kind <> 'pledge' OR m.pledge_unit_id <> m.unit_id
         OR m.pledge_source <> m.source_code) THEN 'pledge.invalid'
  END AS rejected_by,
  m.existing_id IS NOT NULL OR coalesce(m.first_line < m.line, false) AS is_repeat,
  CASE WHEN m.amount IS NOT NULL THEN m.amount
       WHEN m.valued <= {BIGINT_MAX} THEN m.valued::bigint END AS posted_amount,
  CASE WHEN m.amount IS NULL THEN m.rate_id END AS rate_id,
  CASE WHEN m.amount IS NULL THEN m.rate_vnd END AS rate_vnd,
  m.pledge_found_id AS pledge_id, {_role_columns()}
FROM ({{marked}}) m
"""

# A receipt of a pledge sent earlier in the same file, which the table does not hold yet:
# as when the rows are posted one by one, the pledge counts if it is itself accepted.
_PLEDGES_IN_FILE = f"""
UPDATE transfer_checked c SET rejected_by = NULL, pledge_id = p.id,
  credit_role = '{sides(TransferKind.receipt, from_pledge=True)[1].value}'
FROM transfer_checked p
WHERE c.rejected_by = 'pledge.invalid' AND c.pledge_id IS NULL AND c.type = 'receipt'
  AND p.external_id = c.pledge AND p.line < c.line AND p.type = 'pledge'
  AND p.rejected_by IS NULL AND NOT p.is_repeat
  AND p.unit_id = c.unit_id AND p.source_code = c.source_code
"""


def _fresh(alias: str) -> str:
    """Rows an import writes: valid, and repeating nothing."""
    return f"{alias}.rejected_by IS NULL AND NOT {alias}.is_repeat"


_COUNTS = (
    "SELECT count(*) FILTER (WHERE rejected_by IS NOT NULL) AS rejected,"
    " count(*) FILTER (WHERE rejected_by IS NULL AND is_repeat) AS ignored,"
    " count(*) FILTER (WHERE rejected_by IS NULL AND NOT is_repeat) AS fresh"
    " FROM transfer_checked"
)

_REJECTIONS = (
    "SELECT line, rejected_by AS code, external_id, type, unit_code, source_code, value_date,"
    " in_kind_kind, quantity, quantity_unit, expected_unit, work, pledge"
    " FROM transfer_checked WHERE rejected_by IS NOT NULL ORDER BY line LIMIT $1"
)

_ACCOUNT_KEY = "unit_id, period, purpose, source_code, role, work_id"
_WORK_ROLES = "('work', 'settled')"

# Missing accounts opened set-wise, in key order (two imports opening the same accounts then
# wait on each other instead of deadlocking).
_ACCOUNTS = f"""
INSERT INTO funding.accounts ({_ACCOUNT_KEY})
SELECT DISTINCT {_ACCOUNT_KEY} FROM (
  SELECT unit_id, period, purpose, source_code, debit_role AS role,
    CASE WHEN debit_role IN {_WORK_ROLES} THEN work_id END AS work_id
  FROM transfer_checked c WHERE {_fresh("c")}
  UNION ALL
  SELECT unit_id, period, purpose, source_code, credit_role,
    CASE WHEN credit_role IN {_WORK_ROLES} THEN work_id END
  FROM transfer_checked c WHERE {_fresh("c")}
) a
WHERE NOT EXISTS (
  SELECT 1 FROM funding.accounts x WHERE x.unit_id = a.unit_id AND x.period = a.period
    AND x.purpose = a.purpose AND x.source_code = a.source_code AND x.role = a.role
    AND x.work_id IS NOT DISTINCT FROM a.work_id)
ORDER BY {_ACCOUNT_KEY}
ON CONFLICT ON CONSTRAINT uq_accounts_key DO NOTHING
"""


def _account_join(alias: str, role: str) -> str:
    return (
        f"JOIN funding.accounts {alias} ON {alias}.unit_id = p.unit_id"
        f" AND {alias}.period = p.period AND {alias}.purpose = p.purpose"
        f" AND {alias}.source_code = p.source_code AND {alias}.role = p.{role}"
        f" AND coalesce({alias}.work_id, 0) = CASE WHEN p.{role} IN {_WORK_ROLES}"
        " THEN p.work_id ELSE 0 END"
    )


# One statement: the statement-level trigger then updates funding.monthly in one upsert.
# Rows are written in external-id order so that concurrent imports of overlapping files wait
# on each other's ids in the same order (no deadlock); an id another import committed in the
# meantime is skipped (ON CONFLICT DO NOTHING) and sorted out afterwards.
_INSERT = f"""
INSERT INTO funding.transfers (id, external_id, body_hash, kind, stage, sign, unit_id,
  source_code, debit_account_id, debit_role, credit_account_id, credit_role, amount,
  value_date, period, work_id, pledge_id, in_kind_kind, quantity, households, rate_id,
  rate_vnd, memo, recorded_by, import_job_id)
SELECT p.id, p.external_id, p.body_hash, p.type, p.type, 1, p.unit_id, p.source_code,
  d.id, p.debit_role, k.id, p.credit_role, p.posted_amount, p.value_date, p.period,
  p.work_id, p.pledge_id, p.in_kind_kind, p.quantity, p.households, p.rate_id,
  p.rate_vnd, p.memo, $1, $2
FROM transfer_checked p
{_account_join("d", "debit_role")}
{_account_join("k", "credit_role")}
WHERE {_fresh("p")}
ORDER BY p.external_id
ON CONFLICT ON CONSTRAINT uq_transfers_external_id DO NOTHING
"""

# Rows another transaction posted between the checks and the insert.
_TAKEN = (
    "SELECT c.line, c.external_id, t.body_hash = c.body_hash AS same"
    " FROM transfer_checked c JOIN funding.transfers t ON t.external_id = c.external_id"
    f" WHERE {_fresh('c')} AND t.id <> c.id ORDER BY c.line"
)


@dataclass(frozen=True)
class CheckCounts:
    rejected: int
    ignored: int
    fresh: int  # valid rows that repeat nothing: what an import writes


@dataclass(frozen=True)
class Rejection:
    """A staged row the checks refused, with what its message needs."""

    line: int
    code: str
    external_id: str
    type: str
    unit: str
    source: str
    date: date
    kind: str | None
    quantity: Decimal | None
    quantity_unit: str | None
    expected_unit: str | None
    work: str | None
    pledge: str | None


@dataclass(frozen=True)
class Taken:
    """A row whose external id another import posted while this one ran."""

    line: int
    external_id: str
    same: bool


@dataclass(frozen=True)
class UnitValidity:
    id: int
    province_code: str
    valid_from: date | None
    valid_to: date | None


@dataclass(frozen=True)
class SourceValidity:
    in_kind: bool
    valid_from: date | None
    valid_to: date | None


class ConcurrentWrite(Exception):
    """The insert met a constraint another transaction's rows broke (nothing of it is kept)."""


class TransferImportRepository:
    """Staging, checking and inserting one import of transfers."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _conn(self) -> Any:
        return await raw_connection(self.session)

    async def units(self) -> dict[str, list[UnitValidity]]:
        """Every unit by code; several per code newest first, as `unit_at` picks them."""
        rows = await (await self._conn()).fetch(
            "SELECT code, id, province_code, valid_from, valid_to FROM funding.units"
            " ORDER BY code, valid_from DESC NULLS LAST"
        )
        out: dict[str, list[UnitValidity]] = {}
        for r in rows:
            out.setdefault(r["code"], []).append(
                UnitValidity(r["id"], r["province_code"], r["valid_from"], r["valid_to"])
            )
        return out

    async def sources(self) -> dict[str, SourceValidity]:
        rows = await (await self._conn()).fetch(
            "SELECT code, in_kind, valid_from, valid_to FROM funding.sources"
        )
        return {
            r["code"]: SourceValidity(r["in_kind"], r["valid_from"], r["valid_to"]) for r in rows
        }

    async def create_stage(self) -> None:
        await (await self._conn()).execute(_PREPARE)

    async def copy_to_stage(self, records: AsyncIterable[StageRecord]) -> None:
        """One COPY, fed row by row as the body is read (asyncpg sends ~512 KiB at a time)."""
        conn = await self._conn()
        await conn.copy_records_to_table("transfer_stage", columns=STAGE_COLUMNS, records=records)

    async def check(self, *, pledges: bool) -> CheckCounts:
        """Mark every staged row; `pledges` when some row names a pledge."""
        conn = await self._conn()
        # the planner needs the staged row count to pick hash joins over nested loops
        await conn.execute("ANALYZE transfer_stage")
        repeats = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM transfer_stage GROUP BY external_id HAVING count(*) > 1)"
        )
        marked = _MARKED.format(firsts=_FIRSTS if repeats else _NO_FIRSTS)
        await conn.execute(_CHECK.format(marked=marked))
        if pledges:
            await conn.execute(_PLEDGES_IN_FILE)
        row = await conn.fetchrow(_COUNTS)
        return CheckCounts(rejected=row["rejected"], ignored=row["ignored"], fresh=row["fresh"])

    async def rejections(self, limit: int) -> list[Rejection]:
        rows = await (await self._conn()).fetch(_REJECTIONS, limit)
        return [
            Rejection(
                line=r["line"],
                code=r["code"],
                external_id=r["external_id"],
                type=r["type"],
                unit=r["unit_code"],
                source=r["source_code"],
                date=r["value_date"],
                kind=r["in_kind_kind"],
                quantity=r["quantity"],
                quantity_unit=r["quantity_unit"],
                expected_unit=r["expected_unit"],
                work=r["work"],
                pledge=r["pledge"],
            )
            for r in rows
        ]

    async def post(
        self, *, recorded_by: str | None, job_id: uuid.UUID | None, fresh: int
    ) -> tuple[int, list[Taken]]:
        """Open the missing accounts and write the valid rows that repeat nothing, inside a
        savepoint; how many were written, and the rows another import posted meanwhile (the
        caller decides whether to keep the rest, see `undo`)."""
        conn = await self._conn()
        # The insert fires the statement triggers (funding.monthly, funding.rollup) over the
        # whole transition table: their sorts and aggregates run faster at the default
        # work_mem than at the staging's 256MB (EXPLAIN ANALYZE at 200,000 rows), as a plain
        # COPY into the ledger runs them.
        await conn.execute("SET LOCAL work_mem TO DEFAULT; SAVEPOINT transfer_import")
        try:
            await conn.execute(_ACCOUNTS)
            status: str = await conn.execute(_INSERT, recorded_by, job_id)
        except (
            asyncpg.IntegrityConstraintViolationError,
            asyncpg.DeadlockDetectedError,
        ) as exc:
            await conn.execute("ROLLBACK TO SAVEPOINT transfer_import")
            raise ConcurrentWrite(str(exc)) from exc
        inserted = int(status.rsplit(" ", 1)[-1])
        taken: list[Taken] = []
        if inserted < fresh:
            taken = [
                Taken(line=r["line"], external_id=r["external_id"], same=r["same"])
                for r in await conn.fetch(_TAKEN)
            ]
        return inserted, taken

    async def undo(self) -> None:
        """Forget what `post` wrote (an atomic import that lost a row to another import)."""
        await (await self._conn()).execute("ROLLBACK TO SAVEPOINT transfer_import")
