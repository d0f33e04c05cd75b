"""Funding reports: what a unit and everything below it mobilised in a window, by source and
group with shares that add up to exactly 100%, in kind, by work and by criterion, with the
paragraph a district office writes; as JSON, as a workbook, and in batches for the gateway.

Every figure comes from the hierarchy rollups (`funding.rollup`, one scope per unit and
everything below it, read by equality; the works from `funding.monthly` per work), in a fixed
number of statements whatever the number of units: catalog (2), units (1), figures (1), and for
the full report the works (1)."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.funding import errors
from services.funding.domain.report import (
    InKindLine,
    Window,
    WindowError,
    quantity_vi,
    resolve_window,
    share_vi,
    shares_bp,
    summary_vi,
    trieu_text,
    ty_text,
)
from services.funding.repository import LedgerRepository
from services.funding.repository.reports import ReportRepository, ScopeKey, scope_key
from services.funding.schemas.reports import (
    CriterionFundingOut,
    FundingReportOut,
    FundingSummaryOut,
    FundingTotalsOut,
    GroupShareOut,
    InKindOut,
    SourceShareOut,
    SummaryLookupIn,
    SummaryLookupOut,
    SummaryPartOut,
    WindowOut,
    WorkOut,
)
from shared import clock
from shared.errors import FieldError, InvalidInput

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- inputs --------------------------------------------------------------------------------


def window_of(year: int | None, date_from: date | None, date_to: date | None) -> Window:
    """The report window, or a 422 naming the parameter at fault."""
    try:
        return resolve_window(year, date_from, date_to, today=clock.today())
    except WindowError as exc:
        raise InvalidInput(
            exc.message_vi,
            exc.message_en,
            code=exc.code,
            errors=[
                FieldError(
                    field=exc.field,
                    code=exc.code,
                    message_vi=exc.message_vi,
                    message_en=exc.message_en,
                )
            ],
        ) from exc


def default_as_of(window: Window) -> date:
    """The unit a code names is the one valid at the window's end (or today)."""
    return min(window.end, clock.today())


# --- the catalog ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Catalog:
    sources: list[RowMapping]  # in group order, then source order
    kinds: dict[str, RowMapping]


async def _catalog(session: AsyncSession) -> Catalog:
    repo = LedgerRepository(session)
    return Catalog(
        sources=list(await repo.sources()),
        kinds={k["code"]: k for k in await repo.in_kind_kinds()},
    )


@cache
def _criterion_names() -> dict[tuple[str, int], str]:
    """Criterion names of the shipped criteria sets (package data, not another service's
    tables), for the works' criteria."""
    from services.criteria.reference.catalog import load_catalog

    return {(s.code, c.number): c.name for s in load_catalog() for c in s.criteria}


def criterion_name(set_code: str | None, number: int | None) -> str | None:
    if set_code is None or number is None:
        return None
    names = _criterion_names()
    return names.get((set_code, number)) or names.get((set_code.split("@", 1)[0], number))


# --- figures of one scope ------------------------------------------------------------------


@dataclass
class SourceFigures:
    amount: int = 0
    cumulative: int = 0
    pledged: int = 0
    pledged_outstanding: int = 0
    disbursed: int = 0
    settled: int = 0
    households: int = 0


@dataclass
class KindFigures:
    quantity: Decimal = Decimal(0)
    value: int = 0
    households: int = 0
    cumulative_quantity: Decimal = Decimal(0)
    cumulative_value: int = 0
    cumulative_households: int = 0


@dataclass
class Figures:
    sources: defaultdict[str, SourceFigures] = field(
        default_factory=lambda: defaultdict(SourceFigures)
    )
    kinds: defaultdict[str, KindFigures] = field(default_factory=lambda: defaultdict(KindFigures))

    def add(self, row: Any) -> None:
        """One aggregated row: counted in the cumulative figures, and in the window's if it
        falls there."""
        stage = row["stage"]
        source = self.sources[row["source_code"]]
        amount = int(row["amount"])
        households = int(row["households"])
        in_window = bool(row["in_window"])
        # the pledged accounts' net movement up to the window's end: what is still outstanding
        source.pledged_outstanding += int(row["pledged"])
        if stage == "receipt":
            source.cumulative += amount
            if in_window:
                source.amount += amount
                source.households += households
            if row["in_kind_kind"]:
                kind = self.kinds[row["in_kind_kind"]]
                kind.cumulative_quantity += row["quantity"]
                kind.cumulative_value += amount
                kind.cumulative_households += households
                if in_window:
                    kind.quantity += row["quantity"]
                    kind.value += amount
                    kind.households += households
        elif not in_window:
            pass  # pledges, disbursements and settlements are reported for the window
        elif stage == "pledge":
            source.pledged += amount
        elif stage == "disbursement":
            source.disbursed += amount
        elif stage == "settlement":
            source.settled += amount


