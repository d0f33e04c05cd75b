"""The criteria report: every unit below a unit evaluated against a set, set-wise.

A constant number of statements whatever the number of units: the unit, the set, the units
below with their profiles, their current values (one DISTINCT ON), and the derived indicators
(a few statements per derived indicator, none for a set without any). Each unit is then
evaluated in Python by `SetEvaluator`, which counts exactly what the engine counts (a property
test holds them equal) without building an explained result per indicator."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria.derived import derived_values
from services.criteria.domain import catalog
from services.criteria.domain.evaluation import UnitProfile, Value
from services.criteria.domain.report import (
    CriteriaReport,
    ReportUnit,
    SetEvaluator,
    build_report,
)
from services.criteria.errors import CriteriaSetNotFound, UnitNotFound
from services.criteria.models import LEVEL_ORDER, UnitLevel
from services.criteria.repository import CriteriaSetRepository, UnitRepository
from services.criteria.repository.reports import ReportRepository
from services.criteria.schemas import UnitOut
from services.criteria.values import default_as_of
from shared.errors import FieldError, InvalidInput

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_LEVEL_VI = {"province": "tỉnh", "district": "huyện", "commune": "xã", "village": "thôn"}


class ReportLevelMismatch(InvalidInput):
    code = "report.level_mismatch"

    def __init__(self, unit_code: str, unit_level: str, set_code: str, set_level: str) -> None:
        vi = (
            f"Bộ tiêu chí '{set_code}' dành cho cấp {_LEVEL_VI.get(set_level, set_level)}, "
            f"không thấp hơn cấp của đơn vị '{unit_code}' "
            f"({_LEVEL_VI.get(unit_level, unit_level)}): không có đơn vị nào bên dưới để tổng hợp."
        )
        en = (
            f"Set '{set_code}' is for level {set_level}, which is not below unit "
            f"'{unit_code}' ({unit_level}): there are no units below it to report on."
        )
        super().__init__(
            vi,
            en,
            errors=[FieldError(field="set", code=self.code, message_vi=vi, message_en=en)],
        )


@dataclass(frozen=True, slots=True)
class ReportResult:
    """The report with what it was made from (for the JSON and the workbook)."""

    unit: RowMapping
    criteria_set: catalog.CriteriaSet
    year: int
    as_of: date
    report: CriteriaReport


async def criteria_report(
    session: AsyncSession, code: str, set_code: str, year: int, as_of: date | None
) -> ReportResult:
    """The units of the set's level below unit `code` (valid on `as_of`, by default the
    year's last day or today), each evaluated against the set for `year`."""
    day = as_of or default_as_of(year)
    unit = await UnitRepository(session).get(code, day)
    if unit is None:
        raise UnitNotFound(code, day)
    criteria_set = (await CriteriaSetRepository(session).get_parsed([set_code])).get(set_code)
    if criteria_set is None:
        raise CriteriaSetNotFound(set_code)
    set_level = criteria_set.level.value
    if LEVEL_ORDER[UnitLevel(set_level)] <= LEVEL_ORDER[UnitLevel(unit["level"])]:
        raise ReportLevelMismatch(code, unit["level"], set_code, set_level)

    repo = ReportRepository(session)
    units = await repo.units_below(unit["path"], criteria_set.level.value, day)
    columns = await repo.current_values(
        [u["id"] for u in units], set_code, year, criteria_set.extends
    )
    derived = await derived_values(session, criteria_set, year, units)

    evaluator = SetEvaluator(criteria_set, year)
    # a province's units share a handful of profiles: one object each
    profiles: dict[tuple[str | None, str | None, bool], UnitProfile] = {}
    evaluated: list[ReportUnit] = []
    for u in units:
        key = (u["region"], u["commune_group"], u["specially_disadvantaged"])
        profile = profiles.get(key)
        if profile is None:
            profile = profiles[key] = UnitProfile(*key)
        recorded = columns.get(u["id"])
        extra = derived.get(u["id"])
        if extra:
            values: dict[str, Value] = {}
            if recorded is not None:
                values.update(zip(recorded[2], recorded[3], strict=True))
                values.update(zip(recorded[0], recorded[1], strict=True))
            result = evaluator.outcome(profile, values | extra)
        elif recorded is not None:
            result = evaluator.outcome_of(profile, *recorded)
        else:
            result = evaluator.outcome(profile, {})
        evaluated.append(
            ReportUnit(
                code=u["code"],
                name=u["short_name"],
                type_name=u["type_name"],
                full_name=u["name"],
                result=result,
                # derived values alone (a share of communes holding a title) are not data
                # recorded for the unit: such a unit is reported as without data
                has_records=recorded is not None,
            )
        )
    return ReportResult(
        unit=unit,
        criteria_set=criteria_set,
        year=year,
        as_of=day,
        report=build_report(criteria_set, year, evaluated),
    )


