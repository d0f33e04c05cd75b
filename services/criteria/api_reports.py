"""REST routes of the criteria report over the units below a unit (JSON and .xlsx)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.criteria import reports
from services.criteria.api import AsOf, CodePath, SetQuery, YearQuery
from services.criteria.schemas.reports import CriteriaReportOut
from shared.db import SessionDep
from shared.errors import problem_responses

router = APIRouter(prefix="/v1", tags=["criteria reports"])

_DESCRIPTION = (
    "Every unit of the set's level below the unit (valid on `as_of`, by default the year's "
    "last day or today) evaluated against the set for the year: the distribution by criteria "
    "met with each group's indicator range, the units not meeting each criterion, and the "
    "paragraph in Vietnamese as a district office writes it. Units without any value are "
    "counted apart and stay out of the distribution. A set whose level is not below the "
    "unit's is a 422 `report.level_mismatch`."
)


@router.get(
    "/units/{code}/criteria-report",
    response_model=CriteriaReportOut,
    responses=problem_responses(404, 422),
    summary="How the units below a unit stand against a criteria set in a year",
    description=_DESCRIPTION,
)
async def criteria_report(
    session: SessionDep, code: CodePath, set_code: SetQuery, year: YearQuery, as_of: AsOf = None
) -> Response:
    result = await reports.criteria_report(session, code, set_code, year, as_of)
    # The body is encoded in one step (see `reports.report_json`); FastAPI's default path
    # (model → dict → json.dumps) for a province's 1,000 units costs more than evaluating them.
    return Response(content=reports.report_json(result), media_type="application/json")


@router.get(
    "/units/{code}/criteria-report.xlsx",
    response_class=Response,
    responses={
        200: {
            "content": {reports.XLSX_MEDIA_TYPE: {}},
            "description": "A workbook: sheet 'Tổng hợp' (the paragraph, the distribution, "
            "the failures per criterion) and sheet 'Theo đơn vị' (one row per unit, one "
            "column per criterion: Đạt / Chưa đạt / Thiếu dữ liệu)",
        },
        **problem_responses(404, 422),
    },
    summary="The criteria report as an Excel workbook",
    description=_DESCRIPTION,
)
async def criteria_report_xlsx(
    session: SessionDep, code: CodePath, set_code: SetQuery, year: YearQuery, as_of: AsOf = None
) -> Response:
    result = await reports.criteria_report(session, code, set_code, year, as_of)
    return Response(
        content=reports.report_xlsx(result),
        media_type=reports.XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{reports.xlsx_filename(result)}"'},
    )
