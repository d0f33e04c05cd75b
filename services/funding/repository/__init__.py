"""All SQL of the funding service's reference data and ledger postings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria.reference.admin_units import NationalUnits
from services.funding.catalog import Taxonomy
from shared.db import raw_connection

UNIT_AT = (
    "(u.valid_from IS NULL OR u.valid_from <= {d}) AND (u.valid_to IS NULL OR u.valid_to >= {d})"
)

UNITS_IN_SCOPE = "SELECT s.unit_id FROM funding.unit_scopes s WHERE s.scope = :scope"
"""The units a report of a scope covers (funding.unit_scopes, kept by migration f0006)."""


def scope_of(unit: RowMapping) -> str:
    """The scope of a resolved unit: `L:<path>` for a legacy unit, `C:<current_path>` for a
    2025 unit (which holds the history of the legacy units merged into it)."""
    edition = str(unit["edition"])
    path = unit["current_path"] if edition == "2025" else unit["path"]
    return ("C:" if edition == "2025" else "L:") + str(path)


TRANSFER_COLUMNS = """
    t.id, t.external_id, t.kind, t.stage, t.sign, t.unit_id, u.code AS unit_code,
    u.name AS unit_name, u.edition, t.source_code, s.name_vi AS source_name, t.amount,
    t.value_date, t.period, a.purpose, t.work_id, w.code AS work_code, t.pledge_id, t.reverses,
    r.id AS reversed_by, t.in_kind_kind, t.quantity, k.quantity_unit, t.households, t.rate_id,
    t.rate_vnd, t.memo, t.recorded_by, t.import_job_id, t.posted_at, t.body_hash
"""
TRANSFER_FROM = """
    FROM funding.transfers t
    JOIN funding.units u ON u.id = t.unit_id
    JOIN funding.sources s ON s.code = t.source_code
    JOIN funding.accounts a ON a.id = t.debit_account_id
    LEFT JOIN funding.works w ON w.id = t.work_id
    LEFT JOIN funding.in_kind_kinds k ON k.code = t.in_kind_kind
    LEFT JOIN funding.transfers r ON r.reverses = t.id
