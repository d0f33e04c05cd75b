"""SQL of funding reports: figures of many (unit and everything below it) scopes at once, from
the hierarchy rollups, never from the transfers nor from every commune's monthly rows.

A scope is a unit's subtree, named by its edition and path: `L:<path>` for a legacy unit,
`C:<current_path>` for a unit of the 2025 edition (which holds the legacy units that passed
into it, so their history counts for the new units; legacy districts have no successor of
their own and count for the successor of their province). `funding.unit_scopes` lists each
unit's scopes and `funding.rollup` holds each scope's sums per month, source and stage, both
kept by the database (migration f0006_rollups), so a report reads its scope by equality: about
a thousand rows for a province, whatever the number of transfers below it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.funding.repository import scope_of

# $1 key indexes, $2 scopes, $3 the window's first day, $4 its last: amounts by (key, source,
# stage, in-kind kind, in the window or before it) since the programme start, with the net
# movement of the pledged accounts (whose sum up to the window's end is the pledges still
# outstanding). Plain sums split by one more key cost less than a filtered sum per figure.
FIGURES_SQL = """
SELECT k.i, r.source_code, r.stage, r.in_kind_kind, r.month >= $3 AS in_window,
       sum(r.amount)::bigint AS amount,
       coalesce(sum(r.quantity) FILTER (WHERE r.in_kind_kind <> ''), 0) AS quantity,
       sum(r.households)::bigint AS households,
       sum(r.pledged)::bigint AS pledged
  FROM unnest($1::int[], $2::text[]) AS k (i, scope)
  JOIN funding.rollup r ON r.scope = k.scope AND r.month <= $4
 GROUP BY 1, 2, 3, 4, 5
"""

# the same rows as FIGURES_SQL summed per key, as `Figures.add` sums them: receipts in the
# window and since the start; pledges, disbursements and settlements in the window; the pledged
# accounts' net movement up to the window's end
TOTALS_SQL = """
SELECT k.i,
       coalesce(sum(r.amount) FILTER (WHERE r.stage = 'receipt' AND r.month >= $3), 0)::bigint
           AS total,
       coalesce(sum(r.amount) FILTER (WHERE r.stage = 'receipt'), 0)::bigint AS cumulative,
       coalesce(sum(r.amount) FILTER (WHERE r.stage = 'pledge' AND r.month >= $3), 0)::bigint
           AS pledged,
       coalesce(sum(r.pledged), 0)::bigint AS pledged_outstanding,
       coalesce(sum(r.amount) FILTER (WHERE r.stage = 'disbursement' AND r.month >= $3), 0)
           ::bigint AS disbursed,
       coalesce(sum(r.amount) FILTER (WHERE r.stage = 'settlement' AND r.month >= $3), 0)
           ::bigint AS settled
  FROM unnest($1::int[], $2::text[]) AS k (i, scope)
  JOIN funding.rollup r ON r.scope = k.scope AND r.month <= $4
 GROUP BY 1
"""

# $1 a scope, $2 the window's first day, $3 its last: the works of the scope's units with what
# was disbursed and settled on them (the works' rows of the monthly aggregates)
WORKS_SQL = """
SELECT w.id, w.code, w.name, w.kind, w.set_code, w.criterion_number, w.planned_vnd,
       u.code AS unit_code, u.name AS unit_name,
       coalesce(sum(m.amount) FILTER (WHERE m.stage = 'disbursement' AND m.month >= $2), 0)
           ::bigint AS disbursed,
       coalesce(sum(m.amount) FILTER (WHERE m.stage = 'disbursement'), 0)::bigint
           AS disbursed_cumulative,
       coalesce(sum(m.amount) FILTER (WHERE m.stage = 'settlement' AND m.month >= $2), 0)
           ::bigint AS settled,
       coalesce(sum(m.amount) FILTER (WHERE m.stage = 'settlement'), 0)::bigint
           AS settled_cumulative
  FROM funding.unit_scopes s
  JOIN funding.works w ON w.unit_id = s.unit_id
  JOIN funding.units u ON u.id = w.unit_id
  LEFT JOIN funding.monthly m ON m.work_id = w.id AND m.work_id <> 0 AND m.unit_id = w.unit_id
       AND m.month <= $3
 WHERE s.scope = $1
 GROUP BY w.id, u.code, u.name
 ORDER BY u.code, w.code
"""

# $1 key indexes, $2 codes, $3 dates: the unit each code names on its date (as `unit_at`)
UNITS_AT_SQL = """
SELECT DISTINCT ON (k.i) k.i, u.id, u.code, u.edition, u.level, u.name, u.province_code,
       u.path, u.current_path
  FROM unnest($1::int[], $2::text[], $3::date[]) AS k (i, code, d)
  JOIN funding.units u ON u.code = k.code
       AND (u.valid_from IS NULL OR u.valid_from <= k.d)
       AND (u.valid_to IS NULL OR u.valid_to >= k.d)
 ORDER BY k.i, u.valid_from DESC NULLS LAST
"""


@dataclass(frozen=True, slots=True)
class ScopeKey:
    """Which subtree, for the key at `index`: a scope name of `funding.rollup`."""

    index: int
    scope: str


def scope_key(index: int, unit: Any) -> ScopeKey:
    """The scope of a resolved unit row: by `current_path` for the 2025 edition."""
    return ScopeKey(index, scope_of(unit))


class ReportRepository:
    """Statements go through the session's connection (not the bare driver), so engine events
    (tracing, the tests' statement counts) see every one of them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _fetch(self, sql: str, *params: Any) -> Sequence[RowMapping]:
        conn = await self.session.connection()
        return (await conn.exec_driver_sql(sql, params)).mappings().all()

    async def units_at(self, keys: Sequence[tuple[str, date]]) -> dict[int, RowMapping]:
        """The unit each (code, date) names, by key index; absent where none."""
        rows = await self._fetch(
            UNITS_AT_SQL, list(range(len(keys))), [c for c, _ in keys], [d for _, d in keys]
        )
        return {row["i"]: row for row in rows}

    async def figures(
        self, scopes: Sequence[ScopeKey], start: date, end: date
    ) -> Sequence[RowMapping]:
        """Rows (i, source_code, stage, in_kind_kind, in_window, amount, quantity, households,
        pledged) for every scope at once, since the programme start, split by whether they fall
        in the window; `pledged` is the net movement of the pledged accounts. One statement."""
        if not scopes:
            return []
        return await self._fetch(
            FIGURES_SQL, [s.index for s in scopes], [s.scope for s in scopes], start, end
        )

    async def totals(
        self, scopes: Sequence[ScopeKey], start: date, end: date
    ) -> dict[int, dict[str, int]]:
        """Each scope's totals (total, cumulative, pledged, pledged_outstanding, disbursed,
        settled) by key index, summed in the database; absent where the scope has no rows.
        One statement."""
        if not scopes:
            return {}
        rows = await self._fetch(
            TOTALS_SQL, [s.index for s in scopes], [s.scope for s in scopes], start, end
        )
        return {row["i"]: dict(row) for row in rows}

    async def works(self, scope: ScopeKey, start: date, end: date) -> Sequence[RowMapping]:
        """The works of one scope, by unit code and work code. One statement."""
        return await self._fetch(WORKS_SQL, scope.scope, start, end)
