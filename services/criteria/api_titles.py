"""REST routes of recognised titles and the title events that feed them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from services.criteria import targets, titles
from services.criteria.api import AsOf, CodePath
from services.criteria.schemas.targets import (
    TargetLookupRequest,
    TargetLookupResponse,
    TargetOut,
    TargetsIn,
)
from services.criteria.schemas.titles import (
    TitleEvent,
    TitleEventResult,
    TitleLookupRequest,
    TitleLookupResponse,
    TitleOut,
)
from services.criteria.values import default_as_of
from shared.authz import RecordedBy
from shared.clock import today
from shared.db import SessionDep
from shared.errors import problem_responses

router = APIRouter(prefix="/v1", tags=["recognised titles and targets"])
Year = Annotated[int, Path(ge=2010, le=2035, examples=[2023])]


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


@router.post(
    "/titles/lookup",
    response_model=TitleLookupResponse,
    responses=problem_responses(422),
    summary="Titles of many units by (code, as_of), answered in key order (for the gateway)",
)
async def lookup_titles(session: SessionDep, body: TitleLookupRequest) -> TitleLookupResponse:
    return TitleLookupResponse(items=await titles.lookup_titles(session, body.keys))


@router.get(
    "/units/{code}/targets/{year}",
    response_model=list[TargetOut],
    responses=problem_responses(404, 422),
    summary="The unit's targets for a year, with progress",
)
async def get_targets(
    session: SessionDep, code: CodePath, year: Year, as_of: AsOf = None
) -> list[TargetOut]:
    return await targets.get_targets(session, code, year, as_of or default_as_of(year))


@router.put(
    "/units/{code}/targets/{year}",
    response_model=list[TargetOut],
    responses=problem_responses(404, 422),
    summary="Set the unit's whole plan of targets for a year (idempotent)",
)
async def put_targets(
    session: SessionDep,
    recorded_by: RecordedBy,
    code: CodePath,
    year: Year,
    body: TargetsIn,
    as_of: AsOf = None,
) -> list[TargetOut]:
    return await targets.put_targets(
        session, code, year, as_of or default_as_of(year), body, recorded_by
    )


@router.post(
    "/targets/lookup",
    response_model=TargetLookupResponse,
    responses=problem_responses(422),
    summary="Targets of many (unit, year) keys, answered in key order",
)
async def lookup_targets(session: SessionDep, body: TargetLookupRequest) -> TargetLookupResponse:
    return TargetLookupResponse(items=await targets.lookup_targets(session, body.keys))
