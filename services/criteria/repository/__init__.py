"""All SQL of the criteria service: units, sets and values here; features in submodules."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria.domain.catalog import CriteriaSet
from services.criteria.models import LEVEL_ORDER, UnitLevel
from services.criteria.reference.admin_units import DATASET, NationalUnits
from shared.db import raw_connection

UNIT_COLUMNS = (
    "u.id, u.code, u.edition, u.level, u.level_order, u.name, u.short_name, u.type_name,"
    " u.parent_code, u.province_code, u.path, u.valid_from, u.valid_to"
)
VALID_AT = (
    "(u.valid_from IS NULL OR u.valid_from <= {d}) AND (u.valid_to IS NULL OR u.valid_to >= {d})"
)


def _valid(alias: str, param: str) -> str:
    return VALID_AT.replace("u.", f"{alias}.").format(d=param)


class UnitRepository:
    """Reads and writes of administrative units and their lineage."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, code: str, as_of: date) -> RowMapping | None:
        result = await self.session.execute(
            text(
                f"SELECT {UNIT_COLUMNS} FROM criteria.units u"
                f" WHERE u.code = :code AND {_valid('u', ':d')}"
            ),
            {"code": code, "d": as_of},
        )
        return result.mappings().first()

    async def get_many(self, keys: Sequence[tuple[str, date]]) -> list[RowMapping | None]:
        """Units for (code, date) keys, in key order; None where nothing matches."""
        if not keys:
            return []
        result = await self.session.execute(
            text(
                f"SELECT k.idx, {UNIT_COLUMNS}"
                " FROM unnest(CAST(:codes AS text[]), CAST(:dates AS date[])) WITH ORDINALITY"
                "   AS k(code, as_of, idx)"
                f" JOIN criteria.units u ON u.code = k.code AND {_valid('u', 'k.as_of')}"
            ),
            {"codes": [k[0] for k in keys], "dates": [k[1] for k in keys]},
        )
        out: list[RowMapping | None] = [None] * len(keys)
        for row in result.mappings():
            out[row["idx"] - 1] = row
        return out

    async def list_page(
        self,
        *,
        as_of: date,
        parent: RowMapping | None,
        level: UnitLevel | None,
        search_key: str | None,
        after: tuple[int, str] | None,
        limit: int,
    ) -> tuple[list[RowMapping], int]:
        """One page (limit + 1 rows, to tell whether more follow) and the total count."""
        where = [_valid("u", ":d")]
        params: dict[str, Any] = {"d": as_of}
        if parent is not None:
            if level is None:
                where.append("u.parent_id = :pid")
                params["pid"] = parent["id"]
            else:
                where.append("u.path LIKE :prefix")
                params["prefix"] = parent["path"] + ".%"
        if level is not None:
            where.append("u.level = :level")
            params["level"] = level.value
        if search_key:
            where.append("u.search_key LIKE :pattern")
            params["pattern"] = f"%{search_key}%"
        condition = " AND ".join(where)
        total = (
            await self.session.execute(
                text(f"SELECT count(*) FROM criteria.units u WHERE {condition}"), params
            )
        ).scalar_one()
        if after is not None:
            condition += " AND (u.level_order, u.code) > (:after_order, :after_code)"
            params |= {"after_order": after[0], "after_code": after[1]}
        rows = await self.session.execute(
            text(
                f"SELECT {UNIT_COLUMNS} FROM criteria.units u WHERE {condition}"
                " ORDER BY u.level_order, u.code LIMIT :limit"
            ),
            params | {"limit": limit + 1},
        )
        return list(rows.mappings()), int(total)

    async def children_pages(
        self,
        keys: Sequence[tuple[int, str, date, UnitLevel | None, tuple[int, str] | None, int]],
    ) -> dict[int, tuple[list[RowMapping], int]]:
        """Pages of units below many parents in one statement.

        Each key is (key index, parent path, date, level, after, limit); the answer maps the key
        index to (rows, total). Without a level, the parent's direct children are listed."""
        if not keys:
            return {}
        params = {
            "idx": [k[0] for k in keys],
            "paths": [k[1] for k in keys],
            "dates": [k[2] for k in keys],
            "levels": [k[3].value if k[3] else None for k in keys],
            "depths": [k[1].count(".") + 2 for k in keys],
            "after_orders": [k[4][0] if k[4] else 0 for k in keys],
            "after_codes": [k[4][1] if k[4] else "" for k in keys],
            "limits": [k[5] + 1 for k in keys],
        }
        keyset = (
            "unnest(CAST(:idx AS int[]), CAST(:paths AS text[]), CAST(:dates AS date[]),"
            " CAST(:levels AS text[]), CAST(:depths AS int[]), CAST(:after_orders AS int[]),"
            " CAST(:after_codes AS text[]), CAST(:limits AS int[]))"
            " AS k(idx, path, as_of, level, depth, after_order, after_code, lim)"
        )
        below = (
            "u.path LIKE k.path || '.%' AND "
            + _valid("u", "k.as_of")
            + " AND (CASE WHEN k.level IS NULL"
            "  THEN array_length(string_to_array(u.path, '.'), 1) = k.depth"
            "  ELSE u.level = k.level END)"
        )
        counts = await self.session.execute(
            text(
                f"SELECT k.idx, c.n FROM {keyset} CROSS JOIN LATERAL"
                f" (SELECT count(*) AS n FROM criteria.units u WHERE {below}) c"
            ),
            params,
        )
        out: dict[int, tuple[list[RowMapping], int]] = {row.idx: ([], int(row.n)) for row in counts}
        rows = await self.session.execute(
            text(
                f"SELECT k.idx AS key_idx, c.* FROM {keyset} CROSS JOIN LATERAL"
                f" (SELECT {UNIT_COLUMNS} FROM criteria.units u WHERE {below}"
                "   AND (u.level_order, u.code) > (k.after_order, k.after_code)"
                "   ORDER BY u.level_order, u.code LIMIT k.lim) c"
                " ORDER BY k.idx, c.level_order, c.code"
            ),
            params,
        )
        for row in rows.mappings():
            out[row["key_idx"]][0].append(row)
        return out

    async def lineage(self, unit_ids: Sequence[int]) -> list[RowMapping]:
        """Lineage links touching the given units, each with the unit at the other end."""
        if not unit_ids:
            return []
        result = await self.session.execute(
            text(
                f"SELECT 'successor' AS direction, l.predecessor_id AS anchor_id, l.is_primary,"
                f" l.effective_on, {UNIT_COLUMNS}"
                " FROM criteria.unit_lineage l JOIN criteria.units u ON u.id = l.successor_id"
                " WHERE l.predecessor_id = ANY(CAST(:ids AS bigint[]))"
                " UNION ALL"
                " SELECT 'predecessor', l.successor_id, l.is_primary, l.effective_on,"
                f" {UNIT_COLUMNS}"
                " FROM criteria.unit_lineage l JOIN criteria.units u ON u.id = l.predecessor_id"
                " WHERE l.successor_id = ANY(CAST(:ids AS bigint[]))"
                " ORDER BY 1, 2, 6, 7"
            ),
            {"ids": list(unit_ids)},
        )
        return list(result.mappings())

    async def is_province(self, code: str) -> bool:
        result = await self.session.execute(
            text("SELECT 1 FROM criteria.units WHERE code = :c AND level = 'province' LIMIT 1"),
            {"c": code},
        )
        return result.first() is not None

    async def get_in_edition(self, edition: str, code: str) -> RowMapping | None:
        result = await self.session.execute(
            text(
                f"SELECT {UNIT_COLUMNS}, u.name AS stored_name FROM criteria.units u"
                " WHERE u.edition = :e AND u.code = :c"
            ),
            {"e": edition, "c": code},
        )
        return result.mappings().first()

    async def insert_village(
        self,
        *,
        parent: RowMapping,
        code: str,
        name: str,
        short_name: str,
        search_key: str,
        valid_from: date | None,
    ) -> None:
        await self.session.execute(
            text(
                "INSERT INTO criteria.units (code, edition, level, level_order, name, short_name,"
                " type_name, parent_id, parent_code, province_code, path, valid_from, valid_to,"
                " search_key, source)"
                " VALUES (:code, :edition, 'village', :order, :name, :short_name, 'Thôn', :pid,"
                " :pcode, :province, :path, :vf, :vt, :key, 'local')"
            ),
            {
                "code": code,
                "edition": parent["edition"],
                "order": LEVEL_ORDER[UnitLevel.village],
                "name": name,
                "short_name": short_name,
                "pid": parent["id"],
                "pcode": parent["code"],
                "province": parent["province_code"],
                "path": f"{parent['path']}.{code}",
                "vf": valid_from,
                "vt": parent["valid_to"],
                "key": search_key,
            },
        )

    # --- reference data -------------------------------------------------------------------

    async def loaded_checksum(self, dataset: str = DATASET) -> str | None:
        result = await self.session.execute(
            text("SELECT checksum FROM criteria.reference_loads WHERE dataset = :d"), {"d": dataset}
        )
        return result.scalar_one_or_none()

    async def lock_reference(self, dataset: str = DATASET) -> None:
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"ntm-reference-{dataset}"}
        )

    async def load_national_units(self, data: NationalUnits) -> int:
        """Upsert both editions and the lineage set-wise: COPY into staging, then INSERT…SELECT."""
        conn = await raw_connection(self.session)
        await conn.execute(
            "CREATE TEMP TABLE stage_units (code text, edition text, level text, level_order int,"
            " name text, short_name text, type_name text, parent_code text, province_code text,"
            " path text, valid_from date, valid_to date, search_key text, source text)"
            " ON COMMIT DROP;"
            "CREATE TEMP TABLE stage_lineage (pred_edition text, pred_code text,"
            " succ_edition text, succ_code text, is_primary bool) ON COMMIT DROP"
        )
        await conn.copy_records_to_table(
            "stage_units",
            records=[
                (
                    u.code,
                    u.edition.value,
                    u.level.value,
                    u.level_order,
                    u.name,
                    u.short_name,
                    u.type_name,
                    u.parent_code,
                    u.province_code,
                    u.path,
                    u.valid_from,
                    u.valid_to,
                    u.search_key,
                    u.source,
                )
                for u in data.units
            ],
        )
        await conn.copy_records_to_table(
            "stage_lineage",
            records=[
                (
                    r.predecessor_edition.value,
                    r.predecessor_code,
                    r.successor_edition.value,
                    r.successor_code,
                    r.is_primary,
                )
                for r in data.lineage
            ],
        )
        await conn.execute(
            "INSERT INTO criteria.units AS t (code, edition, level, level_order, name, short_name,"
            " type_name, parent_code, province_code, path, valid_from, valid_to, search_key,"
            " source)"
            " SELECT code, edition, level, level_order, name, short_name, type_name, parent_code,"
            " province_code, path, valid_from, valid_to, search_key, source FROM stage_units"
            " ON CONFLICT (edition, code) DO UPDATE SET level = EXCLUDED.level,"
            " level_order = EXCLUDED.level_order, name = EXCLUDED.name,"
            " short_name = EXCLUDED.short_name, type_name = EXCLUDED.type_name,"
            " parent_code = EXCLUDED.parent_code, province_code = EXCLUDED.province_code,"
            " path = EXCLUDED.path, valid_from = EXCLUDED.valid_from,"
            " valid_to = EXCLUDED.valid_to, search_key = EXCLUDED.search_key,"
            " source = EXCLUDED.source"
            " WHERE (t.level, t.name, t.short_name, t.type_name, t.parent_code, t.path,"
            "  t.valid_from, t.valid_to, t.search_key, t.source) IS DISTINCT FROM"
            " (EXCLUDED.level, EXCLUDED.name, EXCLUDED.short_name, EXCLUDED.type_name,"
            "  EXCLUDED.parent_code, EXCLUDED.path, EXCLUDED.valid_from, EXCLUDED.valid_to,"
            "  EXCLUDED.search_key, EXCLUDED.source)"
        )
        await conn.execute(
            "UPDATE criteria.units c SET parent_id = p.id FROM criteria.units p"
            " WHERE c.parent_code IS NOT NULL AND c.level <> 'village'"
            " AND p.edition = c.edition AND p.code = c.parent_code"
            " AND c.parent_id IS DISTINCT FROM p.id"
        )
        await conn.execute(
            "DELETE FROM criteria.unit_lineage l USING criteria.units p, criteria.units s"
            " WHERE p.id = l.predecessor_id AND s.id = l.successor_id"
            " AND p.source <> 'local' AND s.source <> 'local'"
            " AND NOT EXISTS (SELECT 1 FROM stage_lineage g WHERE g.pred_edition = p.edition"
            "  AND g.pred_code = p.code AND g.succ_edition = s.edition AND g.succ_code = s.code)"
        )
        await conn.execute(
            "INSERT INTO criteria.unit_lineage AS t (predecessor_id, successor_id, is_primary,"
            " effective_on)"
            " SELECT p.id, s.id, g.is_primary, s.valid_from FROM stage_lineage g"
            " JOIN criteria.units p ON p.edition = g.pred_edition AND p.code = g.pred_code"
            " JOIN criteria.units s ON s.edition = g.succ_edition AND s.code = g.succ_code"
            " ON CONFLICT (predecessor_id, successor_id) DO UPDATE"
            " SET is_primary = EXCLUDED.is_primary, effective_on = EXCLUDED.effective_on"
            " WHERE (t.is_primary, t.effective_on) IS DISTINCT FROM"
            " (EXCLUDED.is_primary, EXCLUDED.effective_on)"
        )
        rows = len(data.units) + len(data.lineage)
        await conn.execute(
            "INSERT INTO criteria.reference_loads (dataset, checksum, rows, loaded_at)"
            " VALUES ($1, $2, $3, now()) ON CONFLICT (dataset) DO UPDATE"
            " SET checksum = EXCLUDED.checksum, rows = EXCLUDED.rows, loaded_at = now()",
            DATASET,
            data.checksum,
            rows,
        )
        return rows


