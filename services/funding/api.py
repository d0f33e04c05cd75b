"""REST routers of the funding ledger: sources, transfers, reversals, accounts."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from services.funding import service
from services.funding.schemas import (
    EXTERNAL_ID,
    UNIT_CODE,
    AccountsOut,
    InKindKindOut,
    ReversalIn,
    SourceOut,
    TransferIn,
    TransferOut,
    TransferPage,
)
from shared import clock
from shared.authz import RecordedBy
from shared.db import SessionDep
from shared.errors import problem_responses, replay_response

router = APIRouter(prefix="/v1", tags=["ledger"])

UnitCode = Annotated[str, Query(pattern=UNIT_CODE, description="Official unit code")]
CodePath = Annotated[str, Path(pattern=UNIT_CODE, description="Official unit code")]
AsOf = Annotated[date | None, Query(description="Which unit the code names (default today)")]


@router.get("/sources", summary="Funding sources (nguồn vốn) and their groups")
async def sources(session: SessionDep) -> list[SourceOut]:
    return await service.list_sources(session)


@router.get("/in-kind-kinds", summary="Kinds of in-kind gifts and their quantity units")
async def in_kind_kinds(session: SessionDep) -> list[InKindKindOut]:
    return await service.list_in_kind_kinds(session)


@router.post(
    "/transfers",
    status_code=status.HTTP_201_CREATED,
    summary="Post a transfer (idempotent on external_id)",
    responses={**replay_response(TransferOut), **problem_responses(404, 409, 422)},
)
async def post_transfer(
    body: TransferIn, session: SessionDep, response: Response, actor: RecordedBy
) -> TransferOut:
    out = await service.post_transfer(session, body, recorded_by=actor)
    if out.replayed:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/v1/transfers/{out.id}"
    return out


@router.get(
    "/transfers",
    summary="Transfers of a unit and everything below it, newest first",
    responses=problem_responses(404, 422),
)
async def list_transfers(
    session: SessionDep,
    unit: Annotated[str | None, Query(pattern=UNIT_CODE)] = None,
    as_of: AsOf = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TransferPage:
    return await service.list_transfers(
        session,
        unit=unit,
        as_of=as_of or clock.today(),
        date_from=date_from,
        date_to=date_to,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/transfers/by-external-id/{external_id}",
    summary="A transfer by its external id",
    responses=problem_responses(404),
)
async def transfer_by_external_id(
    external_id: Annotated[str, Path(pattern=EXTERNAL_ID)], session: SessionDep
) -> TransferOut:
    return await service.get_transfer_by_external_id(session, external_id)


@router.get("/transfers/{transfer_id}", summary="A transfer", responses=problem_responses(404))
async def get_transfer(transfer_id: uuid.UUID, session: SessionDep) -> TransferOut:
    return await service.get_transfer(session, transfer_id)


@router.post(
    "/transfers/{transfer_id}/reversal",
    status_code=status.HTTP_201_CREATED,
    summary="Reverse a transfer (bút toán đảo): nothing is updated or deleted",
    responses={**replay_response(TransferOut), **problem_responses(404, 409, 422)},
)
async def reverse_transfer(
    transfer_id: uuid.UUID,
    body: ReversalIn,
    session: SessionDep,
    actor: RecordedBy,
    response: Response,
) -> TransferOut:
    out = await service.reverse_transfer(session, transfer_id, body, recorded_by=actor)
    if out.replayed:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/v1/transfers/{out.id}"
    return out


@router.get(
    "/units/{code}/accounts",
    summary="A unit's ledger accounts with debits, credits and balances",
    responses=problem_responses(404),
)
async def unit_accounts(code: CodePath, session: SessionDep, as_of: AsOf = None) -> AccountsOut:
    return await service.unit_accounts(session, code, as_of or clock.today())