"""


class ReferenceRepository:
    """Sources, in-kind kinds, default valuation rates and the units, loaded from packages."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def checksum(self, dataset: str) -> str | None:
        row = await self.session.execute(
            text("SELECT checksum FROM funding.reference_loads WHERE dataset = :d"), {"d": dataset}
        )
        return row.scalar_one_or_none()

    async def mark_loaded(self, dataset: str, checksum: str) -> None:
        await self.session.execute(
            text(
                "INSERT INTO funding.reference_loads (dataset, checksum) VALUES (:d, :c)"
                " ON CONFLICT (dataset) DO UPDATE SET checksum = excluded.checksum,"
                " loaded_at = now()"
            ),
            {"d": dataset, "c": checksum},
        )

    async def load_taxonomy(self, tax: Taxonomy) -> None:
        """Upsert groups, sources and kinds (never deleting a code), and add default rates."""
        s = self.session
        for i, g in enumerate(tax.groups):
            await s.execute(
                text(
                    "INSERT INTO funding.source_groups (code, name_vi, name_en, sort)"
                    " VALUES (:c, :vi, :en, :o) ON CONFLICT (code) DO UPDATE SET"
                    " name_vi = excluded.name_vi, name_en = excluded.name_en, sort = excluded.sort"
                ),
                {"c": g.code, "vi": g.name_vi, "en": g.name_en, "o": i},
            )
        for i, src in enumerate(tax.sources):
            await s.execute(
                text(
                    "INSERT INTO funding.sources (code, group_code, name_vi, name_en, in_kind,"
                    " valid_from, valid_to, sort, taxonomy_version)"
                    " VALUES (:c, :g, :vi, :en, :ik, :vf, :vt, :o, :v)"
                    " ON CONFLICT (code) DO UPDATE SET group_code = excluded.group_code,"
                    " name_vi = excluded.name_vi, name_en = excluded.name_en,"
                    " in_kind = excluded.in_kind, valid_from = excluded.valid_from,"
                    " valid_to = excluded.valid_to, sort = excluded.sort,"
                    " taxonomy_version = excluded.taxonomy_version"
                ),
                {
                    "c": src.code,
                    "g": src.group,
                    "vi": src.name_vi,
                    "en": src.name_en,
                    "ik": src.in_kind,
                    "vf": src.valid_from,
                    "vt": src.valid_to,
                    "o": i,
                    "v": tax.version,
                },
            )
        for i, k in enumerate(tax.in_kind_kinds):
            await s.execute(
                text(
                    "INSERT INTO funding.in_kind_kinds (code, name_vi, name_en, quantity_unit,"
                    " quantity_unit_vi, sort) VALUES (:c, :vi, :en, :qu, :quvi, :o)"
                    " ON CONFLICT (code) DO UPDATE SET name_vi = excluded.name_vi,"
                    " name_en = excluded.name_en, quantity_unit = excluded.quantity_unit,"
                    " quantity_unit_vi = excluded.quantity_unit_vi, sort = excluded.sort"
                ),
                {
                    "c": k.code,
                    "vi": k.name_vi,
                    "en": k.name_en,
                    "qu": k.quantity_unit,
                    "quvi": k.quantity_unit_vi,
                    "o": i,
                },
            )
        for r in tax.valuation_rates:
            await s.execute(
                text(
                    "INSERT INTO funding.valuation_rates (province_code, kind, valid_from,"
                    " valid_to, rate_vnd, verified, source_note, recorded_by)"
                    " VALUES ('', :k, :vf, :vt, :r, :v, :n, 'catalog')"
                    " ON CONFLICT (province_code, kind, valid_from) DO NOTHING"
                ),
                {
                    "k": r.kind,
                    "vf": r.valid_from,
                    "vt": r.valid_to,
                    "r": r.rate_vnd,
                    "v": r.verified,
                    "n": r.source_note,
                },
            )

    async def load_units(self, data: NationalUnits) -> int:
        """Upsert both editions of the national units with their paths (set-wise, via COPY)."""
        primary = {r.predecessor_code: r.successor_code for r in data.lineage if r.is_primary}
        path_2025 = {u.code: u.path for u in data.units if u.edition.value == "2025"}
        rows: list[tuple[Any, ...]] = []
        for u in data.units:
            if u.level.value == "village":
                continue
            if u.edition.value == "2025":
                current: str | None = u.path
            else:
                successor = primary.get(u.code)
                current = path_2025.get(successor) if successor else None
            rows.append(
                (
                    u.code,
                    u.edition.value,
                    u.level.value,
                    u.name,
                    u.province_code,
                    u.path,
                    current,
                    u.valid_from,
                    u.valid_to,
                )
            )
        conn = await raw_connection(self.session)
        await conn.execute(
            "CREATE TEMP TABLE units_stage (LIKE funding.units) ON COMMIT DROP;"
            " ALTER TABLE units_stage DROP COLUMN id"
        )
        columns = [
            "code", "edition", "level", "name", "province_code", "path", "current_path",
            "valid_from", "valid_to",
        ]  # fmt: skip
        await conn.copy_records_to_table("units_stage", columns=columns, records=rows)
        cols = ", ".join(columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[2:])
        await conn.execute(
            f"INSERT INTO funding.units ({cols}) SELECT {cols} FROM units_stage"
            f" ON CONFLICT (edition, code) DO UPDATE SET {updates}"
            f" WHERE ({', '.join('funding.units.' + c for c in columns[2:])})"
            f" IS DISTINCT FROM ({', '.join('excluded.' + c for c in columns[2:])})"
        )
        return len(rows)