def _window_out(window: Window) -> WindowOut:
    return WindowOut(
        kind=window.kind.value,
        year=window.year,
        from_=window.start,
        to=window.end,
        cumulative_from=window.cumulative_start,
        label_vi=window.label_vi(),
    )


TOTALS = ("total", "cumulative", "pledged", "pledged_outstanding", "disbursed", "settled")


def _sums(figures: Figures) -> dict[str, int]:
    """The totals of the figures: the sums over every source they hold."""
    lines = figures.sources.values()
    return {
        "total": sum(f.amount for f in lines),
        "cumulative": sum(f.cumulative for f in lines),
        "pledged": sum(f.pledged for f in lines),
        "pledged_outstanding": sum(f.pledged_outstanding for f in lines),
        "disbursed": sum(f.disbursed for f in lines),
        "settled": sum(f.settled for f in lines),
    }


def _totals_fields(
    unit: Any, as_of: date, window: Window, sums: Mapping[str, int]
) -> dict[str, Any]:
    total, cumulative = int(sums["total"]), int(sums["cumulative"])
    return {
        "unit": str(unit["code"]),
        "unit_name": str(unit["name"]),
        "level": str(unit["level"]),
        "edition": str(unit["edition"]),
        "as_of": as_of,
        "window": _window_out(window),
        "total": total,
        "total_trieu": trieu_text(total),
        "total_ty": ty_text(total),
        "cumulative": cumulative,
        "cumulative_trieu": trieu_text(cumulative),
        "cumulative_ty": ty_text(cumulative),
        **{name: int(sums[name]) for name in TOTALS[2:]},
    }


def build_totals(
    unit: Any, as_of: date, window: Window, sums: Mapping[str, int] | None
) -> FundingTotalsOut:
    """One scope's totals (summed by `ReportRepository.totals`; None: no rows, all zero), as
    its summary gives them, without the breakdown and the paragraph."""
    return FundingTotalsOut(**_totals_fields(unit, as_of, window, sums or dict.fromkeys(TOTALS, 0)))


