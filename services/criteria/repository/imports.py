"""SQL of bulk imports: the staging table, the set-wise checks, the insert, and import jobs.

The staging statements run on the asyncpg connection inside the session's transaction
(`raw_connection`), so COPY, the checks and the insert share one transaction; the temporary
tables vanish with it (ON COMMIT DROP)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import raw_connection

StageRecord = tuple[
    int, str, str, int, str, bool | None, Decimal | None, date, str | None, str | None
]
"""(line, unit, set, year, indicator, value_bool, value_num, as_of, evidence JSON, note)"""

STAGE_COLUMNS = (
    "line",
    "unit_code",
    "set_code",
    "year",
    "indicator_code",
    "value_bool",
    "value_num",
    "as_of",
    "evidence",
    "note",
)

# Sort and hash space for the checks of one import (500,000 rows fit), this transaction only.
_PREPARE = (
    "SET LOCAL work_mem = '128MB';"
    "CREATE TEMP TABLE import_stage (line int NOT NULL, unit_code text NOT NULL,"
    " set_code text NOT NULL, year smallint NOT NULL, indicator_code text NOT NULL,"
    " value_bool boolean, value_num numeric, as_of date NOT NULL, evidence text, note text)"
    " ON COMMIT DROP"
)

# Every staged row is marked with the first rule it breaks (in the order `record_values`
# checks them), or NULL, and with the unit it names.
_MARKED = """
SELECT s.*, u.id AS unit_id, u.level AS unit_level, cs.level AS set_level, ci.kind,
  CASE
    WHEN u.id IS NULL THEN 'unit.not_found'
    WHEN cs.code IS NULL THEN 'criteria_set.not_found'
    WHEN cs.level <> u.level THEN 'criteria_set.wrong_level'
    WHEN ci.code IS NULL THEN 'indicator.not_found'
    WHEN ci.kind = 'derived' THEN 'indicator.derived'
    WHEN (s.value_bool IS NOT NULL) <> (ci.kind = 'boolean') THEN 'value.wrong_kind'
  END AS reject
FROM import_stage s
LEFT JOIN criteria.units u ON u.code = s.unit_code
  AND (u.valid_from IS NULL OR u.valid_from <= s.as_of)
  AND (u.valid_to IS NULL OR u.valid_to >= s.as_of)
LEFT JOIN criteria.criteria_sets cs ON cs.code = s.set_code
LEFT JOIN criteria.criteria_indicators ci
  ON ci.set_code = s.set_code AND ci.code = s.indicator_code
"""

# …and `ignored` when the latest version with the same unit, set, year, indicator and as_of
# has the same value: recording it again would change no value on any date (the current value
# is the latest by as_of, then by recording order). Rows of the file count as recorded after
# the table's, in line order, so the version before a row is the previous valid row of the
# file with the same key and as_of, or else the table's latest. Re-sending a whole file
# (history rows included) creates nothing; a file sending v1, v2, v1 still ends with v1.
#
# The statement comes in variants so that the common import pays only for what it needs:
# the window over repeated keys only when the file repeats a key and as_of, the look-up of
# recorded versions only when the table holds any for the file's (set, year, as_of).
_RECORDED = """
LEFT JOIN LATERAL (
  SELECT v.value_bool, v.value_num FROM criteria.indicator_values v
  WHERE m.reject IS NULL AND {when} v.set_code = m.set_code AND v.year = m.year
    AND v.unit_id = m.unit_id AND v.indicator_code = m.indicator_code AND v.as_of = m.as_of
  ORDER BY v.id DESC LIMIT 1
) rec ON true
"""
_NOTHING_RECORDED = (
    "LEFT JOIN (SELECT NULL::boolean AS value_bool, NULL::numeric AS value_num) rec ON false"
)
_SAME_AS_RECORDED = (
    "coalesce(rec.value_bool IS NOT DISTINCT FROM m.value_bool"
    " AND rec.value_num IS NOT DISTINCT FROM m.value_num, false)"
)
_CHECK_SIMPLE = """
CREATE TEMP TABLE import_checked ON COMMIT DROP AS
SELECT m.*, m.reject IS NULL AND {same} AS ignored
FROM ({marked}) m
{recorded}
"""
_CHECK_REPEATS = """
CREATE TEMP TABLE import_checked ON COMMIT DROP AS
WITH marked AS ({marked}), repeated AS (
  SELECT m.line, lag(m.line) OVER w AS prev_line, lag(m.value_bool) OVER w AS prev_bool,
    lag(m.value_num) OVER w AS prev_num
  FROM marked m
  WHERE m.reject IS NULL AND (m.unit_code, m.set_code, m.year, m.indicator_code, m.as_of) IN (
    SELECT unit_code, set_code, year, indicator_code, as_of FROM import_stage
    GROUP BY unit_code, set_code, year, indicator_code, as_of HAVING count(*) > 1)
  WINDOW w AS (PARTITION BY m.unit_id, m.set_code, m.year, m.indicator_code, m.as_of
               ORDER BY m.line)
)
SELECT m.*, m.reject IS NULL AND CASE
    WHEN r.prev_line IS NOT NULL
      THEN r.prev_bool IS NOT DISTINCT FROM m.value_bool
           AND r.prev_num IS NOT DISTINCT FROM m.value_num
    ELSE {same}
  END AS ignored