class LedgerRepository:
    """Units at a date, accounts, and the posting of transfers."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def unit_at(self, code: str, on: date) -> RowMapping | None:
        result = await self.session.execute(
            text(
                "SELECT u.id, u.code, u.edition, u.level, u.name, u.province_code, u.path,"
                " u.current_path, u.valid_from, u.valid_to FROM funding.units u"
                f" WHERE u.code = :c AND {UNIT_AT.format(d=':d')}"
                " ORDER BY u.valid_from DESC NULLS LAST LIMIT 1"
            ),
            {"c": code, "d": on},
        )
        return result.mappings().first()

    async def source(self, code: str) -> RowMapping | None:
        result = await self.session.execute(
            text("SELECT * FROM funding.sources WHERE code = :c"), {"c": code}
        )
        return result.mappings().first()

    async def sources(self) -> Sequence[RowMapping]:
        result = await self.session.execute(
            text(
                "SELECT s.*, g.name_vi AS group_name_vi, g.name_en AS group_name_en"
                " FROM funding.sources s JOIN funding.source_groups g ON g.code = s.group_code"
                " ORDER BY g.sort, s.sort"
            )
        )
        return result.mappings().all()

    async def source_groups(self) -> Sequence[RowMapping]:
        result = await self.session.execute(
            text("SELECT * FROM funding.source_groups ORDER BY sort")
        )
        return result.mappings().all()

    async def in_kind_kind(self, code: str) -> RowMapping | None:
        result = await self.session.execute(
            text("SELECT * FROM funding.in_kind_kinds WHERE code = :c"), {"c": code}
        )
        return result.mappings().first()

    async def in_kind_kinds(self) -> Sequence[RowMapping]:
        result = await self.session.execute(
            text("SELECT * FROM funding.in_kind_kinds ORDER BY sort")
        )
        return result.mappings().all()

    async def rate_at(self, province_code: str, kind: str, on: date) -> RowMapping | None:
        """The valuation rate in force: the province's own if it has one, else the national."""
        result = await self.session.execute(
            text(
                "SELECT id, province_code, kind, rate_vnd, verified FROM funding.valuation_rates"
                " WHERE province_code IN (:p, '') AND kind = :k AND valid_from <= :d"
                " AND (valid_to IS NULL OR valid_to >= :d)"
                " ORDER BY province_code = '' , valid_from DESC LIMIT 1"
            ),
            {"p": province_code, "k": kind, "d": on},
        )
        return result.mappings().first()

    async def work_by_code(self, unit_id: int, code: str) -> RowMapping | None:
        result = await self.session.execute(
            text("SELECT * FROM funding.works WHERE unit_id = :u AND code = :c"),
            {"u": unit_id, "c": code},
        )
        return result.mappings().first()

    async def post(self, values: dict[str, Any]) -> tuple[uuid.UUID, bool, datetime]:
        """Post one checked transfer through `funding.post_transfer` (one round trip: accounts
        opened if new, the transfer inserted); (id, created, posted_at), created False when
        the external id was already taken."""
        result = await self.session.execute(
            text("SELECT * FROM funding.post_transfer(CAST(:p AS jsonb))"),
            {"p": orjson.dumps(values, default=str).decode()},
        )
        row = result.one()
        return row.transfer_id, bool(row.created), row.posted_at

    async def insert_transfer(self, values: dict[str, Any]) -> bool:
        """Insert one posting; False when its external id is already taken (nothing written)."""
        cols = ", ".join(values)
        marks = ", ".join(f":{c}" for c in values)
        result = await self.session.execute(
            text(
                f"INSERT INTO funding.transfers ({cols}) VALUES ({marks})"
                " ON CONFLICT ON CONSTRAINT uq_transfers_external_id DO NOTHING RETURNING id"
            ),
            values,
        )
        return result.first() is not None

    async def transfer(self, transfer_id: uuid.UUID) -> RowMapping | None:
        result = await self.session.execute(
            text(f"SELECT {TRANSFER_COLUMNS} {TRANSFER_FROM} WHERE t.id = :id"),
            {"id": transfer_id},
        )
        return result.mappings().first()

    async def transfer_by_external_id(self, external_id: str) -> RowMapping | None:
        result = await self.session.execute(
            text(f"SELECT {TRANSFER_COLUMNS} {TRANSFER_FROM} WHERE t.external_id = :e"),
            {"e": external_id},
        )
        return result.mappings().first()

    async def list_transfers(
        self,
        *,
        scope: str | None,
        date_from: date | None,
        date_to: date | None,
        after: tuple[date, uuid.UUID] | None,
        limit: int,
    ) -> tuple[list[RowMapping], int]:
        """A page of transfers, newest value date first (keyset on value_date, id)."""
        where = ["TRUE"]
        params: dict[str, Any] = {"lim": limit + 1}
        if scope is not None:
            where.append(f"t.unit_id IN ({UNITS_IN_SCOPE})")
            params["scope"] = scope
        if date_from is not None:
            where.append("t.value_date >= :df")
            params["df"] = date_from
        if date_to is not None:
            where.append("t.value_date <= :dt")
            params["dt"] = date_to
        total = (
            await self.session.execute(
                text(
                    "SELECT count(*) FROM funding.transfers t JOIN funding.units u"
                    f" ON u.id = t.unit_id WHERE {' AND '.join(where)}"
                ),
                params,
            )
        ).scalar_one()
        if after is not None:
            where.append("(t.value_date, t.id) < (:ad, :aid)")
            params.update(ad=after[0], aid=after[1])
        rows = (
            await self.session.execute(
                text(
                    f"SELECT {TRANSFER_COLUMNS} {TRANSFER_FROM} WHERE {' AND '.join(where)}"
                    " ORDER BY t.value_date DESC, t.id DESC LIMIT :lim"
                ),
                params,
            )
        ).mappings()
        return list(rows), int(total)

    async def balances(self, unit_id: int) -> Sequence[RowMapping]:
        """Every account of a unit with its debits, credits and balance (debits − credits)."""
        result = await self.session.execute(
            text(
                "WITH t AS (SELECT debit_account_id, credit_account_id, amount"
                "   FROM funding.transfers WHERE unit_id = :u),"
                " d AS (SELECT debit_account_id AS id, sum(amount) AS total FROM t GROUP BY 1),"
                " c AS (SELECT credit_account_id AS id, sum(amount) AS total FROM t GROUP BY 1)"
                " SELECT a.id, a.period, a.purpose, a.source_code, a.role, a.work_id,"
                " coalesce(d.total, 0) AS debits, coalesce(c.total, 0) AS credits"
                " FROM funding.accounts a LEFT JOIN d ON d.id = a.id LEFT JOIN c ON c.id = a.id"
                " WHERE a.unit_id = :u ORDER BY a.period, a.source_code, a.role, a.work_id"
            ),
            {"u": unit_id},
        )
        return result.mappings().all()
