"""Recognised titles: applying appraisal's events (idempotently) and reading them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria.errors import UnitNotFound
from services.criteria.repository import UnitRepository
from services.criteria.repository.titles import TitleRepository
from services.criteria.schemas import UnitKey
from services.criteria.schemas.titles import TitleEvent, TitleEventResult, TitleOut
from shared.errors import Conflict


class NothingToRevoke(Conflict):
    code = "title.not_held"

    def __init__(self, unit: str, title: str) -> None:
        super().__init__(
            f"Đơn vị '{unit}' không giữ danh hiệu '{title}' vào ngày thu hồi.",
            f"Unit '{unit}' does not hold '{title}' on the revocation date.",
        )


async def apply_title_event(session: AsyncSession, event: TitleEvent) -> TitleEventResult:
    """Apply a recognition or revocation once: a redelivered event id changes nothing."""
    unit = await UnitRepository(session).get(event.unit, event.unit_as_of)
    if unit is None:
        raise UnitNotFound(event.unit, event.unit_as_of)
    repo = TitleRepository(session)
    if not await repo.claim_event(event.event_id, event.type):
        return TitleEventResult(event_id=event.event_id, applied=False)
    effective = event.decision.effective_on or event.decision.date
    if event.type == "recognition.granted":
        await repo.grant(
            unit_id=unit["id"],
            title=event.title,
            year=event.year,
            decision_number=event.decision.number,
            decision_date=event.decision.date,
            effective_on=effective,
            event_id=event.event_id,
        )
    elif not await repo.revoke(
        unit_id=unit["id"],
        title=event.title,
        revoked_on=effective,
        decision_number=event.decision.number,
        event_id=event.event_id,
    ):
        raise NothingToRevoke(event.unit, event.title)
    return TitleEventResult(event_id=event.event_id, applied=True)


async def titles_of(session: AsyncSession, code: str, as_of: date) -> list[TitleOut]:
    unit = await UnitRepository(session).get(code, as_of)
    if unit is None:
        raise UnitNotFound(code, as_of)
    rows = await TitleRepository(session).of_units([unit["id"]])
    return [TitleOut.model_validate(dict(r)) for r in rows.get(unit["id"], [])]


async def lookup_titles(
    session: AsyncSession, keys: Sequence[UnitKey]
) -> list[list[TitleOut] | None]:
    """The titles of many units in key order (null where the unit is unknown): two statements
    whatever the number of keys."""
    units = await UnitRepository(session).get_many([(k.code, k.as_of) for k in keys])
    rows = await TitleRepository(session).of_units([u["id"] for u in units if u is not None])
    return [
        None
        if unit is None
        else [TitleOut.model_validate(dict(r)) for r in rows.get(unit["id"], [])]
        for unit in units
    ]
