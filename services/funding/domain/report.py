"""The arithmetic of funding reports: report windows, shares that add up to exactly 100%,
figures in triệu / tỷ whose parts add up to the whole as printed, and the report paragraph.

Pure functions over integers (đồng, basis points): no floats touch an amount. No I/O."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Final

from shared.vn import format_vn_number

PROGRAMME_START = date(2021, 1, 1)
PROGRAMME_END = date(2030, 12, 31)
FULL_SHARE_BP = 10_000  # 100% in hundredths of a percent
MILLION = 1_000_000
BILLION = 1_000_000_000


# --- windows -------------------------------------------------------------------------------


class WindowKind(StrEnum):
    year = "year"
    range = "range"
    cumulative = "cumulative"


class WindowError(ValueError):
    """A window that cannot be reported on; `field` names the query parameter."""

    def __init__(self, field: str, code: str, message_vi: str, message_en: str) -> None:
        super().__init__(message_en)
        self.field = field
        self.code = code
        self.message_vi = message_vi
        self.message_en = message_en


@dataclass(frozen=True, slots=True)
class Window:
    """Whole months from `start` (a first day) to `end` (a last day), both included."""

    kind: WindowKind
    start: date
    end: date
    year: int | None = None
    today: date | None = None  # where a window that runs on past today is said to end

    @property
    def cumulative_start(self) -> date:
        return PROGRAMME_START

    def label_vi(self) -> str:
        """How the paragraph names the window: "năm 2023", "từ 01/01/2023 đến 30/06/2023"."""
        if self.kind is WindowKind.year:
            return f"năm {self.year}"
        if self.kind is WindowKind.cumulative:
            return f"lũy kế từ khi triển khai Chương trình (01/01/2021) đến {self.until:%d/%m/%Y}"
        return f"từ {self.start:%d/%m/%Y} đến {self.until:%d/%m/%Y}"

    @property
    def until(self) -> date:
        """The window's end as a paragraph says it: today, if the window runs on past it."""
        return min(self.end, self.today) if self.today and self.today >= self.start else self.end


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def resolve_window(
    year: int | None, start: date | None, end: date | None, *, today: date
) -> Window:
    """The window asked for: a year, a range of whole months (`from` a first day, `to` a last
    day; either may be left out), or, with neither, everything since the programme began.

    The ledger is aggregated by month, so a range must be whole months: a report that cut a
    month would have to read the postings themselves."""
    if year is not None:
        if start is not None or end is not None:
            raise WindowError(
                "year",
                "report.window_ambiguous",
                "Chọn 'year' hoặc 'from'/'to', không dùng cả hai.",
                "Give either 'year' or 'from'/'to', not both.",
            )
        if not PROGRAMME_START.year <= year <= PROGRAMME_END.year:
            raise WindowError(
                "year",
                "report.year_out_of_programme",
                f"Năm {year} nằm ngoài Chương trình (2021 - 2030).",
                f"Year {year} is outside the programme (2021-2030).",
            )
        return Window(WindowKind.year, date(year, 1, 1), date(year, 12, 31), year)
    if start is None and end is None:
        end = month_end(min(today, PROGRAMME_END))
        return Window(WindowKind.cumulative, PROGRAMME_START, end, today=today)
    first = start or PROGRAMME_START
    last = end or month_end(min(today, PROGRAMME_END))
    if first.day != 1:
        raise WindowError(
            "from",
            "report.from_not_month_start",
            f"'from' phải là ngày đầu tháng (ví dụ {first.replace(day=1):%d/%m/%Y}): "
            "số liệu được tổng hợp theo tháng.",
            f"'from' must be the first day of a month (e.g. {first.replace(day=1).isoformat()}):"
            " figures are aggregated by month.",
        )
    if last != month_end(last):
        raise WindowError(
            "to",
            "report.to_not_month_end",
            f"'to' phải là ngày cuối tháng (ví dụ {month_end(last):%d/%m/%Y}): "
            "số liệu được tổng hợp theo tháng.",
            f"'to' must be the last day of a month (e.g. {month_end(last).isoformat()}):"
            " figures are aggregated by month.",
        )
    if first < PROGRAMME_START or last > PROGRAMME_END:
        wrong = "from" if first < PROGRAMME_START else "to"
        raise WindowError(
            wrong,
            "report.window_out_of_programme",
            "Khoảng thời gian phải nằm trong Chương trình (01/01/2021 - 31/12/2030).",
            "The window must lie within the programme (2021-01-01 to 2030-12-31).",
        )
    if first > last:
        raise WindowError(
            "to",
            "report.window_empty",
            "'to' phải sau 'from'.",
            "'to' must not be before 'from'.",
        )
    return Window(WindowKind.range, first, last, today=today)


# --- apportioning ----------------------------------------------------------------------------


