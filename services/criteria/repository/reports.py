"""SQL of the criteria report: the units below a unit with their profiles, and all their
current values, each in one statement whatever the number of units."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria.repository import _valid
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


# The same current values, one row per unit: the codes of its boolean values (one text,
# comma-separated: indicator codes are digits and a dot) and those values, the codes of its
# numeric values and those (each value has exactly one of the two:
# ck_indicator_values_one_value). A province's 60,000 values arrive as 1,000 rows, cheaper to
# send and to decode than 60,000 rows; most units have the same codes, and one text per unit
# is cheaper to decode and to recognise than an array of 57 (see `current_values`).
#
# Read unit by unit (a LATERAL per id), each unit's values by ix_indicator_values_current in
# backward order (indicator_code DESC, as_of DESC, id DESC), so the DISTINCT ON needs no sort:
# the same values as the statements above, without their sort of all the province's rows by
# text keys (on the development machine, 24 ms instead of 55–60 ms for province 38's 31,000
# values), and a cost that grows with the units asked for, not with the table. Units without
# any value give no row (HAVING), as the statements above give them none.
#
# Numbers travel as their exact text (`numeric::text`, scale kept: '82.50', 'NaN') and become
# Decimals in `current_values`, one per distinct text: a province's values repeat a few hundred
# numbers, and building 30,000 Decimals took longer than reading them (35 ms vs 17 ms here).
def _by_unit(where: str, order_by: str) -> str:
    return (
        "SELECT k.id AS unit_id, c.bool_codes, c.bools, c.num_codes, c.nums"
        " FROM unnest($3::bigint[]) AS k(id) CROSS JOIN LATERAL ("
        " SELECT"
        " string_agg(d.indicator_code, ',') FILTER (WHERE d.value_bool IS NOT NULL)"
        " AS bool_codes,"
        " array_agg(d.value_bool) FILTER (WHERE d.value_bool IS NOT NULL) AS bools,"
        " string_agg(d.indicator_code, ',') FILTER (WHERE d.value_num IS NOT NULL)"
        " AS num_codes,"
        " array_agg(d.value_num::text) FILTER (WHERE d.value_num IS NOT NULL) AS nums"
        " FROM (SELECT DISTINCT ON (v.indicator_code) v.indicator_code, v.value_bool,"
        " v.value_num FROM criteria.indicator_values v"
        f" WHERE {where} AND v.year = $2 AND v.unit_id = k.id ORDER BY {order_by}) d"
        " HAVING count(*) > 0) c"
    )


VALUES_BY_UNIT_SQL = _by_unit("v.set_code = $1", "v.indicator_code DESC, v.as_of DESC, v.id DESC")
VARIANT_VALUES_BY_UNIT_SQL = _by_unit(
    "v.set_code IN ($1, $4)",
    "v.indicator_code DESC, v.set_code = $1 DESC, v.as_of DESC, v.id DESC",
)


class _Numbers(dict[str, Decimal]):
    """Exact numbers by their text, each built once (Decimals are immutable): a province's
    values repeat a few hundred numbers, and building 30,000 Decimals took longer than reading
    them. A miss builds the number; hits stay in C (`map(numbers.__getitem__, texts)`)."""

    def __missing__(self, text: str) -> Decimal:
        number = self[text] = Decimal(text)
        return number


class _Codes(dict[str | None, tuple[str, ...]]):
    """Code tuples by their comma-separated text, each built once: the units of a report
    with the same codes share one tuple, which `SetEvaluator` recognises by identity."""

    def __missing__(self, text: str | None) -> tuple[str, ...]:
        codes = self[text] = tuple(text.split(",")) if text else ()
        return codes


ValueColumns = tuple[tuple[str, ...], list[bool], tuple[str, ...], list[Decimal]]
"""One unit's current values in columns: the codes holding booleans and those booleans, the
codes holding numbers and those numbers (`SetEvaluator.outcome_of` takes them as they are)."""


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def units_below(self, parent_path: str, level: str, as_of: date) -> list[Any]:
        """Units of `level` below the unit at `parent_path`, valid on `as_of`, in code order:
        asyncpg records with `id`, `code`, `name`, `short_name`, `type_name`, `valid_from`,
        `valid_to` and the profile (`region`, `commune_group`, `specially_disadvantaged`;
        null when the unit has none), read by column name like a row mapping.

        Only what the report uses, on the session's asyncpg connection: a province's 1,000
        units as SQLAlchemy row mappings of every unit column cost more than the statement."""
        conn = await raw_connection(self.session)
        rows: list[Any] = await conn.fetch(
            "SELECT u.id, u.code, u.name, u.short_name, u.type_name, u.valid_from, u.valid_to,"
            " p.region, p.commune_group,"
            " coalesce(p.specially_disadvantaged, false) AS specially_disadvantaged"
            " FROM criteria.units u"
            " LEFT JOIN criteria.unit_profiles p ON p.unit_id = u.id"
            f" WHERE u.path LIKE $1 AND u.level = $2 AND {_valid('u', '$3')}"
            " ORDER BY u.code",
            parent_path + ".%",
            level,
            as_of,
        )
        return rows

    async def current_values(
        self, unit_ids: Sequence[int], set_code: str, year: int, base_code: str | None = None
    ) -> dict[int, ValueColumns]:
        """The current value of each indicator of the set (and, for a variant, of its national
        set `base_code`) and year, by unit id, in columns (`ValueColumns`); units without any
        value are left out.

        Read on the session's asyncpg connection, in its transaction, one row per unit: a
        province's 31,000 values read as rows through SQLAlchemy's results took 120 ms more
        than the statement itself on the development machine (about 4 µs a row)."""
        if not unit_ids:
            return {}
        conn = await raw_connection(self.session)
        if base_code is None:
            rows = await conn.fetch(VALUES_BY_UNIT_SQL, set_code, year, list(unit_ids))
        else:
            rows = await conn.fetch(
                VARIANT_VALUES_BY_UNIT_SQL, set_code, year, list(unit_ids), base_code
            )
        codes = _Codes().__getitem__
        number = _Numbers().__getitem__
        return {
            unit_id: (
                codes(bool_codes),
                bools or [],
                codes(num_codes),
                list(map(number, texts or ())),
            )
            for unit_id, bool_codes, bools, num_codes, texts in rows
        }
