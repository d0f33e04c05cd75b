"""REST routes of funding reports: a unit and everything below it (JSON and .xlsx), and a batch
of summaries for the gateway."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.funding import reports
from services.funding.api import CodePath
from services.funding.schemas.reports import FundingReportOut, SummaryLookupIn, SummaryLookupOut
from shared.db import SessionDep
from shared.errors import problem_responses

router = APIRouter(prefix="/v1", tags=["funding reports"])

YearQuery = Annotated[int | None, Query(description="A calendar year, 2021–2030")]
FromQuery = Annotated[
    date | None, Query(alias="from", description="First day of a month (default 2021-01-01)")
]
ToQuery = Annotated[
    date | None, Query(alias="to", description="Last day of a month (default this month's)")
]
AsOfQuery = Annotated[
    date | None, Query(description="Which unit the code names (default: the window's end)")
]

_DESCRIPTION = (
    "What the unit and everything below it mobilised (received) in a window: `year`, or "
    "`from`/`to` in whole months, or neither for the total since the programme began "
    "(2021-01-01). By source and by source group with shares that add up to exactly 100% "
    "(`share_bp` in hundredths of a percent sums to 10000), pledged, pledges still outstanding, "
    "disbursed, in-kind gifts with their quantities, values and households, the works and the "
    "criteria they serve, and the paragraph in Vietnamese whose parts add up to the total. "
    "A unit of the 2025 edition includes the history of the legacy units that passed into it. "
    "Read from aggregates kept per month: a range must be whole months."
)


@router.get(
    "/units/{code}/report",
    response_model=FundingReportOut,
    responses=problem_responses(404, 422),
    summary="Funding mobilised by a unit and everything below it",
    description=_DESCRIPTION,
)
async def funding_report(
    session: SessionDep,
    code: CodePath,
    year: YearQuery = None,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    as_of: AsOfQuery = None,
) -> FundingReportOut:
    return await reports.funding_report(
        session, code, year=year, date_from=date_from, date_to=date_to, as_of=as_of
    )


@router.get(
    "/units/{code}/report.xlsx",
    response_class=Response,
    responses={
        200: {
            "content": {reports.XLSX_MEDIA_TYPE: {}},
            "description": "A workbook: 'Tổng hợp' (paragraph, by source, by group, in kind), "
            "'Theo công trình', 'Theo tiêu chí'",
        },
        **problem_responses(404, 422),
    },
    summary="The funding report as an Excel workbook",
    description=_DESCRIPTION,
)
async def funding_report_xlsx(
    session: SessionDep,
    code: CodePath,
    year: YearQuery = None,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    as_of: AsOfQuery = None,
) -> Response:
    report = await reports.funding_report(
        session, code, year=year, date_from=date_from, date_to=date_to, as_of=as_of
    )
    return Response(
        content=reports.report_xlsx(report),
        media_type=reports.XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{reports.xlsx_filename(report)}"'},
    )


@router.post(
    "/summaries/lookup",
    responses=problem_responses(422),
    summary="Funding summaries of many units for one window, in key order (batch read)",
    description="For the gateway's DataLoader: up to 1,000 (unit, as_of) keys and one window "
    "(`year`, or `from`/`to`, or neither); a fixed number of SQL statements whatever the "
    "number of keys. A key whose code names no unit on its date answers null.",
)
async def lookup_summaries(body: SummaryLookupIn, session: SessionDep) -> SummaryLookupOut:
    return await reports.lookup_summaries(session, body)