def largest_remainder(weights: Sequence[int], target: int) -> list[int]:
    """Split `target` into integer parts proportional to `weights` that sum to exactly
    `target` (Hamilton's method): each part is the floor of its quota, and the units left
    go to the largest remainders (ties: the larger weight, then the earlier one).

    Each part is the floor or the ceiling of its exact quota, and a larger weight never gets a
    smaller part. With all weights zero every part is zero (there is nothing to share)."""
    if target < 0:
        raise ValueError("target must not be negative")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    total = sum(weights)
    if total == 0:
        return [0] * len(weights)
    floors = [w * target // total for w in weights]
    remainders = [w * target % total for w in weights]
    left = target - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], -weights[i], i))
    for i in order[:left]:
        floors[i] += 1
    return floors


def shares_bp(amounts: Sequence[int]) -> list[int]:
    """Shares in hundredths of a percent that add up to exactly 10000 (or all 0 if nothing)."""
    return largest_remainder(amounts, FULL_SHARE_BP)


def share_vi(bp: int) -> str:
    """3559 → "35,59%"."""
    return format_vn_number(Decimal(bp).scaleb(-2), 2) + "%"


def round_half_up(amount: int, step: int) -> int:
    """`amount` in whole `step`s, half up (amounts are never negative here)."""
    return (amount + step // 2) // step


_SWAP_SEPARATORS: Final = str.maketrans(",.", ".,")  # 1,234.5 → 1.234,5

# --- money as a report prints it ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scale:
    """How a paragraph prints its figures: "29,506 tỷ đồng", "892 triệu đồng" or đồng."""

    step: int  # the smallest amount printed, in đồng
    divisor: int
    decimals: int
    label: str

    def text(self, steps: int) -> str:
        """`steps` as printed: `format_vn_number` of steps × step / divisor to `decimals`
        places, in integers when that is exact (every scale here: a dashboard prints four
        figures for each of a thousand units)."""
        amount = steps * self.step
        scale = 10**self.decimals
        if (self.step * scale) % self.divisor:  # not exact in integers: the general way
            value = Decimal(amount) / Decimal(self.divisor)
            return f"{format_vn_number(value, self.decimals)} {self.label}"
        whole, rest = divmod(abs(amount), self.divisor)
        number = f"{whole:,}".translate(_SWAP_SEPARATORS)
        if self.decimals:
            number += f",{rest * scale // self.divisor:0{self.decimals}d}"
        sign = "-" if amount < 0 else ""
        return f"{sign}{number} {self.label}"


TY = Scale(step=MILLION, divisor=BILLION, decimals=3, label="tỷ đồng")
TRIEU = Scale(step=MILLION, divisor=MILLION, decimals=0, label="triệu đồng")
DONG = Scale(step=1, divisor=1, decimals=0, label="đồng")


def scale_for(total: int) -> Scale:
    if total >= BILLION:
        return TY
    if total >= MILLION:
        return TRIEU
    return DONG


def trieu_text(amount: int) -> str:
    """892738000000 → "892.738 triệu đồng" (rounded half up to the million)."""
    return TRIEU.text(round_half_up(amount, MILLION))


def ty_text(amount: int) -> str:
    """29506000000 → "29,506 tỷ đồng" (rounded half up to the million)."""
    return TY.text(round_half_up(amount, MILLION))


def printed_parts(total: int, parts: Sequence[int], scale: Scale) -> tuple[int, list[int]]:
    """The total and the parts in whole `scale.step`s, the total rounded half up and the parts
    apportioned so that, as printed, they add up to exactly the printed total."""
    if sum(parts) != total:
        raise ValueError("the parts must add up to the total")
    printed_total = round_half_up(total, scale.step)
    return printed_total, largest_remainder(parts, printed_total)


# --- the paragraph ---------------------------------------------------------------------------

# How a district office groups the sources in its paragraph, in its order. Every source code
# of the taxonomy falls in exactly one line; codes outside these lines (a future source) go
# to the last one.
SUMMARY_LINES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ngân sách trung ương", ("NSTW-DT", "NSTW-SN")),
    ("ngân sách tỉnh", ("NST",)),
    ("ngân sách huyện, xã", ("NSH", "NSX")),
    ("vốn lồng ghép", ("LG",)),
    ("vốn tín dụng", ("TD",)),
    ("doanh nghiệp, hợp tác xã", ("DN",)),
    ("nhân dân đóng góp", ("CD-TM", "CD-HV")),
    ("các nguồn hợp pháp khác", ("KHAC",)),
)


@dataclass(frozen=True, slots=True)
class InKindLine:
    kind: str
    name_vi: str
    quantity: Decimal
    unit_vi: str
    value_vnd: int
    households: int


@dataclass(frozen=True, slots=True)
class SummaryPart:
    label: str
    sources: tuple[str, ...]
    amount: int
    share_bp: int
    printed: str