SET_SUMMARY_COLUMNS = (
    "s.code, s.name, s.name_en, s.level, s.title, s.legal_basis, s.valid_from, s.valid_to,"
    " s.threshold_scheme, s.extends, s.province_code, s.criteria_count, s.indicator_count"
)


# Parsed sets by the text of their definition (exact: a changed set has another text).
_PARSED_SETS: dict[str, CriteriaSet] = {}
_PARSED_SETS_KEPT = 64


class CriteriaSetRepository:
    """Criteria sets and their indicators."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert(self, sets: Sequence[CriteriaSet]) -> int:
        """Insert or update every set and its indicators; indicators are never deleted, since
        recorded values may point at them."""
        if not sets:
            return 0
        await self.session.execute(
            text(
                "INSERT INTO criteria.criteria_sets AS t (code, name, name_en, level, title,"
                " legal_basis, valid_from, valid_to, threshold_scheme, extends, province_code,"
                " criteria_count, indicator_count, definition, updated_at)"
                " VALUES (:code, :name, :name_en, :level, :title, :legal_basis, :valid_from,"
                " :valid_to, :scheme, :extends, :province, :criteria_count, :indicator_count,"
                " CAST(:definition AS jsonb), now())"
                " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,"
                " name_en = EXCLUDED.name_en, level = EXCLUDED.level, title = EXCLUDED.title,"
                " legal_basis = EXCLUDED.legal_basis, valid_from = EXCLUDED.valid_from,"
                " valid_to = EXCLUDED.valid_to, threshold_scheme = EXCLUDED.threshold_scheme,"
                " extends = EXCLUDED.extends, province_code = EXCLUDED.province_code,"
                " criteria_count = EXCLUDED.criteria_count,"
                " indicator_count = EXCLUDED.indicator_count, definition = EXCLUDED.definition,"
                " updated_at = now() WHERE t.definition IS DISTINCT FROM EXCLUDED.definition"
            ),
            [
                {
                    "code": s.code,
                    "name": s.name,
                    "name_en": s.name_en,
                    "level": s.level.value,
                    "title": s.title,
                    "legal_basis": s.legal_basis,
                    "valid_from": s.valid_from,
                    "valid_to": s.valid_to,
                    "scheme": s.threshold_scheme.value,
                    "extends": s.extends,
                    "province": s.province_code,
                    "criteria_count": len(s.criteria),
                    "indicator_count": s.indicator_count,
                    "definition": s.model_dump_json(),
                }
                for s in sets
            ],
        )
        await self.session.execute(
            text(
                "INSERT INTO criteria.criteria_indicators AS t (set_code, code, criterion_number,"
                " kind, verified) VALUES (:set_code, :code, :number, :kind, :verified)"
                " ON CONFLICT (set_code, code) DO UPDATE SET"
                " criterion_number = EXCLUDED.criterion_number, kind = EXCLUDED.kind,"
                " verified = EXCLUDED.verified"
            ),
            [
                {
                    "set_code": s.code,
                    "code": i.code,
                    "number": c.number,
                    "kind": i.kind.value,
                    "verified": i.verified,
                }
                for s in sets
                for c in s.criteria
                for i in c.indicators
            ],
        )
        return len(sets)

    async def list_sets(self, *, level: str | None, active_on: date | None) -> list[RowMapping]:
        where = ["TRUE"]
        params: dict[str, Any] = {}
        if level is not None:
            where.append("s.level = :level")
            params["level"] = level
        if active_on is not None:
            where.append(_valid("s", ":d"))
            params["d"] = active_on
        result = await self.session.execute(
            text(
                f"SELECT {SET_SUMMARY_COLUMNS} FROM criteria.criteria_sets s"
                f" WHERE {' AND '.join(where)} ORDER BY s.level, s.valid_from NULLS FIRST, s.code"
            ),
            params,
        )
        return list(result.mappings())

    async def get_many(self, codes: Sequence[str]) -> list[RowMapping | None]:
        if not codes:
            return []
        result = await self.session.execute(
            text(
                f"SELECT {SET_SUMMARY_COLUMNS}, s.definition FROM criteria.criteria_sets s"
                " WHERE s.code = ANY(CAST(:codes AS text[]))"
            ),
            {"codes": list(codes)},
        )
        by_code = {row["code"]: row for row in result.mappings()}
        return [by_code.get(code) for code in codes]

    async def get_parsed(self, codes: Sequence[str]) -> dict[str, CriteriaSet]:
        """The sets found among `codes`, by code, as their validated models, each parsed once
        per distinct definition in this process: validating a set's 57 indicators with their
        thresholds costs more than reading it, and a report or a batch of evaluations needs it
        on every call. The models are shared between callers: read them, never change them."""
        if not codes:
            return {}
        result = await self.session.execute(
            text(
                "SELECT s.code, s.definition::text AS definition FROM criteria.criteria_sets s"
                " WHERE s.code = ANY(CAST(:codes AS text[]))"
            ),
            {"codes": list(codes)},
        )
        out: dict[str, CriteriaSet] = {}
        for code, definition in result:
            parsed = _PARSED_SETS.get(definition)
            if parsed is None:
                # json.loads, as SQLAlchemy decodes the jsonb column that `get_many` reads
                parsed = CriteriaSet.model_validate(json.loads(definition))
                if len(_PARSED_SETS) >= _PARSED_SETS_KEPT:
                    _PARSED_SETS.clear()
                _PARSED_SETS[definition] = parsed
            out[code] = parsed
        return out

    async def loaded_checksum(self, dataset: str) -> str | None:
        return await UnitRepository(self.session).loaded_checksum(dataset)

    async def record_load(self, dataset: str, checksum: str, rows: int) -> None:
        await self.session.execute(
            text(
                "INSERT INTO criteria.reference_loads (dataset, checksum, rows, loaded_at)"
                " VALUES (:d, :c, :r, now()) ON CONFLICT (dataset) DO UPDATE"
                " SET checksum = EXCLUDED.checksum, rows = EXCLUDED.rows, loaded_at = now()"
            ),
            {"d": dataset, "c": checksum, "r": rows},
        )


class ValueRepository:
    """Unit profiles and the append-only indicator values."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def indicator_kinds(self, set_codes: Sequence[str]) -> dict[tuple[str, str], str]:
        result = await self.session.execute(
            text(
                "SELECT set_code, code, kind FROM criteria.criteria_indicators"
                " WHERE set_code = ANY(CAST(:codes AS text[]))"
            ),
            {"codes": list(set_codes)},
        )
        return {(r.set_code, r.code): r.kind for r in result}

    async def set_levels(self, set_codes: Sequence[str]) -> dict[str, str]:
        result = await self.session.execute(
            text(
                "SELECT code, level FROM criteria.criteria_sets"
                " WHERE code = ANY(CAST(:codes AS text[]))"
            ),
            {"codes": list(set_codes)},
        )
        return {r.code: r.level for r in result}

    async def insert_values(self, rows: Sequence[dict[str, Any]]) -> None:
        await self.session.execute(
            text(
                "INSERT INTO criteria.indicator_values (unit_id, set_code, indicator_code, year,"
                " value_bool, value_num, as_of, recorded_by, evidence, note)"
                " VALUES (:unit_id, :set_code, :indicator_code, :year, :value_bool, :value_num,"
                " :as_of, :recorded_by, CAST(:evidence AS jsonb), :note)"
            ),
            list(rows),
        )

    async def current_values(self, unit_id: int, set_code: str, year: int) -> list[RowMapping]:
        """The current value of each indicator: the latest by as_of, then by recording order."""
        result = await self.session.execute(
            text(
                "SELECT DISTINCT ON (indicator_code) indicator_code, value_bool, value_num,"
                " as_of, recorded_by, recorded_at, evidence, note"
                " FROM criteria.indicator_values"
                " WHERE set_code = :s AND year = :y AND unit_id = :u"
                " ORDER BY indicator_code, as_of DESC, id DESC"
            ),
            {"s": set_code, "y": year, "u": unit_id},
        )
        return list(result.mappings())

    async def history(
        self,
        unit_id: int,
        set_code: str,
        year: int,
        indicator: str,
        *,
        before: tuple[date, int] | None,
        limit: int,
    ) -> tuple[list[RowMapping], int]:
        """At most `limit` versions, newest first, older than the key (as_of, id) `before`,
        and how many versions there are."""
        where = "set_code = :s AND year = :y AND unit_id = :u AND indicator_code = :i"
        params: dict[str, Any] = {"s": set_code, "y": year, "u": unit_id, "i": indicator}
        total = await self.session.scalar(
            text(f"SELECT count(*) FROM criteria.indicator_values WHERE {where}"), params
        )
        keyset = ""
        if before is not None:
            keyset = " AND (as_of, id) < (:before_as_of, :before_id)"
            params.update({"before_as_of": before[0], "before_id": before[1]})
        result = await self.session.execute(
            text(
                "SELECT id, indicator_code, value_bool, value_num, as_of, recorded_by,"
                f" recorded_at, evidence, note FROM criteria.indicator_values WHERE {where}"
                f"{keyset} ORDER BY as_of DESC, id DESC LIMIT :n"
            ),
            {**params, "n": limit},
        )
        return list(result.mappings()), int(total or 0)

    async def get_profile(self, unit_id: int) -> RowMapping | None:
        result = await self.session.execute(
            text(
                "SELECT region, commune_group, specially_disadvantaged, updated_by, updated_at"
                " FROM criteria.unit_profiles WHERE unit_id = :u"
            ),
            {"u": unit_id},
        )
        return result.mappings().first()

    async def put_profile(
        self, unit_id: int, region: str | None, group: str | None, special: bool, by: str | None
    ) -> None:
        await self.session.execute(
            text(
                "INSERT INTO criteria.unit_profiles (unit_id, region, commune_group,"
                " specially_disadvantaged, updated_by, updated_at)"
                " VALUES (:u, :r, :g, :s, :b, now()) ON CONFLICT (unit_id) DO UPDATE SET"
                " region = EXCLUDED.region, commune_group = EXCLUDED.commune_group,"
                " specially_disadvantaged = EXCLUDED.specially_disadvantaged,"
                " updated_by = EXCLUDED.updated_by, updated_at = now()"
            ),
            {"u": unit_id, "r": region, "g": group, "s": special, "b": by},
        )
