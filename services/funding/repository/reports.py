"""SQL of funding reports: figures of many (unit and everything below it) scopes at once, from
the monthly aggregates, never from the transfers.

A scope is a unit's subtree by path. For a unit of the 2025 edition it is the subtree by
`current_path`, which holds the legacy communes (and provinces) that passed into it, so their
history counts for the new units; legacy districts have no successor of their own and count for
the successor of their province. Prefixes are compared with the pattern operators `~>=~` and
`~<~` (what `path LIKE p || '.%'` means), which the text_pattern_ops indexes on `path` and
`current_path` serve even when the prefix comes from another table, as in a batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import raw_connection


def _below(column: str) -> str:
    return f"({column} ~>=~ (k.path || '.') AND {column} ~<~ (k.path || '/'))"


# $1 key indexes, $2 editions, $3 paths: every (key, unit id) in the key's scope
SCOPE_CTE = f"""
k AS (SELECT * FROM unnest($1::int[], $2::text[], $3::text[]) AS k (i, edition, path)),
scope AS (
    SELECT k.i, u.id FROM k JOIN funding.units u
        ON k.edition = 'legacy' AND (u.path = k.path OR {_below("u.path")})
    UNION ALL
    SELECT k.i, u.id FROM k JOIN funding.units u
        ON k.edition = '2025' AND (u.current_path = k.path OR {_below("u.current_path")})
    UNION ALL
    SELECT k.i, d.id FROM k
      JOIN funding.units p ON k.edition = '2025' AND p.edition = 'legacy'
           AND p.level = 'province' AND (p.current_path = k.path OR {_below("p.current_path")})
      JOIN funding.units d ON d.edition = 'legacy' AND d.level = 'district'
           AND d.current_path IS NULL AND d.province_code = p.code
)
"""

# $4 the window's first day, $5 its last: amounts by (key, source, stage, in-kind kind, in the
# window or before it) since the programme start, and the pledged accounts' balances at the
# window's end. Plain sums split by one more key cost less than a filtered sum per figure.
FIGURES_SQL = f"""
WITH {SCOPE_CTE}
SELECT s.i, m.source_code, m.stage, m.in_kind_kind, m.month >= $4 AS in_window,
       sum(m.amount)::bigint AS amount,
       coalesce(sum(m.quantity) FILTER (WHERE m.in_kind_kind <> ''), 0) AS quantity,
       sum(m.households)::bigint AS households
  FROM scope s JOIN funding.monthly m ON m.unit_id = s.id
 WHERE m.month <= $5
 GROUP BY 1, 2, 3, 4, 5
UNION ALL
SELECT s.i, a.source_code, 'pledged_outstanding', '', false,
       sum(am.debits - am.credits)::bigint, 0, 0
  FROM scope s
  JOIN funding.accounts a ON a.unit_id = s.id AND a.role = 'pledged'
  JOIN funding.account_monthly am ON am.account_id = a.id AND am.month <= $5
 GROUP BY 1, 2
"""

# the works of one scope with what was disbursed and settled on them
WORKS_SQL = f"""
WITH {SCOPE_CTE}
SELECT w.id, w.code, w.name, w.kind, w.set_code, w.criterion_number, w.planned_vnd,
       u.code AS unit_code, u.name AS unit_name,
       coalesce(sum(m.amount) FILTER (WHERE m.stage = 'disbursement' AND m.month >= $4), 0)
           ::bigint AS disbursed,
       coalesce(sum(m.amount) FILTER (WHERE m.stage = 'disbursement'), 0)::bigint
           AS disbursed_cumulative,
       coalesce(sum(m.amount) FILTER (WHERE m.stage = 'settlement' AND m.month >= $4), 0)
           ::bigint AS settled,
       coalesce(sum(m.amount) FILTER (WHERE m.stage = 'settlement'), 0)::bigint
           AS settled_cumulative
  FROM scope s
  JOIN funding.works w ON w.unit_id = s.id
  JOIN funding.units u ON u.id = w.unit_id
  LEFT JOIN funding.monthly m ON m.unit_id = w.unit_id AND m.work_id = w.id AND m.month <= $5
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
    """Which subtree: the unit's edition and the path it is rolled up by."""

    index: int
    edition: str
    path: str


def scope_key(index: int, unit: Any) -> ScopeKey:
    """The scope of a resolved unit row: by `current_path` for the 2025 edition."""
    edition = str(unit["edition"])
    path = unit["current_path"] if edition == "2025" else unit["path"]
    return ScopeKey(index, edition, str(path))


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _scope_args(scopes: Sequence[ScopeKey]) -> list[list[Any]]:
        return [[s.index for s in scopes], [s.edition for s in scopes], [s.path for s in scopes]]

    async def units_at(self, keys: Sequence[tuple[str, date]]) -> dict[int, Any]:
        """The unit each (code, date) names, by key index; absent where none."""
        conn = await raw_connection(self.session)
        rows = await conn.fetch(
            UNITS_AT_SQL, list(range(len(keys))), [c for c, _ in keys], [d for _, d in keys]
        )
        return {row["i"]: row for row in rows}

    async def figures(self, scopes: Sequence[ScopeKey], start: date, end: date) -> list[Any]:
        """Rows (i, source_code, stage, in_kind_kind, in_window, amount, quantity, households)
        for every scope at once, since the programme start, split by whether they fall in the
        window; the stage `pledged_outstanding` carries the pledged balance in `amount`."""
        if not scopes:
            return []
        conn = await raw_connection(self.session)
        return list(await conn.fetch(FIGURES_SQL, *self._scope_args(scopes), start, end))

    async def works(self, scope: ScopeKey, start: date, end: date) -> list[Any]:
        conn = await raw_connection(self.session)
        return list(await conn.fetch(WORKS_SQL, *self._scope_args([scope]), start, end))
