"""SQL of yearly targets and their progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession


class TargetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace(self, unit_id: int, year: int, rows: Sequence[dict[str, Any]]) -> None:
        """The year's targets become exactly `rows` (a PUT of the whole plan)."""
        await self.session.execute(
            text("DELETE FROM criteria.targets WHERE unit_id = :u AND year = :y"),
            {"u": unit_id, "y": year},
        )
        if rows:
            await self.session.execute(
                text(
                    "INSERT INTO criteria.targets (unit_id, year, kind, label_vi, quantity,"
                    " achieved_manual, note, updated_by) VALUES (:unit_id, :year, :kind,"
                    " :label_vi, :quantity, :achieved_manual, :note, :updated_by)"
                ),
                list(rows),
            )

    async def with_progress(self, unit_id: int, year: int, path: str) -> list[RowMapping]:
        """Each target with the titles of its kind that took effect in the year, on the unit or
        below it, and were not revoked by the year's end."""
        result = await self.session.execute(
            text(
                "SELECT t.kind, t.label_vi, t.quantity, t.achieved_manual, t.note, t.updated_by,"
                " t.updated_at, (SELECT count(*) FROM criteria.recognised_titles r"
                "   JOIN criteria.units u ON u.id = r.unit_id"
                "   WHERE r.title = t.kind AND r.effective_on BETWEEN :start AND :end"
                "   AND (r.revoked_on IS NULL OR r.revoked_on > :end)"
                "   AND (u.id = :u OR u.path LIKE :below)) AS achieved_titles"
                " FROM criteria.targets t WHERE t.unit_id = :u AND t.year = :y ORDER BY t.kind"
            ),
            {
                "u": unit_id,
                "y": year,
                "start": date(year, 1, 1),
                "end": date(year, 12, 31),
                "below": path + ".%",
            },
        )
        return list(result.mappings())
