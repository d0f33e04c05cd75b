"""REST routes of recognised titles and the title events that feed them."""

from __future__ import annotations

from fastapi import APIRouter

from services.criteria import titles
from services.criteria.api import AsOf, CodePath
from services.criteria.schemas.titles import TitleEvent, TitleEventResult, TitleOut
from shared.clock import today
from shared.db import SessionDep
from shared.errors import problem_responses

router = APIRouter(prefix="/v1", tags=["recognised titles"])


@router.post(
    "/events/titles",
    response_model=TitleEventResult,
    responses=problem_responses(404, 409, 422),
    summary="Apply a recognition.granted / recognition.revoked event (idempotent by event_id)",
    description="The consumer side of appraisal's outbox in the distributed mode; a "
    "redelivered event answers `applied: false` and changes nothing.",
)
async def apply_title_event(session: SessionDep, body: TitleEvent) -> TitleEventResult:
    return await titles.apply_title_event(session, body)


@router.get(
    "/units/{code}/titles",
    response_model=list[TitleOut],
    responses=problem_responses(404, 422),
    summary="Titles the unit holds or held, with their decisions",
)
async def list_titles(session: SessionDep, code: CodePath, as_of: AsOf = None) -> list[TitleOut]:
    return await titles.titles_of(session, code, as_of or today())
