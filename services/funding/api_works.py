"""REST routes of works, their obligations, construction debt and valuation rates."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from services.funding import works
from services.funding.api import CodePath
from services.funding.schemas.works import (
    ConstructionDebtOut,
    ObligationIn,
    ObligationOut,
    ObligationReversalIn,
    RateIn,
    RateOut,
    RatesOut,
    WorkIn,
    WorkKindOut,
    WorkOut,
    WorkPage,
)
from shared import clock
from shared.authz import RecordedBy
from shared.db import SessionDep
from shared.errors import problem_responses, replay_response
from shared.pagination import Cursor, Limit, Page
from shared.replay import IdempotencyKey

router = APIRouter(prefix="/v1", tags=["works and construction debt"])

WorkId = Annotated[int, Path(ge=1, le=2**62, description="Work id")]
AsOf = Annotated[date | None, Query(description="Which unit the code names (default today)")]
ProvincePath = Annotated[str, Path(pattern=r"^\d{2}$", description="Province code")]
KindPath = Annotated[str, Path(pattern=r"^[a-z_]{1,40}$", description="In-kind kind")]


@router.get("/work-kinds", summary="Kinds of works (loại công trình) with their labels")
async def work_kinds() -> list[WorkKindOut]:
    return works.work_kinds()


@router.post(
    "/units/{code}/works",
    status_code=status.HTTP_201_CREATED,
    summary="Record a work of a unit (idempotent on the unit and the work's code)",
    responses={**replay_response(WorkOut), **problem_responses(404, 409, 422)},
)
async def create_work(
    code: CodePath,
    body: WorkIn,
    session: SessionDep,
    actor: RecordedBy,
    response: Response,
    as_of: AsOf = None,
) -> WorkOut:
    out = await works.create_work(session, code, as_of or clock.today(), body, recorded_by=actor)
    if out.replayed:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/v1/works/{out.id}"
    return out


@router.get(
    "/units/{code}/works",
    summary="Works of a unit and everything below it, with committed, accepted, paid, settled "
    "and debt",
    responses=problem_responses(404, 422),
)
async def list_works(
    code: CodePath,
    session: SessionDep,
    as_of: AsOf = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> WorkPage:
    return await works.list_works(session, code, as_of or clock.today(), cursor=cursor, limit=limit)


@router.get("/works/{work_id}", summary="A work", responses=problem_responses(404, 422))
async def get_work(work_id: WorkId, session: SessionDep) -> WorkOut:
    return await works.get_work(session, work_id)


@router.get(
    "/works/{work_id}/obligations",
    summary="What is owed on a work: contracts, acceptances and their corrections",
    responses=problem_responses(404, 422),
)
async def list_obligations(
    work_id: WorkId, session: SessionDep, cursor: Cursor = None, limit: Limit = 100
) -> Page[ObligationOut]:
    return await works.list_obligations(session, work_id, cursor=cursor, limit=limit)


@router.post(
    "/works/{work_id}/obligations",
    status_code=status.HTTP_201_CREATED,
    summary="Record a contract value or an accepted volume on a work",
    responses={**replay_response(ObligationOut), **problem_responses(404, 409, 422)},
)
async def add_obligation(
    work_id: WorkId,
    body: ObligationIn,
    session: SessionDep,
    actor: RecordedBy,
    response: Response,
    key: IdempotencyKey = None,
) -> ObligationOut:
    out = await works.add_obligation(session, work_id, body, key=key, recorded_by=actor)
    if out.replayed:
        response.status_code = status.HTTP_200_OK
    return out


@router.post(
    "/works/{work_id}/obligations/{obligation_id}/reversal",
    status_code=status.HTTP_201_CREATED,
    summary="Correct an obligation: records its opposite amount (at most once)",
    responses={**replay_response(ObligationOut), **problem_responses(404, 409, 422)},
)
async def reverse_obligation(
    work_id: WorkId,
    obligation_id: Annotated[int, Path(ge=1, le=2**62)],
    body: ObligationReversalIn,
    session: SessionDep,
    actor: RecordedBy,
    response: Response,
    key: IdempotencyKey = None,
) -> ObligationOut:
    out = await works.reverse_obligation(
        session, work_id, obligation_id, body, key=key, recorded_by=actor
    )
    if out.replayed:
        response.status_code = status.HTTP_200_OK
    return out


@router.get(
    "/units/{code}/construction-debt",
    summary="Construction debt (nợ đọng XDCB) of a unit and everything below it as of a date",
    description=(
        "Per work: obligation = max(Σ contracts, Σ acceptances) dated on or before `as_of`; "
        "paid = Σ disbursements (reversals subtract) with value date on or before `as_of`; "
        "debt = max(0, obligation − paid). The unit's debt is the sum over its works; "
        "`has_debt` true means recognition condition 3 (QĐ 18/2022) is not met. `as_of` also "
        "picks the unit the code names; a 2025 commune includes the legacy communes merged "
        "into it."
    ),
    responses=problem_responses(404, 422),
)
async def construction_debt(
    code: CodePath,
    session: SessionDep,
    as_of: Annotated[date | None, Query(description="The date (default today)")] = None,
) -> ConstructionDebtOut:
    return await works.construction_debt(session, code, as_of or clock.today())


@router.get(
    "/valuation-rates",
    summary="Valuation rates of in-kind gifts: national defaults and provinces' own",
    responses=problem_responses(422),
)
async def list_rates(
    session: SessionDep,
    province: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
    on: Annotated[date | None, Query(description="Only the rates in force that day")] = None,
) -> RatesOut:
    return await works.list_rates(session, province=province, kind=kind, on=on)


@router.put(
    "/valuation-rates/{province}/{kind}",
    status_code=status.HTTP_200_OK,
    summary="Set a province's valuation rate for a period (201 when a new period is created)",
    description=(
        "The period is keyed by `valid_from`. A rate that has valued a posting keeps its rate "
        "for ever: close it with `valid_to` and add a new one from a later `valid_from`. "
        "Periods of the same province and kind never overlap (409 `valuation.overlap`)."
    ),
    responses={
        201: {"model": RateOut, "description": "A new period was created"},
        **problem_responses(409, 422),
    },
)
async def put_rate(
    province: ProvincePath,
    kind: KindPath,
    body: RateIn,
    session: SessionDep,
    actor: RecordedBy,
    response: Response,
) -> RateOut:
    out, created = await works.put_rate(session, province, kind, body, recorded_by=actor)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return out
