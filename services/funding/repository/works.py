"""SQL of works, their obligations, construction debt and valuation rates.

A unit's scope (the unit and everything below it) follows the reports' rule: by `path` for a
legacy unit; by `current_path` for a unit of the 2025 edition, which takes in the legacy
communes (and provinces, with their districts) that passed into it, so debt incurred before the
2025 merger still counts for the commune that inherited the works."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.funding.repository import UNITS_IN_SCOPE, scope_of

WORK_COLUMNS = """
    w.id, w.unit_id, w.code, w.name, w.kind, w.set_code, w.criterion_number, w.planned_vnd,
    w.started_on, w.note, w.created_by, w.created_at,
    u.code AS unit_code, u.name AS unit_name, u.edition
"""

WORK_FIGURES = """
    coalesce(o.contract, 0)::bigint AS contract, coalesce(o.acceptance, 0)::bigint AS acceptance,
    coalesce(t.paid, 0)::bigint AS paid, coalesce(t.settled, 0)::bigint AS settled
  FROM funding.works w
  JOIN funding.units u ON u.id = w.unit_id
  LEFT JOIN LATERAL (
      SELECT sum(amount) FILTER (WHERE basis = 'contract') AS contract,
             sum(amount) FILTER (WHERE basis = 'acceptance') AS acceptance
        FROM funding.work_obligations WHERE work_id = w.id) o ON TRUE
  LEFT JOIN LATERAL (
      SELECT sum(sign * amount) FILTER (WHERE stage = 'disbursement') AS paid,
             sum(sign * amount) FILTER (WHERE stage = 'settlement') AS settled
        FROM funding.transfers WHERE work_id = w.id) t ON TRUE
"""

OBLIGATION_SELECT = """
SELECT o.id, o.work_id, w.code AS work_code, o.basis, o.amount, o.date, o.document, o.reverses,
       r.id AS reversed_by, o.recorded_by, o.recorded_at, o.idempotency_key, o.body_hash
  FROM funding.work_obligations o
  JOIN funding.works w ON w.id = o.work_id
  LEFT JOIN funding.work_obligations r ON r.reverses = o.id
"""

RATE_SELECT = """
SELECT r.id, r.province_code, r.kind, r.valid_from, r.valid_to, r.rate_vnd, r.verified,
       r.source_note, r.recorded_by, r.recorded_at,
       EXISTS (SELECT 1 FROM funding.transfers t WHERE t.rate_id = r.id) AS used
  FROM funding.valuation_rates r
