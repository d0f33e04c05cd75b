"""REST routes of the criteria service (thin: parse, call the service, shape the answer)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from services.criteria import schemas, service, values
from services.criteria.domain.catalog import VariantSpec
from services.criteria.domain.evaluation import BasicallyMetRule
from services.criteria.models import UnitLevel
from shared.authz import RecordedBy
from shared.clock import today
from shared.db import SessionDep
from shared.errors import problem_responses, replay_response
from shared.pagination import Cursor, Limit, Page
from shared.validation import NoNul

router = APIRouter(prefix="/v1", tags=["units"])

CodePath = Annotated[str, Path(pattern=schemas.UNIT_CODE_PATTERN, examples=["395"])]
AsOf = Annotated[
    date | None,
    Query(description="The date the unit must be valid on (default: today in Vietnam)"),
]


@router.get(
    "/units/{code}",
    response_model=schemas.UnitOut,
    responses=problem_responses(404, 422),
    summary="A unit by its official code, as valid on `as_of`",
)
async def get_unit(session: SessionDep, code: CodePath, as_of: AsOf = None) -> schemas.UnitOut:
    return await service.get_unit(session, code, as_of or today())


@router.get(
    "/units",
    response_model=schemas.UnitPage,
    responses=problem_responses(404, 422),
    summary="List or search units",
    description="Units valid on `as_of`. With `parent_code`: its direct children, or with "
    "`level` every unit of that level below it. `search` ignores diacritics and case "
    "(`tho xuan` finds `Huyện Thọ Xuân`). Keyset pagination with `cursor`.",
)
async def list_units(
    session: SessionDep,
    parent_code: Annotated[str | None, Query(pattern=schemas.UNIT_CODE_PATTERN)] = None,
    level: UnitLevel | None = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    as_of: AsOf = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> schemas.UnitPage:
    return await service.list_units(
        session,
        as_of=as_of or today(),
        parent_code=parent_code,
        level=level,
        search=search,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/units/{code}/children",
    response_model=schemas.UnitPage,
    responses=problem_responses(404, 422),
    summary="Units below a unit",
)
async def list_children(
    session: SessionDep,
    code: CodePath,
    level: UnitLevel | None = None,
    as_of: AsOf = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> schemas.UnitPage:
    return await service.list_units(
        session,
        as_of=as_of or today(),
        parent_code=code,
        level=level,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/units/{code}/lineage",
    response_model=schemas.LineageOut,
    responses=problem_responses(404, 422),
    summary="What the unit came from and became in the 2025 reorganisation",
)
async def get_lineage(
    session: SessionDep, code: CodePath, as_of: AsOf = None
) -> schemas.LineageOut:
    return await service.get_lineage(session, code, as_of or today())


@router.post(
    "/units/{code}/villages",
    response_model=schemas.UnitOut,
    status_code=status.HTTP_201_CREATED,
    responses={**replay_response(schemas.UnitOut), **problem_responses(404, 409, 422)},
    summary="Add a village (thôn) under a commune",
    description="The village's code is `<commune code>-<local code>`. Sending the same village "
    "again answers 200 with the existing one; the same code with another name is a 409.",
)
async def create_village(
    session: SessionDep,
    response: Response,
    code: CodePath,
    body: schemas.VillageIn,
    as_of: AsOf = None,
) -> schemas.UnitOut:
    unit, created = await service.create_village(session, code, as_of or today(), body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return unit


# --- batch lookups, used by the gateway's DataLoaders -------------------------------------


@router.post(
    "/units/lookup",
    response_model=schemas.UnitLookupResponse,
    responses=problem_responses(422),
    summary="Many units by (code, as_of), answered in key order",
)
async def lookup_units(
    session: SessionDep, body: schemas.UnitLookupRequest
) -> schemas.UnitLookupResponse:
    return schemas.UnitLookupResponse(items=await service.lookup_units(session, body.keys))


@router.post(
    "/units/children/lookup",
    response_model=schemas.ChildrenLookupResponse,
    responses=problem_responses(422),
    summary="Pages of children for many units, answered in key order",
)
async def lookup_children(
    session: SessionDep, body: schemas.ChildrenLookupRequest
) -> schemas.ChildrenLookupResponse:
    return schemas.ChildrenLookupResponse(items=await service.lookup_children(session, body.keys))


@router.post(
    "/units/lineage/lookup",
    response_model=schemas.LineageLookupResponse,
    responses=problem_responses(422),
    summary="Lineage of many units, answered in key order",
)
async def lookup_lineage(
    session: SessionDep, body: schemas.UnitLookupRequest
) -> schemas.LineageLookupResponse:
    return schemas.LineageLookupResponse(items=await service.lookup_lineage(session, body.keys))


sets_router = APIRouter(prefix="/v1", tags=["criteria sets"])


@sets_router.get(
    "/criteria-sets",
    response_model=schemas.CriteriaSetList,
    responses=problem_responses(422),
    summary="The criteria sets, optionally of one level and in force on a date",
)
async def list_criteria_sets(
    session: SessionDep,
    level: UnitLevel | None = None,
    active_on: Annotated[date | None, Query(description="Only sets in force on this date")] = None,
) -> schemas.CriteriaSetList:
    return schemas.CriteriaSetList(
        items=await service.list_criteria_sets(session, level=level, active_on=active_on)
    )


@sets_router.get(
    "/criteria-sets/{code}",
    response_model=schemas.CriteriaSetOut,
    responses=problem_responses(404),
    summary="A whole set: criteria, indicators, thresholds by region or commune group and year",
)
async def get_criteria_set(
    session: SessionDep, code: Annotated[str, Path(max_length=64, examples=["xa-ntm-2021"]), NoNul]
) -> schemas.CriteriaSetOut:
    return await service.get_criteria_set(session, code)


@sets_router.post(
    "/criteria-sets/lookup",
    response_model=schemas.CriteriaSetLookupResponse,
    responses=problem_responses(422),
    summary="Many sets by code, answered in order (null where unknown)",
)
async def lookup_criteria_sets(
    session: SessionDep, body: schemas.CriteriaSetLookupRequest
) -> schemas.CriteriaSetLookupResponse:
    return schemas.CriteriaSetLookupResponse(
        items=await service.lookup_criteria_sets(session, body.codes)
    )


values_router = APIRouter(prefix="/v1", tags=["indicator values and evaluation"])
SetQuery = Annotated[str, Query(alias="set", max_length=64, examples=["xa-ntm-2021"]), NoNul]
YearQuery = Annotated[int, Query(ge=2010, le=2035, examples=[2023])]


@values_router.post(
    "/indicator-values",
    response_model=schemas.RecordSummary,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(422),
    summary="Record indicator values (atomic: all rows or none)",
    description="Each value is a new version; nothing is overwritten. A bad row rejects the "
    "whole batch with a 422 naming every failing row and field.",
)
async def record_values(
    session: SessionDep, body: schemas.ValuesIn, recorded_by: RecordedBy
) -> schemas.RecordSummary:
    return await values.record_values(session, body.values, recorded_by)


@values_router.get(
    "/units/{code}/indicator-values",
    response_model=list[schemas.ValueOut],
    responses=problem_responses(404, 422),
    summary="Current value of each indicator of a unit for a set and year",
)
async def current_values(
    session: SessionDep, code: CodePath, set_code: SetQuery, year: YearQuery, as_of: AsOf = None
) -> list[schemas.ValueOut]:
    return await values.current_values(
        session, code, set_code, year, as_of or values.default_as_of(year)
    )


@values_router.get(
    "/units/{code}/indicator-values/{indicator}/history",
    response_model=Page[schemas.ValueOut],
    responses=problem_responses(404, 422),
    summary="Every recorded version of one indicator value, newest first, with a cursor",
)
async def value_history(
    session: SessionDep,
    code: CodePath,
    indicator: Annotated[str, Path(pattern=r"^\d{1,2}\.\d{1,2}$")],
    set_code: SetQuery,
    year: YearQuery,
    as_of: AsOf = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[schemas.ValueOut]:
    return await values.value_history(
        session, code, set_code, year, indicator, as_of or values.default_as_of(year),
        cursor=cursor, limit=limit,
    )  # fmt: skip


@values_router.get(
    "/units/{code}/profile",
    response_model=schemas.ProfileOut,
    responses=problem_responses(404, 422),
    summary="The unit's region and commune group (which thresholds apply)",
)
async def get_profile(
    session: SessionDep, code: CodePath, as_of: AsOf = None
) -> schemas.ProfileOut:
    return await values.get_profile(session, code, as_of or today())


@values_router.put(
    "/units/{code}/profile",
    response_model=schemas.ProfileOut,
    responses=problem_responses(404, 422),
    summary="Set the unit's region, commune group and the specially-disadvantaged flag",
)
async def put_profile(
    session: SessionDep,
    recorded_by: RecordedBy,
    code: CodePath,
    body: schemas.ProfileIn,
    as_of: AsOf = None,
) -> schemas.ProfileOut:
    return await values.put_profile(session, code, as_of or today(), body, recorded_by)


@values_router.get(
    "/units/{code}/evaluation",
    response_model=schemas.EvaluationOut,
    responses=problem_responses(404, 422),
    summary="The unit against a criteria set for a year, explained indicator by indicator",
    description="Missing values are reported as missing, never as met or not met; a criterion "
    "with a missing indicator and no failing one is unknown (`met: null`).",
)
async def evaluate(
    session: SessionDep,
    code: CodePath,
    set_code: SetQuery,
    year: YearQuery,
    as_of: AsOf = None,
    basic_max_failed: Annotated[
        int | None,
        Query(
            ge=1,
            le=10,
            description="Planning label 'cơ bản đạt': at most this many failing "
            "indicators in a criterion (off when absent)",
        ),
    ] = None,
    basic_max_gap: Annotated[
        float, Query(ge=0, le=1, description="…each within this share of its threshold")
    ] = 0.1,
) -> schemas.EvaluationOut:
    rule = (
        BasicallyMetRule(max_failed_indicators=basic_max_failed, max_relative_gap=basic_max_gap)
        if basic_max_failed is not None
        else None
    )
    return await values.evaluate_unit(session, code, set_code, year, as_of, rule)


@values_router.post(
    "/evaluations/lookup",
    response_model=schemas.EvaluationLookupResponse,
    responses=problem_responses(422),
    summary="Evaluations of many (unit, set, year) keys, answered in key order",
)
async def lookup_evaluations(
    session: SessionDep, body: schemas.EvaluationLookupRequest
) -> schemas.EvaluationLookupResponse:
    return schemas.EvaluationLookupResponse(
        items=await values.lookup_evaluations(session, body.keys, summary=body.detail == "summary")
    )


@sets_router.put(
    "/criteria-sets/{code}/variants/{province}",
    response_model=schemas.CriteriaSetOut,
    responses=problem_responses(404, 422),
    summary="Create or replace a province's variant of a national set (`<code>@<province>`)",
    description="Overrides thresholds of existing indicators and adds indicators; criteria are "
    "never removed. Evaluate against it with `set=<code>@<province>`.",
)
async def put_variant(
    session: SessionDep,
    code: Annotated[str, Path(pattern=r"^[a-z0-9-]+$", max_length=64)],
    province: Annotated[str, Path(pattern=r"^\d{2}$")],
    body: VariantSpec,
) -> schemas.CriteriaSetOut:
    return await service.put_variant(session, code, province, body)