def report_json(result: ReportResult) -> bytes:
    """The report as the JSON body documented by `CriteriaReportOut` (the API tests validate
    it against that model). Built as plain data and encoded by orjson: a province's report
    lists 1,000 units, and building a pydantic model per unit took longer than evaluating
    them."""
    r = result.report
    body: dict[str, Any] = {
        "unit": UnitOut.model_validate(result.unit).model_dump(mode="json"),
        "criteria_set": r.criteria_set,
        "criteria_set_name": result.criteria_set.name,
        "year": r.year,
        "as_of": result.as_of.isoformat(),
        "level": result.criteria_set.level.value,
        "criteria_total": r.criteria_total,
        "indicators_total": r.indicators_total,
        "units_total": r.units_total,
        "units_evaluated": r.units_evaluated,
        "units_without_data": len(r.without_data_codes),
        "meeting_standard": r.meeting_standard,
        "meeting_standard_codes": r.meeting_standard_codes,
        "incomplete_unit_codes": r.incomplete_codes,
        "without_data_unit_codes": r.without_data_codes,
        "distribution": [
            {
                "criteria_met": b.criteria_met,
                "units": b.units,
                "indicators_met_min": b.indicators_met_min,
                "indicators_met_max": b.indicators_met_max,
                "unit_codes": b.unit_codes,
                "unit_names": b.unit_names,
            }
            for b in r.distribution
        ],
        "criterion_failures": [
            {
                "number": f.number,
                "name": f.name,
                "units_not_met": f.units_not_met,
                "unit_codes": f.unit_codes,
                "unit_names": f.unit_names,
                "units_unknown": f.units_unknown,
                "unknown_unit_codes": f.unknown_unit_codes,
            }
            for f in r.criterion_failures
        ],
        "summary_vi": r.summary_vi,
        "units": [
            {
                "code": line.code,
                "name": line.full_name,
                "type_name": line.type_name,
                "has_data": line.has_data,
                "criteria_met": line.criteria_met,
                "criteria_not_met": line.criteria_not_met,
                "criteria_unknown": line.criteria_unknown,
                "indicators_met": line.indicators_met,
                "indicators_missing": line.indicators_missing,
                "meets_standard": line.meets_standard,
                "criteria": line.criteria,
            }
            for line in r.units
        ],
    }
    return orjson.dumps(body)


# --- the workbook -------------------------------------------------------------------------

STATUS_TEXT = {True: "Đạt", False: "Chưa đạt", None: "Thiếu dữ liệu"}
_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")


def xlsx_filename(result: ReportResult) -> str:
    """An ASCII-only file name: `bao-cao-tieu-chi_395_xa-ntm-2021_2023.xlsx`."""
    parts = [result.unit["code"], result.criteria_set.code, str(result.year)]
    safe = [re.sub(r"[^A-Za-z0-9.-]+", "-", p) for p in parts]
    return "bao-cao-tieu-chi_" + "_".join(safe) + ".xlsx"


