"""Yearly targets and the progress against them."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria.errors import UnitNotFound
from services.criteria.repository import UnitRepository
from services.criteria.repository.targets import TargetRepository
from services.criteria.schemas.targets import TargetKey, TargetOut, TargetsIn


async def get_targets(session: AsyncSession, code: str, year: int, as_of: date) -> list[TargetOut]:
    """A title kind counts recognitions that took effect in the year on the unit or below it
    and still stood at its end; other kinds report the manually given figure."""
    unit = await UnitRepository(session).get(code, as_of)
    if unit is None:
        raise UnitNotFound(code, as_of)
    rows = await TargetRepository(session).with_progress(unit["id"], year, unit["path"])
    out = []
    for r in rows:
        manual = r["achieved_manual"] is not None
        achieved = int(r["achieved_manual"] if manual else r["achieved_titles"])
        out.append(
            TargetOut(
                kind=r["kind"],
                label_vi=r["label_vi"],
                quantity=r["quantity"],
                achieved=achieved,
                source="manual" if manual else "titles",
                remaining=max(0, r["quantity"] - achieved),
                met=achieved >= r["quantity"],
                note=r["note"],
                updated_by=r["updated_by"],
                updated_at=r["updated_at"],
            )
        )
    return out


async def put_targets(
    session: AsyncSession, code: str, year: int, as_of: date, body: TargetsIn, by: str | None
) -> list[TargetOut]:
    unit = await UnitRepository(session).get(code, as_of)
    if unit is None:
        raise UnitNotFound(code, as_of)
    await TargetRepository(session).replace(
        unit["id"],
        year,
        [
            {**t.model_dump(), "unit_id": unit["id"], "year": year, "updated_by": by}
            for t in body.targets
        ],
    )
    return await get_targets(session, code, year, as_of)


async def lookup_targets(
    session: AsyncSession, keys: list[TargetKey]
) -> list[list[TargetOut] | None]:
    """Targets of many (unit, year) keys in key order; null where the unit is unknown."""
    out: list[list[TargetOut] | None] = []
    for key in keys:
        try:
            out.append(await get_targets(session, key.unit, key.year, key.as_of))
        except UnitNotFound:
            out.append(None)
    return out
