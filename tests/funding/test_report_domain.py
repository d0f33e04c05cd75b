"""The arithmetic of funding reports: windows, shares that add to exactly 100%, printed parts
that add up to the printed total, and the paragraph."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.funding.domain.report import (
    DONG,
    TRIEU,
    TY,
    InKindLine,
    Scale,
    WindowError,
    WindowKind,
    largest_remainder,
    printed_parts,
    resolve_window,
    scale_for,
    share_vi,
    shares_bp,
    summary_vi,
    trieu_text,
    ty_text,
)
from shared.vn import format_vn_number

TODAY = date(2026, 11, 23)
amounts = st.lists(st.integers(min_value=0, max_value=10**15), min_size=1, max_size=12)


class TestLargestRemainder:
    @given(amounts)
    def test_shares_always_sum_to_10000_bp(self, values: list[int]) -> None:
        bps = shares_bp(values)
        assert sum(bps) == (10_000 if sum(values) else 0)

    @given(amounts, st.integers(min_value=0, max_value=10**9))
    def test_each_part_is_the_floor_or_ceiling_of_its_quota(
        self, weights: list[int], target: int
    ) -> None:
        parts = largest_remainder(weights, target)
        total = sum(weights)
        if total == 0:
            assert parts == [0] * len(weights)
            return
        assert sum(parts) == target
        for weight, part in zip(weights, parts, strict=True):
            assert weight * target // total <= part <= -(-weight * target // total)

    @given(amounts, st.integers(min_value=0, max_value=10**9))
    def test_a_larger_weight_never_gets_a_smaller_part(
        self, weights: list[int], target: int
    ) -> None:
        parts = largest_remainder(weights, target)
        for i, wi in enumerate(weights):
            for j, wj in enumerate(weights):
                if wi > wj:
                    assert parts[i] >= parts[j]

    def test_thirds_are_rounded_so_they_add_up(self) -> None:
        assert shares_bp([1, 1, 1]) == [3334, 3333, 3333]

    def test_negative_weights_are_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            largest_remainder([5, -1], 100)


class TestPrinting:
    def test_vietnamese_number_style(self) -> None:
        assert trieu_text(892_738_000_000) == "892.738 triệu đồng"
        assert ty_text(29_506_000_000) == "29,506 tỷ đồng"
        assert share_vi(3559) == "35,59%"
        assert share_vi(10_000) == "100,00%"

    def test_rounding_is_half_up_to_the_million(self) -> None:
        assert trieu_text(1_500_000) == "2 triệu đồng"
        assert trieu_text(1_499_999) == "1 triệu đồng"
        assert ty_text(1_000_500_000) == "1,001 tỷ đồng"

    def test_scale_follows_the_size(self) -> None:
        assert scale_for(5 * 10**9) is TY
        assert scale_for(5 * 10**6) is TRIEU
        assert scale_for(500_000) is DONG

    @given(amounts)
    def test_printed_parts_add_up_to_the_printed_total(self, parts: list[int]) -> None:
        total = sum(parts)
        for scale in (TY, TRIEU, DONG):
            printed_total, printed = printed_parts(total, parts, scale)
            assert sum(printed) == printed_total
            assert printed_total == (total + scale.step // 2) // scale.step


class TestWindows:
    def test_a_year(self) -> None:
        w = resolve_window(2023, None, None, today=TODAY)
        assert (w.kind, w.start, w.end) == (WindowKind.year, date(2023, 1, 1), date(2023, 12, 31))
        assert w.label_vi() == "năm 2023"

    def test_nothing_means_since_the_programme_began(self) -> None:
        w = resolve_window(None, None, None, today=TODAY)
        assert (w.kind, w.start, w.end) == (
            WindowKind.cumulative,
            date(2021, 1, 1),
            date(2026, 11, 30),
        )
        assert w.label_vi().endswith("đến 23/11/2026")

    def test_a_range_of_whole_months(self) -> None:
        w = resolve_window(None, date(2023, 1, 1), date(2023, 6, 30), today=TODAY)
        assert (w.kind, w.start, w.end) == (WindowKind.range, date(2023, 1, 1), date(2023, 6, 30))

    @pytest.mark.parametrize(
        ("year", "start", "end", "field", "code"),
        [
            (2023, date(2023, 1, 1), None, "year", "report.window_ambiguous"),
            (2019, None, None, "year", "report.year_out_of_programme"),
            (None, date(2023, 1, 2), None, "from", "report.from_not_month_start"),
            (None, None, date(2023, 6, 29), "to", "report.to_not_month_end"),
            (None, date(2020, 12, 1), None, "from", "report.window_out_of_programme"),
            (None, date(2023, 7, 1), date(2023, 6, 30), "to", "report.window_empty"),
        ],
    )
    def test_bad_windows_name_their_parameter(
        self, year: int | None, start: date | None, end: date | None, field: str, code: str
    ) -> None:
        with pytest.raises(WindowError) as caught:
            resolve_window(year, start, end, today=TODAY)
        assert caught.value.field == field
        assert caught.value.code == code
        assert caught.value.message_vi
        assert caught.value.message_en


class TestSummary:
    def test_the_paragraph_a_district_office_writes(self) -> None:
        summary = summary_vi(
            unit_name="Huyện Thọ Xuân",
            window=resolve_window(2023, None, None, today=TODAY),
            by_source={
                "NSTW-DT": 10_000_000_000,
                "NSTW-SN": 500_400_000,
                "NST": 3_000_000_000,
                "NSH": 1_500_000_000,
                "NSX": 500_000_000,
                "CD-TM": 2_000_000_000,
                "CD-HV": 3_750_000_000,
            },
            cumulative=50_123_456_789,
            in_kind=[InKindLine("land", "Hiến đất", Decimal(25000), "m²", 3_750_000_000, 35)],
        )
        assert summary.text == (
            "Tổng nguồn lực huy động năm 2023 của Huyện Thọ Xuân là 21,250 tỷ đồng, trong đó: "
            "ngân sách trung ương 10,500 tỷ đồng (49,41%); ngân sách tỉnh 3,000 tỷ đồng "
            "(14,12%); ngân sách huyện, xã 2,000 tỷ đồng (9,41%); nhân dân đóng góp "
            "5,750 tỷ đồng (27,06%), trong đó hiện vật: hiến 25.000 m² đất của 35 hộ "
            "(trị giá 3,750 tỷ đồng). Lũy kế từ năm 2021 đến 31/12/2023: 50,123 tỷ đồng."
        )

    @given(st.dictionaries(st.sampled_from(["NSTW-DT", "NST", "NSX", "LG", "TD", "DN", "CD-TM",
                                             "CD-HV", "KHAC", "NEW"]),
                           st.integers(min_value=0, max_value=10**14)))  # fmt: skip
    def test_parts_add_up_to_the_whole(self, by_source: dict[str, int]) -> None:
        summary = summary_vi(
            unit_name="Xã A",
            window=resolve_window(2024, None, None, today=TODAY),
            by_source=by_source,
            cumulative=sum(by_source.values()),
        )
        total = sum(by_source.values())
        assert sum(p.amount for p in summary.parts) == total
        if total:
            assert sum(p.share_bp for p in summary.parts) == 10_000
            scale = scale_for(total)
            printed = [int(p.printed.split(" ")[0].replace(".", "").replace(",", ""))
                       for p in summary.parts]  # fmt: skip
            whole = summary.text.split(" là ", 1)[1].split(" ")[0]
            assert sum(printed) == int(whole.replace(".", "").replace(",", ""))
            assert scale.label in summary.text
        else:
            assert "chưa ghi nhận" in summary.text


class TestScaleText:
    """`Scale.text` prints in integers what `format_vn_number` prints from the Decimal."""

    @given(steps=st.integers(min_value=-(10**15), max_value=10**15))
    def test_equals_the_decimal_formatting_on_every_scale(self, steps: int) -> None:
        for scale in (TY, TRIEU, DONG, Scale(step=1, divisor=1_000, decimals=2, label="x")):
            value = Decimal(steps * scale.step) / Decimal(scale.divisor)
            expected = f"{format_vn_number(value, scale.decimals)} {scale.label}"
            assert scale.text(steps) == expected

    def test_examples(self) -> None:
        assert TY.text(29_506) == "29,506 tỷ đồng"
        assert TY.text(1_000) == "1,000 tỷ đồng"
        assert TY.text(0) == "0,000 tỷ đồng"
        assert TRIEU.text(892_738) == "892.738 triệu đồng"
        assert DONG.text(-1_234_567) == "-1.234.567 đồng"
