"""SQL of the criteria report: the units below a unit with their profiles, and all their
current values, each in one statement whatever the number of units."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria.domain.evaluation import Value
from services.criteria.repository import UNIT_COLUMNS, _valid
from shared.db import raw_connection

# The current value of each (unit, indicator): the latest by as_of, then by recording order,
# as `ValueRepository.current_values` reads it for one unit. Served by
# ix_indicator_values_current (set_code, year, unit_id, indicator_code, as_of, id).
# $1 set, $2 year, $3 unit ids.
CURRENT_VALUES_SQL = (
    "SELECT DISTINCT ON (v.unit_id, v.indicator_code) v.unit_id, v.indicator_code,"
    " v.value_bool, v.value_num"
    " FROM criteria.indicator_values v"
    " WHERE v.set_code = $1 AND v.year = $2 AND v.unit_id = ANY($3::bigint[])"
    " ORDER BY v.unit_id, v.indicator_code, v.as_of DESC, v.id DESC"
)

# A province variant (`xa-ntm-2021@38`) reads the values recorded against its national set and
# those recorded against its own code, its own first (as `values.evaluate_unit` merges them).
# $1 the variant, $2 year, $3 unit ids, $4 its national set.
VARIANT_CURRENT_VALUES_SQL = (
    "SELECT DISTINCT ON (v.unit_id, v.indicator_code) v.unit_id, v.indicator_code,"
    " v.value_bool, v.value_num"
    " FROM criteria.indicator_values v"
    " WHERE v.set_code IN ($1, $4) AND v.year = $2 AND v.unit_id = ANY($3::bigint[])"
    " ORDER BY v.unit_id, v.indicator_code, v.set_code = $1 DESC, v.as_of DESC, v.id DESC"
)


# The same current values, one row per unit: the codes of its boolean values and those
# values, the codes of its numeric values and those (each value has exactly one of the two:
# ck_indicator_values_one_value). A province's 60,000 values arrive as 1,000 rows, cheaper to
# send and to decode than 60,000 rows, and each unit's mapping is built from two zips.
def _by_unit(current_values_sql: str) -> str:
    return (
        "SELECT c.unit_id,"
        " array_agg(c.indicator_code) FILTER (WHERE c.value_bool IS NOT NULL) AS bool_codes,"
        " array_agg(c.value_bool) FILTER (WHERE c.value_bool IS NOT NULL) AS bools,"
        " array_agg(c.indicator_code) FILTER (WHERE c.value_num IS NOT NULL) AS num_codes,"
        " array_agg(c.value_num) FILTER (WHERE c.value_num IS NOT NULL) AS nums"
        f" FROM ({current_values_sql}) c GROUP BY c.unit_id"
    )


VALUES_BY_UNIT_SQL = _by_unit(CURRENT_VALUES_SQL)
VARIANT_VALUES_BY_UNIT_SQL = _by_unit(VARIANT_CURRENT_VALUES_SQL)


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def units_below(self, parent_path: str, level: str, as_of: date) -> list[RowMapping]:
        """Units of `level` below the unit at `parent_path`, valid on `as_of`, in code order,
        each with its profile (`region`, `commune_group`, `specially_disadvantaged`; null
        when the unit has none)."""
        result = await self.session.execute(
            text(
                f"SELECT {UNIT_COLUMNS}, p.region, p.commune_group,"
                " coalesce(p.specially_disadvantaged, false) AS specially_disadvantaged"
                " FROM criteria.units u"
                " LEFT JOIN criteria.unit_profiles p ON p.unit_id = u.id"
                f" WHERE u.path LIKE :prefix AND u.level = :level AND {_valid('u', ':d')}"
                " ORDER BY u.code"
            ),
            {"prefix": parent_path + ".%", "level": level, "d": as_of},
        )
        return list(result.mappings())

    async def current_values(
        self, unit_ids: Sequence[int], set_code: str, year: int, base_code: str | None = None
    ) -> dict[int, dict[str, Value]]:
        """The current value of each indicator of the set (and, for a variant, of its national
        set `base_code`) and year, by unit id then indicator code; a boolean or an exact number.

        Read on the session's asyncpg connection, in its transaction, one row per unit: a
        province's 31,000 values read as rows through SQLAlchemy's results took 120 ms more
        than the statement itself on the development machine (about 4 µs a row)."""
        out: dict[int, dict[str, Value]] = {}
        if not unit_ids:
            return out
        conn = await raw_connection(self.session)
        if base_code is None:
            rows = await conn.fetch(VALUES_BY_UNIT_SQL, set_code, year, list(unit_ids))
        else:
            rows = await conn.fetch(
                VARIANT_VALUES_BY_UNIT_SQL, set_code, year, list(unit_ids), base_code
            )
        for unit_id, bool_codes, bools, num_codes, nums in rows:
            values: dict[str, Value] = dict(zip(num_codes or (), nums or (), strict=True))
            values.update(zip(bool_codes or (), bools or (), strict=True))
            out[unit_id] = values
        return out
        conn = await raw_connection(self.session)
        if base_code is None:
            rows = await conn.fetch(CURRENT_VALUES_SQL, set_code, year, list(unit_ids))
        else:
            rows = await conn.fetch(
                VARIANT_CURRENT_VALUES_SQL, set_code, year, list(unit_ids), base_code
            )
        current: dict[str, Value] = {}
        last_unit = None
        for unit_id, indicator, value_bool, value_num in rows:
            if unit_id != last_unit:
                current = out[unit_id] = {}
                last_unit = unit_id
            current[indicator] = value_bool if value_bool is not None else value_num
        return out