@dataclass(frozen=True, slots=True)
class Summary:
    """The paragraph and the parts it names (which add up to the total, in đồng, in print and
    in basis points)."""

    text: str
    parts: list[SummaryPart] = field(default_factory=list)


def quantity_vi(quantity: Decimal, unit_vi: str) -> str:
    """25000 m² → "25.000 m²"; decimals only where the quantity has them."""
    decimals = 0 if quantity == quantity.to_integral_value() else 1
    return f"{format_vn_number(quantity, decimals)} {unit_vi}"


def summary_parts(by_source: dict[str, int]) -> list[tuple[str, tuple[str, ...], int]]:
    """(label, source codes, amount) per line of the paragraph, zero lines included."""
    placed = {code for _, codes in SUMMARY_LINES for code in codes}
    lines = [
        (label, codes, sum(by_source.get(c, 0) for c in codes)) for label, codes in SUMMARY_LINES
    ]
    extra = tuple(sorted(c for c in by_source if c not in placed))
    if extra:
        label, codes, amount = lines[-1]
        lines[-1] = (label, codes + extra, amount + sum(by_source[c] for c in extra))
    return lines


def summary_vi(
    *,
    unit_name: str,
    window: Window,
    by_source: dict[str, int],
    cumulative: int,
    in_kind: Sequence[InKindLine] = (),
    disbursed: int = 0,
    pledged_outstanding: int = 0,
) -> Summary:
    """The paragraph as a district office writes it:

    "Tổng nguồn lực huy động năm 2023 của Huyện Thọ Xuân là 29,506 tỷ đồng, trong đó: ngân
    sách trung ương 10,500 tỷ đồng (35,59%); …; nhân dân đóng góp 3,006 tỷ đồng (10,19%), gồm
    hiến 25.000 m² đất …."

    The parts it names add up to exactly the total as printed, and their shares to 100%."""
    total = sum(by_source.values())
    when = window.label_vi()
    sentences: list[str] = []
    if total == 0:
        sentences.append(f"{_capital(when)}, {unit_name} chưa ghi nhận nguồn lực huy động nào.")
        parts: list[SummaryPart] = []
    else:
        lines = [line for line in summary_parts(by_source) if line[2] != 0]
        scale = scale_for(total)
        printed_total, printed = printed_parts(total, [a for _, _, a in lines], scale)
        bps = shares_bp([a for _, _, a in lines])
        parts = [
            SummaryPart(label, codes, amount, bp, scale.text(steps))
            for (label, codes, amount), steps, bp in zip(lines, printed, bps, strict=True)
        ]
        pieces = []
        for part in parts:
            piece = f"{part.label} {part.printed} ({share_vi(part.share_bp)})"
            if "CD-HV" in part.sources:
                gifts = [g for g in in_kind if g.quantity > 0]
                if gifts:
                    piece += ", trong đó hiện vật: " + ", ".join(_gift_vi(g) for g in gifts)
            pieces.append(piece)
        cumulative_window = window.kind is WindowKind.cumulative
        subject = "Tổng nguồn lực huy động" + (" lũy kế" if cumulative_window else "")
        when_text = f"từ năm 2021 đến {window.until:%d/%m/%Y}" if cumulative_window else when
        sentences.append(
            f"{subject} {when_text} của {unit_name} là {scale.text(printed_total)}, trong đó: "
            + "; ".join(pieces)
            + "."
        )
    if window.kind is not WindowKind.cumulative:
        sentences.append(f"Lũy kế từ năm 2021 đến {window.until:%d/%m/%Y}: {money_vi(cumulative)}.")
    if disbursed:
        sentences.append(f"Đã giải ngân cho các công trình {money_vi(disbursed)}.")
    if pledged_outstanding:
        sentences.append(f"Các khoản cam kết chưa nhận còn {money_vi(pledged_outstanding)}.")
    return Summary(text=" ".join(sentences), parts=parts)


def money_vi(amount: int) -> str:
    """An amount as a report prints it alone: tỷ from a billion, triệu from a million."""
    scale = scale_for(abs(amount))
    sign = "-" if amount < 0 else ""
    return sign + scale.text(round_half_up(abs(amount), scale.step))


# what a gift reads as in the paragraph; {q} is the quantity with its unit
_GIFT_VI = {
    "land": "hiến {q} đất",
    "labour": "{q} lao động",
    "materials": "vật tư trị giá {v}",
    "structures": "tháo dỡ {q} tường rào, cây cối, công trình",
}


def _gift_vi(gift: InKindLine) -> str:
    template = _GIFT_VI.get(gift.kind, gift.name_vi.lower() + " {q}")
    text = template.format(q=quantity_vi(gift.quantity, gift.unit_vi), v=money_vi(gift.value_vnd))
    if gift.households:
        text += f" của {format_vn_number(gift.households)} hộ"
    if "{v}" not in template:
        text += f" (trị giá {money_vi(gift.value_vnd)})"
    return text


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