def build_summary(
    unit: Any, as_of: date, window: Window, figures: Figures, catalog: Catalog
) -> FundingSummaryOut:
    """Assemble one scope's summary: shares by largest remainder, parts that add up."""
    sources = catalog.sources
    known = {s["code"] for s in sources}
    extra = sorted(code for code in figures.sources if code not in known)  # not in the catalog
    codes = [s["code"] for s in sources] + extra
    meta = {s["code"]: s for s in sources}
    amounts = [figures.sources[c].amount if c in figures.sources else 0 for c in codes]
    bps = shares_bp(amounts)
    by_source: list[SourceShareOut] = []
    for code, amount, bp in zip(codes, amounts, bps, strict=True):
        f = figures.sources.get(code) or SourceFigures()
        m = meta.get(code)
        by_source.append(
            SourceShareOut(
                source=code,
                name=m["name_vi"] if m else code,
                name_en=m["name_en"] if m else code,
                group=m["group_code"] if m else "XHH",
                in_kind=bool(m["in_kind"]) if m else False,
                amount=amount,
                share_bp=bp,
                share=bp / 10_000,
                share_vi=share_vi(bp),
                amount_trieu=trieu_text(amount),
                amount_ty=ty_text(amount),
                cumulative=f.cumulative,
                pledged=f.pledged,
                pledged_outstanding=f.pledged_outstanding,
                disbursed=f.disbursed,
                settled=f.settled,
                households=f.households,
            )
        )
    group_meta: dict[str, tuple[str, str]] = {}
    group_sources: dict[str, list[SourceShareOut]] = defaultdict(list)
    for s in sources:
        group_meta.setdefault(s["group_code"], (s["group_name_vi"], s["group_name_en"]))
    for line in by_source:
        group_sources[line.group].append(line)
    groups = list(group_meta) + [g for g in group_sources if g not in group_meta]
    group_amounts = [sum(s.amount for s in group_sources[g]) for g in groups]
    by_group = [
        GroupShareOut(
            group=g,
            name=group_meta.get(g, (g, g))[0],
            name_en=group_meta.get(g, (g, g))[1],
            sources=[s.source for s in group_sources[g]],
            amount=amount,
            share_bp=bp,
            share=bp / 10_000,
            share_vi=share_vi(bp),
            amount_trieu=trieu_text(amount),
            amount_ty=ty_text(amount),
            cumulative=sum(s.cumulative for s in group_sources[g]),
        )
        for g, amount, bp in zip(groups, group_amounts, shares_bp(group_amounts), strict=True)
    ]
    in_kind: list[InKindOut] = []
    lines: list[InKindLine] = []
    kind_order = list(catalog.kinds) + sorted(k for k in figures.kinds if k not in catalog.kinds)
    for code in kind_order:
        k = figures.kinds.get(code)
        if k is None or (k.cumulative_quantity == 0 and k.quantity == 0):
            continue
        km = catalog.kinds.get(code)
        unit_vi = km["quantity_unit_vi"] if km else ""
        gift = InKindLine(
            kind=code,
            name_vi=km["name_vi"] if km else code,
            quantity=k.quantity,
            unit_vi=unit_vi,
            value_vnd=k.value,
            households=k.households,
        )
        lines.append(gift)
        in_kind.append(
            InKindOut(
                kind=code,
                name=gift.name_vi,
                name_en=km["name_en"] if km else code,
                quantity=float(k.quantity),
                quantity_exact=str(k.quantity),
                unit=km["quantity_unit"] if km else "",
                unit_vi=unit_vi,
                quantity_vi=quantity_vi(k.quantity, unit_vi),
                value_vnd=k.value,
                value_trieu=trieu_text(k.value),
                households=k.households,
                cumulative_quantity=float(k.cumulative_quantity),
                cumulative_value_vnd=k.cumulative_value,
                cumulative_households=k.cumulative_households,
            )
        )
    totals = _totals_fields(unit, as_of, window, _sums(figures))
    summary = summary_vi(
        unit_name=str(unit["name"]),
        window=window,
        by_source={s.source: s.amount for s in by_source},
        cumulative=totals["cumulative"],
        in_kind=lines,
        disbursed=totals["disbursed"],
        pledged_outstanding=totals["pledged_outstanding"],
    )
    return FundingSummaryOut(
        **totals,
        by_source=by_source,
        by_group=by_group,
        in_kind=in_kind,
        summary_vi=summary.text,
        summary_parts=[
            SummaryPartOut(
                label=p.label,
                sources=list(p.sources),
                amount=p.amount,
                share_bp=p.share_bp,
                share_vi=share_vi(p.share_bp),
                printed=p.printed,
            )
            for p in summary.parts
        ],
    )


# --- the report of one unit ----------------------------------------------------------------


async def funding_report(
    session: AsyncSession,
    code: str,
    *,
    year: int | None,
    date_from: date | None,
    date_to: date | None,
    as_of: date | None,
) -> FundingReportOut:
    window = window_of(year, date_from, date_to)
    day = as_of or default_as_of(window)
    unit = await LedgerRepository(session).unit_at(code, day)
    if unit is None:
        raise errors.UnitNotFound(code, day, field="code")
    catalog = await _catalog(session)
    repo = ReportRepository(session)
    scope = scope_key(0, unit)
    figures = Figures()
    for row in await repo.figures([scope], window.start, window.end):
        figures.add(row)
    summary = build_summary(unit, day, window, figures, catalog)
    works = [
        WorkOut(
            code=w["code"],
            name=w["name"],
            kind=w["kind"],
            unit=w["unit_code"],
            unit_name=w["unit_name"],
            set_code=w["set_code"],
            criterion_number=w["criterion_number"],
            planned_vnd=int(w["planned_vnd"]),
            disbursed=int(w["disbursed"]),
            disbursed_cumulative=int(w["disbursed_cumulative"]),
            settled=int(w["settled"]),
            settled_cumulative=int(w["settled_cumulative"]),
        )
        for w in await repo.works(scope, window.start, window.end)
    ]
    return FundingReportOut(**summary.model_dump(), by_work=works, by_criterion=by_criterion(works))