"""


class WorksRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- works --------------------------------------------------------------------------

    async def insert_work(self, values: dict[str, Any]) -> int | None:
        """Insert a work; None when the unit already has one with this code."""
        cols = ", ".join(values)
        marks = ", ".join(f":{c}" for c in values)
        result = await self.session.execute(
            text(
                f"INSERT INTO funding.works ({cols}) VALUES ({marks})"
                " ON CONFLICT ON CONSTRAINT uq_works_unit_code DO NOTHING RETURNING id"
            ),
            values,
        )
        found = result.scalar_one_or_none()
        return None if found is None else int(found)

    async def work(self, work_id: int) -> RowMapping | None:
        result = await self.session.execute(
            text(f"SELECT {WORK_COLUMNS}, {WORK_FIGURES} WHERE w.id = :id"), {"id": work_id}
        )
        return result.mappings().first()

    async def work_by_code(self, unit_id: int, code: str) -> RowMapping | None:
        result = await self.session.execute(
            text(f"SELECT {WORK_COLUMNS}, {WORK_FIGURES} WHERE w.unit_id = :u AND w.code = :c"),
            {"u": unit_id, "c": code},
        )
        return result.mappings().first()

    async def works_page(
        self, unit: RowMapping, *, after_id: int | None, limit: int
    ) -> tuple[list[RowMapping], int]:
        """A page of the works of a unit's scope, in creation order (keyset on id)."""
        params: dict[str, Any] = {"scope": scope_of(unit), "after": after_id or 0, "lim": limit + 1}
        total = (
            await self.session.execute(
                text(f"SELECT count(*) FROM funding.works WHERE unit_id IN ({UNITS_IN_SCOPE})"),
                params,
            )
        ).scalar_one()
        rows = (
            await self.session.execute(
                text(
                    f"SELECT {WORK_COLUMNS}, {WORK_FIGURES}"
                    f" WHERE w.unit_id IN ({UNITS_IN_SCOPE}) AND w.id > :after"
                    " ORDER BY w.id LIMIT :lim"
                ),
                params,
            )
        ).mappings()
        return list(rows), int(total)

    async def debt_entries(
        self, unit: RowMapping, as_of: date
    ) -> tuple[list[RowMapping], list[RowMapping], list[RowMapping]]:
        """The works of a unit's scope, their obligations by (work, basis, date) and their
        disbursements by (work, value date), signed, dated on or before `as_of`."""
        params = {"scope": scope_of(unit), "d": as_of}
        works = (
            await self.session.execute(
                text(
                    f"SELECT {WORK_COLUMNS} FROM funding.works w"
                    " JOIN funding.units u ON u.id = w.unit_id"
                    f" WHERE w.unit_id IN ({UNITS_IN_SCOPE}) ORDER BY u.code, w.code, w.id"
                ),
                params,
            )
        ).mappings()
        obligations = (
            await self.session.execute(
                text(
                    "SELECT o.work_id, o.basis, o.date, sum(o.amount)::bigint AS amount"
                    " FROM funding.work_obligations o JOIN funding.works w ON w.id = o.work_id"
                    f" WHERE w.unit_id IN ({UNITS_IN_SCOPE}) AND o.date <= :d"
                    " GROUP BY 1, 2, 3"
                ),
                params,
            )
        ).mappings()
        payments = (
            await self.session.execute(
                text(
                    "SELECT t.work_id, t.value_date AS date, sum(t.sign * t.amount)::bigint"
                    " AS amount FROM funding.transfers t JOIN funding.works w ON w.id = t.work_id"
                    f" WHERE w.unit_id IN ({UNITS_IN_SCOPE}) AND t.stage = 'disbursement'"
                    " AND t.value_date <= :d GROUP BY 1, 2"
                ),
                params,
            )
        ).mappings()
        return list(works), list(obligations), list(payments)

    # --- obligations --------------------------------------------------------------------

    async def insert_obligation(self, values: dict[str, Any]) -> int | None:
        """Insert an obligation; None when its idempotency key is taken or (for a correction)
        the obligation is already corrected: nothing is written then."""
        cols = ", ".join(values)
        marks = ", ".join(f":{c}" for c in values)
        result = await self.session.execute(
            text(
                f"INSERT INTO funding.work_obligations ({cols}) VALUES ({marks})"
                " ON CONFLICT DO NOTHING RETURNING id"
            ),
            values,
        )
        found = result.scalar_one_or_none()
        return None if found is None else int(found)

    async def obligation(self, obligation_id: int) -> RowMapping | None:
        result = await self.session.execute(
            text(f"{OBLIGATION_SELECT} WHERE o.id = :id"), {"id": obligation_id}
        )
        return result.mappings().first()

    async def obligation_by_key(self, key: str) -> RowMapping | None:
        result = await self.session.execute(
            text(f"{OBLIGATION_SELECT} WHERE o.idempotency_key = :k"), {"k": key}
        )
        return result.mappings().first()

    async def obligations_of(
        self, work_id: int, after: tuple[date, int] | None, limit: int
    ) -> tuple[Sequence[RowMapping], int]:
        """At most `limit` obligations of the work after the key (date, id) `after`, in date
        order, and how many the work has."""
        keyset = " AND (o.date, o.id) > (:after_date, :after_id)" if after is not None else ""
        params: dict[str, Any] = {"w": work_id, "n": limit}
        if after is not None:
            params.update({"after_date": after[0], "after_id": after[1]})
        result = await self.session.execute(
            text(
                f"{OBLIGATION_SELECT} WHERE o.work_id = :w{keyset} ORDER BY o.date, o.id LIMIT :n"
            ),
            params,
        )
        total = await self.session.scalar(
            text("SELECT count(*) FROM funding.work_obligations WHERE work_id = :w"),
            {"w": work_id},
        )
        return result.mappings().all(), int(total or 0)

    # --- valuation rates ----------------------------------------------------------------

    async def lock_rates(self, province: str, kind: str) -> None:
        """Serialise writes of one (province, kind): the overlap check reads, then writes."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"funding.valuation_rates:{province}:{kind}"},
        )

    async def is_province(self, code: str) -> bool:
        result = await self.session.execute(
            text("SELECT 1 FROM funding.units WHERE level = 'province' AND code = :c LIMIT 1"),
            {"c": code},
        )
        return result.first() is not None

    async def rates(
        self, *, province: str | None, kind: str | None, on: date | None
    ) -> Sequence[RowMapping]:
        """Rates of a province and the national defaults (all provinces' when None)."""
        where = ["TRUE"]
        params: dict[str, Any] = {}
        if province is not None:
            where.append("r.province_code IN (:p, '')")
            params["p"] = province
        if kind is not None:
            where.append("r.kind = :k")
            params["k"] = kind
        if on is not None:
            where.append("r.valid_from <= :d AND (r.valid_to IS NULL OR r.valid_to >= :d)")
            params["d"] = on
        result = await self.session.execute(
            text(
                f"{RATE_SELECT} WHERE {' AND '.join(where)}"
                " ORDER BY r.kind, r.province_code, r.valid_from"
            ),
            params,
        )
        return result.mappings().all()

    async def rates_in_force(
        self, *, province: str, kind: str | None, on: date
    ) -> Sequence[RowMapping]:
        """Per kind, the rate a posting on `on` in `province` uses (the ledger's `rate_at`)."""
        params: dict[str, Any] = {"p": province, "d": on, "k": kind}
        result = await self.session.execute(
            text(
                f"SELECT DISTINCT ON (r.kind) * FROM ({RATE_SELECT}"
                " WHERE r.province_code IN (:p, '') AND r.valid_from <= :d"
                " AND (r.valid_to IS NULL OR r.valid_to >= :d)"
                " AND (CAST(:k AS text) IS NULL OR r.kind = :k)) r"
                " ORDER BY r.kind, r.province_code = '', r.valid_from DESC"
            ),
            params,
        )
        return result.mappings().all()

    async def rate(self, province: str, kind: str, valid_from: date) -> RowMapping | None:
        result = await self.session.execute(
            text(f"{RATE_SELECT} WHERE r.province_code = :p AND r.kind = :k AND r.valid_from = :f"),
            {"p": province, "k": kind, "f": valid_from},
        )
        return result.mappings().first()

    async def rate_by_id(self, rate_id: int) -> RowMapping:
        result = await self.session.execute(
            text(f"{RATE_SELECT} WHERE r.id = :id"), {"id": rate_id}
        )
        return result.mappings().one()

    async def overlapping_rates(
        self, province: str, kind: str, valid_from: date, valid_to: date | None, except_id: int
    ) -> Sequence[RowMapping]:
        """Rates of the same province and kind whose period meets [valid_from, valid_to]."""
        result = await self.session.execute(
            text(
                f"{RATE_SELECT} WHERE r.province_code = :p AND r.kind = :k AND r.id <> :x"
                " AND (r.valid_to IS NULL OR r.valid_to >= :f)"
                " AND (CAST(:t AS date) IS NULL OR r.valid_from <= :t)"
                " ORDER BY r.valid_from"
            ),
            {"p": province, "k": kind, "f": valid_from, "t": valid_to, "x": except_id},
        )
        return result.mappings().all()

    async def postings_outside(self, rate_id: int, valid_to: date | None) -> int:
        """How many postings valued with this rate are dated after `valid_to`."""
        if valid_to is None:
            return 0
        result = await self.session.execute(
            text("SELECT count(*) FROM funding.transfers WHERE rate_id = :r AND value_date > :t"),
            {"r": rate_id, "t": valid_to},
        )
        return int(result.scalar_one())

    async def insert_rate(self, values: dict[str, Any]) -> int:
        cols = ", ".join(values)
        marks = ", ".join(f":{c}" for c in values)
        result = await self.session.execute(
            text(f"INSERT INTO funding.valuation_rates ({cols}) VALUES ({marks}) RETURNING id"),
            values,
        )
        return int(result.scalar_one())

    async def update_rate(self, rate_id: int, values: dict[str, Any]) -> None:
        sets = ", ".join(f"{c} = :{c}" for c in values)
        await self.session.execute(
            text(f"UPDATE funding.valuation_rates SET {sets}, recorded_at = now() WHERE id = :id"),
            {**values, "id": rate_id},
        )
