"""SQL of recognised titles, the event inbox and the derived indicators that read them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

HELD_AT = "t.effective_on <= {d} AND (t.revoked_on IS NULL OR t.revoked_on > {d})"


class TitleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim_event(self, event_id: uuid.UUID, event_type: str) -> bool:
        """Record the event in the inbox; False when it was already applied."""
        result = await self.session.execute(
            text(
                "INSERT INTO criteria.inbox (event_id, event_type) VALUES (:id, :t)"
                " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
            ),
            {"id": event_id, "t": event_type},
        )
        return result.first() is not None

    async def grant(
        self,
        *,
        unit_id: int,
        title: str,
        year: int,
        decision_number: str,
        decision_date: date,
        effective_on: date,
        event_id: uuid.UUID,
    ) -> None:
        await self.session.execute(
            text(
                "INSERT INTO criteria.recognised_titles (unit_id, title, year, decision_number,"
                " decision_date, effective_on, granted_event_id)"
                " VALUES (:u, :t, :y, :n, :dd, :e, :ev)"
            ),
            {
                "u": unit_id,
                "t": title,
                "y": year,
                "n": decision_number,
                "dd": decision_date,
                "e": effective_on,
                "ev": event_id,
            },
        )

    async def revoke(
        self,
        *,
        unit_id: int,
        title: str,
        revoked_on: date,
        decision_number: str,
        event_id: uuid.UUID,
    ) -> int:
        """Mark the title held on `revoked_on` as revoked; returns how many rows changed."""
        result = await self.session.execute(
            text(
                "UPDATE criteria.recognised_titles t SET revoked_on = :r,"
                " revocation_decision = :n, revoked_event_id = :ev, updated_at = now()"
                " WHERE t.unit_id = :u AND t.title = :t AND t.revoked_on IS NULL"
                " AND t.effective_on <= :r"
            ),
            {"u": unit_id, "t": title, "r": revoked_on, "n": decision_number, "ev": event_id},
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def of_units(self, unit_ids: Sequence[int]) -> dict[int, list[RowMapping]]:
        """Each unit's titles, oldest first (a unit with none is absent)."""
        result = await self.session.execute(
            text(
                "SELECT unit_id, title, year, decision_number, decision_date, effective_on,"
                " revoked_on, revocation_decision FROM criteria.recognised_titles"
                " WHERE unit_id = ANY(CAST(:ids AS bigint[])) ORDER BY unit_id, effective_on, id"
            ),
            {"ids": list(unit_ids)},
        )
        out: dict[int, list[RowMapping]] = {}
        for row in result.mappings():
            out.setdefault(row["unit_id"], []).append(row)
        return out

    async def holds(self, unit_ids: Sequence[int], title: str, on: date) -> set[int]:
        result = await self.session.execute(
            text(
                "SELECT DISTINCT t.unit_id FROM criteria.recognised_titles t"
                " WHERE t.unit_id = ANY(CAST(:ids AS bigint[])) AND t.title = :title AND "
                + HELD_AT.format(d=":d")
            ),
            {"ids": list(unit_ids), "title": title, "d": on},
        )
        return {row.unit_id for row in result}

    async def counts_below(
        self, unit_ids: Sequence[int], level: str, title: str, on: date
    ) -> dict[int, tuple[int, int]]:
        """For each unit: (units of `level` below it valid on `on`, how many hold `title`)."""
        result = await self.session.execute(
            text(
                "SELECT p.id, count(c.id) AS total, count(c.id) FILTER (WHERE EXISTS ("
                "   SELECT 1 FROM criteria.recognised_titles t WHERE t.unit_id = c.id"
                "   AND t.title = :title AND " + HELD_AT.format(d=":d") + ")) AS holding"
                " FROM criteria.units p JOIN criteria.units c ON c.path LIKE p.path || '.%'"
                "  AND c.level = :level"
                "  AND (c.valid_from IS NULL OR c.valid_from <= :d)"
                "  AND (c.valid_to IS NULL OR c.valid_to >= :d)"
                " WHERE p.id = ANY(CAST(:ids AS bigint[])) GROUP BY p.id"
            ),
            {"ids": list(unit_ids), "level": level, "title": title, "d": on},
        )
        return {row.id: (int(row.total), int(row.holding)) for row in result}

    async def current_value_of(
        self, unit_ids: Sequence[int], set_code: str, indicator: str, year: int
    ) -> dict[int, RowMapping]:
        result = await self.session.execute(
            text(
                "SELECT DISTINCT ON (unit_id) unit_id, value_bool, value_num"
                " FROM criteria.indicator_values WHERE unit_id = ANY(CAST(:ids AS bigint[]))"
                " AND set_code = :s AND indicator_code = :i AND year = :y"
                " ORDER BY unit_id, as_of DESC, id DESC"
            ),
            {"ids": list(unit_ids), "s": set_code, "i": indicator, "y": year},
        )
        return {row["unit_id"]: row for row in result.mappings()}

    async def profiles_of(self, unit_ids: Sequence[int]) -> dict[int, RowMapping]:
        result = await self.session.execute(
            text(
                "SELECT unit_id, region, commune_group, specially_disadvantaged"
                " FROM criteria.unit_profiles WHERE unit_id = ANY(CAST(:ids AS bigint[]))"
            ),
            {"ids": list(unit_ids)},
        )
        return {row["unit_id"]: row for row in result.mappings()}

    async def revoked_below(
        self, unit_ids: Sequence[int], level: str, title: str, on: date
    ) -> dict[int, tuple[int, int]]:
        """For each unit: (units of `level` below it valid on `on`, how many of those have had
        `title` revoked and do not hold it)."""
        result = await self.session.execute(
            text(
                "SELECT p.id, count(c.id) AS total, count(c.id) FILTER (WHERE EXISTS ("
                "   SELECT 1 FROM criteria.recognised_titles t WHERE t.unit_id = c.id"
                "   AND t.title = :title AND t.revoked_on <= :d) AND NOT EXISTS ("
                "   SELECT 1 FROM criteria.recognised_titles t WHERE t.unit_id = c.id"
                "   AND t.title = :title AND " + HELD_AT.format(d=":d") + ")) AS revoked"
                " FROM criteria.units p LEFT JOIN criteria.units c ON c.path LIKE p.path || '.%'"
                "  AND c.level = :level"
                "  AND (c.valid_from IS NULL OR c.valid_from <= :d)"
                "  AND (c.valid_to IS NULL OR c.valid_to >= :d)"
                " WHERE p.id = ANY(CAST(:ids AS bigint[])) GROUP BY p.id"
            ),
            {"ids": list(unit_ids), "level": level, "title": title, "d": on},
        )
        return {row.id: (int(row.total), int(row.revoked)) for row in result}