FROM marked m
LEFT JOIN repeated r ON r.line = m.line
{recorded}
"""

_HAS_REPEATS = (
    "SELECT EXISTS (SELECT 1 FROM import_stage"
    " GROUP BY unit_code, set_code, year, indicator_code, as_of HAVING count(*) > 1)"
)
_HAS_RECORDED = (
    "SELECT EXISTS (SELECT 1 FROM unnest($1::text[], $2::smallint[], $3::date[]) k(s, y, d)"
    " WHERE EXISTS (SELECT 1 FROM criteria.indicator_values v"
    " WHERE v.set_code = k.s AND v.year = k.y AND v.as_of = k.d))"
)


def check_statement(*, repeats: bool, recorded: bool) -> str:
    """The marking statement for a file with or without repeated keys, against a table with
    or without versions on the file's dates."""
    join = _RECORDED.format(when="r.prev_line IS NULL AND" if repeats else "")
    return (_CHECK_REPEATS if repeats else _CHECK_SIMPLE).format(
        marked=_MARKED,
        same=_SAME_AS_RECORDED,
        recorded=join if recorded else _NOTHING_RECORDED,
    )


_COUNTS = (
    "SELECT count(*) FILTER (WHERE reject IS NOT NULL) AS rejected,"
    " count(*) FILTER (WHERE reject IS NULL AND ignored) AS ignored,"
    " count(*) FILTER (WHERE reject IS NULL AND NOT ignored) AS fresh"
    " FROM import_checked"
)

_REJECTIONS = (
    "SELECT line, reject, unit_code, set_code, indicator_code, as_of, value_bool IS NOT NULL"
    " AS is_bool, unit_level, set_level, kind FROM import_checked WHERE reject IS NOT NULL"
    " ORDER BY line LIMIT $1"
)

_INSERT = (
    "INSERT INTO criteria.indicator_values (unit_id, set_code, indicator_code, year,"
    " value_bool, value_num, as_of, recorded_by, evidence, note)"
    " SELECT unit_id, set_code, indicator_code, year, value_bool, value_num, as_of, $1,"
    " COALESCE(evidence::jsonb, '[]'::jsonb), note FROM import_checked"
    " WHERE reject IS NULL AND NOT ignored"
)
# Versions of one key and as_of must be recorded in line order (the later line is current);
# without repeats, the order of the rows does not matter.
_IN_LINE_ORDER = " ORDER BY line"


@dataclass(frozen=True)
class CheckCounts:
    rejected: int
    ignored: int
    fresh: int  # valid rows that are not repeats: what an import writes


@dataclass(frozen=True)
class Rejection:
    """A staged row the set-wise checks refused, with what the message needs."""

    line: int
    code: str
    unit: str
    set: str
    indicator: str
    as_of: date
    is_bool: bool
    unit_level: str | None
    set_level: str | None
    kind: str | None


class IndicatorImportRepository:
    """Staging, checking and inserting one import of indicator values."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._repeats = True  # until `check` knows better

    async def _conn(self) -> Any:
        return await raw_connection(self.session)

    async def create_stage(self) -> None:
        await (await self._conn()).execute(_PREPARE)

    async def copy_to_stage(self, records: AsyncIterable[StageRecord]) -> None:
        """One COPY, fed row by row as the body is read (asyncpg sends ~512 KiB at a time)."""
        conn = await self._conn()
        await conn.copy_records_to_table("import_stage", columns=STAGE_COLUMNS, records=records)

    async def check(self, dates: Collection[tuple[str, int, date]] | None) -> CheckCounts:
        """Mark the staged rows. `dates` are the (set, year, as_of) the file names, or None
        when there were too many to collect."""
        conn = await self._conn()
        # the planner needs the staged row count to pick hash joins over sorts
        await conn.execute("ANALYZE import_stage")
        self._repeats = bool(await conn.fetchval(_HAS_REPEATS))
        recorded = True
        if dates is not None:
            keys = list(dates)
            recorded = bool(
                await conn.fetchval(
                    _HAS_RECORDED,
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                    [k[2] for k in keys],
                )
            )
        await conn.execute(check_statement(repeats=self._repeats, recorded=recorded))
        row = await conn.fetchrow(_COUNTS)
        return CheckCounts(rejected=row["rejected"], ignored=row["ignored"], fresh=row["fresh"])

    async def rejections(self, limit: int) -> list[Rejection]:
        rows = await (await self._conn()).fetch(_REJECTIONS, limit)
        return [
            Rejection(
                line=r["line"],
                code=r["reject"],
                unit=r["unit_code"],
                set=r["set_code"],
                indicator=r["indicator_code"],
                as_of=r["as_of"],
                is_bool=r["is_bool"],
                unit_level=r["unit_level"],
                set_level=r["set_level"],
                kind=r["kind"],
            )
            for r in rows
        ]

    async def insert(self, recorded_by: str | None) -> int:
        """Write the valid rows that repeat nothing (in line order where it matters); how many."""
        statement = _INSERT + _IN_LINE_ORDER if self._repeats else _INSERT
        status: str = await (await self._conn()).execute(statement, recorded_by)
        return int(status.rsplit(" ", 1)[-1])