def by_criterion(works: Sequence[WorkOut]) -> list[CriterionFundingOut]:
    """Works grouped by (set, criterion), in criterion order; unlinked works last."""
    groups: dict[tuple[str | None, int | None], list[WorkOut]] = defaultdict(list)
    for w in works:
        groups[(w.set_code, w.criterion_number)].append(w)

    def order(key: tuple[str | None, int | None]) -> tuple[bool, str, int]:
        return (key[1] is None, key[0] or "", key[1] or 0)

    return [
        CriterionFundingOut(
            set_code=set_code,
            criterion_number=number,
            criterion_name=criterion_name(set_code, number),
            works=len(items),
            planned_vnd=sum(w.planned_vnd for w in items),
            disbursed=sum(w.disbursed for w in items),
            disbursed_cumulative=sum(w.disbursed_cumulative for w in items),
            settled=sum(w.settled for w in items),
            settled_cumulative=sum(w.settled_cumulative for w in items),
        )
        for (set_code, number), items in sorted(groups.items(), key=lambda kv: order(kv[0]))
    ]


# --- many units at once (the gateway's DataLoader) -----------------------------------------


async def lookup_summaries(session: AsyncSession, body: SummaryLookupIn) -> SummaryLookupOut:
    """Each key's summary for one window, in key order (null where the code names no unit on
    its date), in the same few statements whatever the number of keys."""
    window = window_of(body.year, body.date_from, body.date_to)
    days = [k.as_of or default_as_of(window) for k in body.keys]
    repo = ReportRepository(session)
    units = await repo.units_at([(k.unit, d) for k, d in zip(body.keys, days, strict=True)])
    scopes: list[ScopeKey] = [scope_key(i, u) for i, u in sorted(units.items())]
    if body.detail == "totals":
        sums = await repo.totals(scopes, window.start, window.end)
        return SummaryLookupOut(
            items=[
                build_totals(units[i], days[i], window, sums.get(i)) if i in units else None
                for i in range(len(body.keys))
            ]
        )
    figures: defaultdict[int, Figures] = defaultdict(Figures)
    for row in await repo.figures(scopes, window.start, window.end):
        figures[row["i"]].add(row)
    catalog = await _catalog(session)
    return SummaryLookupOut(
        items=[
            build_summary(units[i], days[i], window, figures[i], catalog) if i in units else None
            for i in range(len(body.keys))
        ]
    )


# --- the workbook --------------------------------------------------------------------------

_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")
_MONEY = "#,##0"
_SHARE = "0.00%"


def xlsx_filename(report: FundingReportOut) -> str:
    """ASCII only: `bao-cao-huy-dong-von_395_2023.xlsx`, `…_395_2023-01-01_2023-06-30.xlsx`."""
    w = report.window
    when = str(w.year) if w.year is not None else f"{w.from_.isoformat()}_{w.to.isoformat()}"
    return (
        "bao-cao-huy-dong-von_"
        + re.sub(r"[^A-Za-z0-9._-]+", "-", f"{report.unit}_{when}")
        + (".xlsx")
    )