def report_xlsx(result: ReportResult) -> bytes:
    """The report as a workbook: a summary sheet (the paragraph, the distribution, the failures
    per criterion) and a sheet with one row per unit and one column per criterion."""
    r = result.report
    wb = Workbook()
    summary = wb.active
    assert isinstance(summary, Worksheet)
    summary.title = "Tổng hợp"
    for column, width in zip("ABCDEF", (16, 38, 18, 18, 18, 60), strict=True):
        summary.column_dimensions[column].width = width

    summary.append(["BÁO CÁO KẾT QUẢ THỰC HIỆN BỘ TIÊU CHÍ"])
    summary["A1"].font = Font(bold=True, size=13)
    summary.append(["Đơn vị", f"{result.unit['name']} (mã {result.unit['code']})"])
    summary.append(["Bộ tiêu chí", f"{result.criteria_set.name} ({result.criteria_set.code})"])
    summary.append(["Năm đánh giá", r.year])
    summary.append(["Đơn vị hành chính tại ngày", result.as_of.strftime("%d/%m/%Y")])
    summary.append(["Số đơn vị", r.units_total])
    summary.append(["Được đánh giá", r.units_evaluated])
    summary.append(["Đạt chuẩn", r.meeting_standard])
    summary.append(["Chưa có số liệu", len(r.without_data_codes)])
    summary.append([])
    summary.append(["Tóm tắt"])
    summary.cell(row=summary.max_row, column=1).font = _BOLD
    summary.append([r.summary_vi])
    row = summary.max_row
    summary.merge_cells(start_row=row, start_column=1, end_row=row, end_column=6)
    summary.cell(row=row, column=1).alignment = _WRAP
    summary.row_dimensions[row].height = 15 * max(2, len(r.summary_vi) // 150 + 1)

    summary.append([])
    summary.append(["Phân bố theo số tiêu chí đạt"])
    summary.cell(row=summary.max_row, column=1).font = _BOLD
    _header(
        summary,
        [
            "Số tiêu chí đạt",
            "Số đơn vị",
            "Chỉ tiêu đạt (thấp nhất)",
            "Chỉ tiêu đạt (cao nhất)",
            "Mã đơn vị",
            "Tên đơn vị",
        ],
    )
    for b in r.distribution:
        summary.append(
            [
                b.criteria_met,
                b.units,
                b.indicators_met_min,
                b.indicators_met_max,
                ", ".join(b.unit_codes),
                ", ".join(b.unit_names),
            ]
        )
    summary.append(["Cộng", r.units_evaluated])

    summary.append([])
    summary.append(["Số đơn vị chưa đạt theo từng tiêu chí"])
    summary.cell(row=summary.max_row, column=1).font = _BOLD
    _header(
        summary,
        [
            "Tiêu chí số",
            "Tên tiêu chí",
            "Số đơn vị chưa đạt",
            "Số đơn vị thiếu dữ liệu",
            "Mã đơn vị chưa đạt",
            "Tên đơn vị chưa đạt",
        ],
    )
    for f in r.criterion_failures:
        summary.append(
            [
                f.number,
                f.name,
                f.units_not_met,
                f.units_unknown,
                ", ".join(f.unit_codes),
                ", ".join(f.unit_names),
            ]
        )

    per_unit = wb.create_sheet("Theo đơn vị")
    criteria = result.criteria_set.criteria
    _header(
        per_unit,
        ["Mã", "Tên đơn vị", "Số tiêu chí đạt", "Số chỉ tiêu đạt"]
        + [f"TC {c.number} - {c.name}" for c in criteria],
    )
    per_unit.column_dimensions["B"].width = 28
    for index in range(3, 5 + len(criteria)):
        per_unit.column_dimensions[get_column_letter(index)].width = 14
    per_unit.freeze_panes = "C2"
    for line in r.units:
        per_unit.append(
            [line.code, line.full_name, line.criteria_met, line.indicators_met]
            + [STATUS_TEXT[met] for met in line.criteria]
        )

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _header(sheet: Worksheet, titles: list[str]) -> None:
    sheet.append(titles)
    for cell in sheet[sheet.max_row]:
        cell.font = _BOLD
        cell.alignment = Alignment(wrap_text=True, vertical="top")