def report_xlsx(report: FundingReportOut) -> bytes:
    """The report as a workbook with Vietnamese headings: 'Tổng hợp' (the paragraph, by source,
    by group, in kind), 'Theo công trình' and 'Theo tiêu chí'. Amounts are numbers in đồng."""
    wb = Workbook()
    sheet = wb.active
    assert isinstance(sheet, Worksheet)
    sheet.title = "Tổng hợp"
    for column, width in zip("ABCDEFGHIJ", (34, 12, 10, 20, 12, 20, 20, 20, 20, 12), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.append(["BÁO CÁO KẾT QUẢ HUY ĐỘNG NGUỒN LỰC THỰC HIỆN CHƯƠNG TRÌNH NTM"])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append(["Đơn vị", f"{report.unit_name} (mã {report.unit})"])
    sheet.append(["Kỳ báo cáo", report.window.label_vi])
    sheet.append(["Đơn vị hành chính tại ngày", report.as_of.strftime("%d/%m/%Y")])
    _money_row(sheet, ["Tổng nguồn lực huy động (đồng)", report.total])
    _money_row(sheet, ["Lũy kế từ 01/01/2021 (đồng)", report.cumulative])
    _money_row(sheet, ["Cam kết chưa nhận (đồng)", report.pledged_outstanding])
    _money_row(sheet, ["Đã giải ngân (đồng)", report.disbursed])
    sheet.append([])
    sheet.append(["Tóm tắt"])
    sheet.cell(row=sheet.max_row, column=1).font = _BOLD
    sheet.append([report.summary_vi])
    row = sheet.max_row
    sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=9)
    sheet.cell(row=row, column=1).alignment = _WRAP
    sheet.row_dimensions[row].height = 15 * max(2, len(report.summary_vi) // 120 + 1)

    sheet.append([])
    _title(sheet, "Theo nguồn vốn")
    _header(
        sheet,
        [
            "Nguồn vốn",
            "Mã",
            "Nhóm",
            "Số tiền (đồng)",
            "Tỷ lệ",
            "Lũy kế (đồng)",
            "Cam kết trong kỳ (đồng)",
            "Cam kết chưa nhận (đồng)",
            "Đã giải ngân (đồng)",
            "Số hộ",
        ],
    )
    for s in report.by_source:
        _money_row(
            sheet,
            [
                s.name,
                s.source,
                s.group,
                s.amount,
                s.share_bp / 10_000,
                s.cumulative,
                s.pledged,
                s.pledged_outstanding,
                s.disbursed,
                s.households,
            ],
        )
    _money_row(
        sheet,
        ["Tổng cộng", "", "", report.total, _share_total(report.by_source), report.cumulative,
         report.pledged, report.pledged_outstanding, report.disbursed, None],
        bold=True,
    )  # fmt: skip

    sheet.append([])
    _title(sheet, "Theo nhóm nguồn")
    _header(sheet, ["Nhóm nguồn", "Mã", "", "Số tiền (đồng)", "Tỷ lệ", "Lũy kế (đồng)"])
    for g in report.by_group:
        _money_row(sheet, [g.name, g.group, "", g.amount, g.share_bp / 10_000, g.cumulative])
    _money_row(
        sheet,
        ["Tổng cộng", "", "", report.total, _share_total(report.by_group), report.cumulative],
        bold=True,
    )

    sheet.append([])
    _title(sheet, "Đóng góp bằng hiện vật")
    _header(
        sheet,
        ["Loại hiện vật", "Mã", "Đơn vị tính", "Khối lượng", "", "Giá trị quy đổi (đồng)", "Số hộ"],
    )
    for k in report.in_kind:
        _money_row(
            sheet, [k.name, k.kind, k.unit_vi, Decimal(k.quantity_exact), None, k.value_vnd,
                    k.households]
        )  # fmt: skip

    works = wb.create_sheet("Theo công trình")
    _header(
        works,
        [
            "Mã đơn vị",
            "Đơn vị",
            "Mã công trình",
            "Tên công trình",
            "Bộ tiêu chí",
            "Tiêu chí số",
            "Kế hoạch (đồng)",
            "Giải ngân trong kỳ (đồng)",
            "Giải ngân lũy kế (đồng)",
            "Quyết toán trong kỳ (đồng)",
        ],
    )
    for column, width in zip("ABCDEFGHIJ", (10, 24, 14, 36, 18, 10, 18, 18, 18, 18), strict=True):
        works.column_dimensions[column].width = width
    for w in report.by_work:
        _money_row(
            works,
            [w.unit, w.unit_name, w.code, w.name, w.set_code, w.criterion_number, w.planned_vnd,
             w.disbursed, w.disbursed_cumulative, w.settled],
        )  # fmt: skip

    criteria = wb.create_sheet("Theo tiêu chí")
    _header(
        criteria,
        [
            "Bộ tiêu chí",
            "Tiêu chí số",
            "Tên tiêu chí",
            "Số công trình",
            "Kế hoạch (đồng)",
            "Giải ngân trong kỳ (đồng)",
            "Giải ngân lũy kế (đồng)",
            "Quyết toán trong kỳ (đồng)",
        ],
    )
    for column, width in zip("ABCDEFGH", (18, 10, 36, 12, 18, 18, 18, 18), strict=True):
        criteria.column_dimensions[column].width = width
    for c in report.by_criterion:
        _money_row(
            criteria,
            [c.set_code, c.criterion_number, c.criterion_name or "Không gắn tiêu chí", c.works,
             c.planned_vnd, c.disbursed, c.disbursed_cumulative, c.settled],
        )  # fmt: skip

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _share_total(lines: Sequence[SourceShareOut] | Sequence[GroupShareOut]) -> float:
    return sum(line.share_bp for line in lines) / 10_000


def _money_row(sheet: Worksheet, values: list[Any], *, bold: bool = False) -> None:
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, float):
            cell.number_format = _SHARE
        elif isinstance(cell.value, int) and not isinstance(cell.value, bool):
            cell.number_format = _MONEY
        if bold:
            cell.font = _BOLD


def _title(sheet: Worksheet, title: str) -> None:
    sheet.append([title])
    sheet.cell(row=sheet.max_row, column=1).font = _BOLD


def _header(sheet: Worksheet, titles: list[str]) -> None:
    sheet.append(titles)
    for cell in sheet[sheet.max_row]:
        cell.font = _BOLD
        cell.alignment = _WRAP
