"""Tests for shared.vn: Vietnamese text folding, number and date parsing, report formatting."""

from __future__ import annotations

import pickle
import re
import unicodedata
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.vn import (
    VnParseError,
    fold,
    format_vn_number,
    format_vnd,
    nfc,
    parse_vn_date,
    parse_vn_decimal,
    parse_vn_integer,
    parse_vn_percent,
)

VI_LOWER = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
)
VI_ALPHABET = VI_LOWER + VI_LOWER.upper() + " -"

vietnamese_text = st.text(alphabet=VI_ALPHABET)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def parse_error(func: object, text: str) -> VnParseError:
    """Call ``func(text)`` and return the VnParseError it raises."""
    assert callable(func)
    with pytest.raises(VnParseError) as info:
        func(text)
    return info.value


class TestVnParseError:
    def test_str_is_the_english_message(self) -> None:
        err = VnParseError("number.invalid", "x", "Sai", "Wrong")
        assert str(err) == "Wrong"
        assert (err.code, err.value, err.message_vi, err.message_en) == (
            "number.invalid",
            "x",
            "Sai",
            "Wrong",
        )

    def test_is_a_value_error(self) -> None:
        assert isinstance(VnParseError("c", "v", "vi", "en"), ValueError)

    def test_survives_pickling(self) -> None:
        err = pickle.loads(pickle.dumps(VnParseError("date.invalid", "v", "vi", "en")))
        assert (err.code, err.value, err.message_vi, err.message_en) == (
            "date.invalid",
            "v",
            "vi",
            "en",
        )


class TestNfc:
    def test_composes_decomposed_vietnamese(self) -> None:
        decomposed = nfd("Huyện Thọ Xuân")
        assert decomposed != "Huyện Thọ Xuân"
        assert nfc(decomposed) == "Huyện Thọ Xuân"

    def test_leaves_composed_text_unchanged(self) -> None:
        assert nfc("Đắk Lắk") == "Đắk Lắk"

    @given(st.text())
    def test_nfc_of_nfd_equals_nfc(self, text: str) -> None:
        assert nfc(nfd(text)) == nfc(text)


class TestFold:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Huyện Thọ Xuân", "huyen tho xuan"),
            ("Xã Chân Mây – Lăng Cô", "xa chan may lang co"),
            ("Xã Chân Mây - Lăng Cô", "xa chan may lang co"),
            ("Thuỷ", "thuy"),
            ("Thủy", "thuy"),
            ("ĐẮK LẮK", "dak lak"),
            ("đường", "duong"),
            ("  Phường\u00a0\u00a0Bến   Nghé, Q.1 ", "phuong ben nghe q 1"),
            ("", ""),
            ("–-–", ""),
        ],
    )
    def test_folds_to_expected_key(self, text: str, expected: str) -> None:
        assert fold(text) == expected

    def test_decomposed_input_folds_like_composed(self) -> None:
        assert fold(nfd("Thành phố Hồ Chí Minh")) == "thanh pho ho chi minh"

    def test_en_dash_and_hyphen_fold_the_same(self) -> None:
        assert fold("Xã Chân Mây – Lăng Cô") == fold("Xã Chân Mây - Lăng Cô")

    def test_keeps_digits(self) -> None:
        assert fold("Tiêu chí 17.8") == "tieu chi 17 8"

    @given(vietnamese_text)
    def test_vietnamese_text_folds_to_ascii_lowercase_words(self, text: str) -> None:
        folded = fold(text)
        assert re.fullmatch(r"[a-z0-9 ]*", folded)
        assert "  " not in folded
        assert folded == folded.strip()

    @given(vietnamese_text)
    def test_is_idempotent_on_vietnamese_text(self, text: str) -> None:
        assert fold(fold(text)) == fold(text)

    @given(vietnamese_text)
    def test_ignores_normalisation_form(self, text: str) -> None:
        assert fold(nfd(text)) == fold(nfc(text))

    @given(st.text())
    def test_is_idempotent_on_any_text(self, text: str) -> None:
        assert fold(fold(text)) == fold(text)


class TestParseVnDecimal:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("892.738", Decimal(892738)),
            ("29,506", Decimal("29.506")),
            ("1.234.567,89", Decimal("1234567.89")),
            ("0,5", Decimal("0.5")),
            ("-1.000", Decimal(-1000)),
            ("+1.000", Decimal(1000)),
            ("892738", Decimal(892738)),
            ("1.234", Decimal(1234)),
            ("1,234", Decimal("1.234")),
            ("  42  ", Decimal(42)),
            ("0", Decimal(0)),
            ("1 234 567", Decimal(1234567)),
            ("1\u00a0234\u00a0567,5", Decimal("1234567.5")),
            ("1\u202f234", Decimal(1234)),
            ("12.345.678", Decimal(12345678)),
        ],
    )
    def test_parses_vietnamese_style(self, text: str, expected: Decimal) -> None:
        result = parse_vn_decimal(text)
        assert isinstance(result, Decimal)
        assert result == expected

    def test_keeps_decimal_digits_exactly(self) -> None:
        assert parse_vn_decimal("29,506").as_tuple() == Decimal("29.506").as_tuple()

    def test_dot_followed_by_one_digit_is_ambiguous(self) -> None:
        assert parse_error(parse_vn_decimal, "1.5").code == "number.ambiguous"

    @pytest.mark.parametrize(
        "text",
        ["1.5", "1234.56", "12.34", "1.2345", "1234.567", "0.500", "1.234.56"],
    )
    def test_dot_not_followed_by_groups_of_three_is_ambiguous(self, text: str) -> None:
        assert parse_error(parse_vn_decimal, text).code == "number.ambiguous"

    def test_more_than_one_comma_is_ambiguous(self) -> None:
        assert parse_error(parse_vn_decimal, "1,234,567").code == "number.ambiguous"

    @pytest.mark.parametrize("text", ["1,234.56", "1.234,567.8"])
    def test_dot_after_comma_is_ambiguous(self, text: str) -> None:
        assert parse_error(parse_vn_decimal, text).code == "number.ambiguous"

    def test_mixing_dot_and_space_thousands_is_ambiguous(self) -> None:
        assert parse_error(parse_vn_decimal, "1 234.567").code == "number.ambiguous"

    @pytest.mark.parametrize(
        "text",
        ["", "   ", "abc", "12a", "1..2", ",", ".", "-", "+", "1.", ",5", "1,", "--1", "12 34"],
    )
    def test_malformed_input_is_invalid(self, text: str) -> None:
        assert parse_error(parse_vn_decimal, text).code == "number.invalid"

    @pytest.mark.parametrize("text", ["١٢٣", "１２３", "²"])
    def test_non_ascii_digits_are_invalid(self, text: str) -> None:
        assert parse_error(parse_vn_decimal, text).code == "number.invalid"

    def test_ambiguous_message_quotes_value_and_explains_convention(self) -> None:
        err = parse_error(parse_vn_decimal, "1.5")
        assert err.value == "1.5"
        assert err.message_vi == (
            "Giá trị '1.5' không rõ ràng: dấu chấm (.) là phân cách hàng nghìn, "
            "dấu phẩy (,) là dấu thập phân (ví dụ 892.738 hoặc 29,506)."
        )
        assert "'1.5'" in err.message_en
        assert "ambiguous" in err.message_en
        assert str(err) == err.message_en

    def test_invalid_message_quotes_value(self) -> None:
        err = parse_error(parse_vn_decimal, "abc")
        assert err.value == "abc"
        assert "'abc'" in err.message_vi
        assert "'abc'" in err.message_en

    @given(
        st.integers(min_value=0, max_value=4).flatmap(
            lambda places: st.tuples(
                st.decimals(
                    min_value=-(10**15),
                    max_value=10**15,
                    places=places,
                    allow_nan=False,
                    allow_infinity=False,
                ),
                st.just(places),
            )
        )
    )
    def test_round_trips_format_vn_number(self, case: tuple[Decimal, int]) -> None:
        value, places = case
        assert parse_vn_decimal(format_vn_number(value, places)) == value

    @given(st.integers())
    def test_round_trips_any_integer(self, value: int) -> None:
        assert parse_vn_decimal(format_vn_number(value)) == value

    @given(st.text())
    def test_any_text_parses_or_raises_vn_parse_error(self, text: str) -> None:
        error: VnParseError | None = None
        try:
            parse_vn_decimal(text)
        except VnParseError as err:
            error = err
        if error is not None:
            assert error.code in {"number.invalid", "number.ambiguous"}
            assert error.value == text


class TestParseVnInteger:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1.250.000.000", 1_250_000_000),
            ("12,0", 12),
            ("12,000", 12),
            ("892.738", 892_738),
            ("-1.000", -1000),
            ("0", 0),
        ],
    )
    def test_parses_whole_numbers(self, text: str, expected: int) -> None:
        result = parse_vn_integer(text)
        assert type(result) is int
        assert result == expected

    def test_non_zero_fraction_is_not_integer(self) -> None:
        err = parse_error(parse_vn_integer, "12,5")
        assert err.code == "number.not_integer"
        assert err.value == "12,5"
        assert "'12,5'" in err.message_vi

    def test_ambiguous_input_is_still_ambiguous(self) -> None:
        assert parse_error(parse_vn_integer, "1.5").code == "number.ambiguous"

    def test_letters_are_invalid(self) -> None:
        assert parse_error(parse_vn_integer, "mười").code == "number.invalid"

    @given(st.integers())
    def test_round_trips_format_vn_number(self, value: int) -> None:
        assert parse_vn_integer(format_vn_number(value)) == value


class TestParseVnPercent:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("35,59%", Decimal("35.59")),
            ("35,59", Decimal("35.59")),
            ("35,59 %", Decimal("35.59")),
            ("35,59\u00a0%", Decimal("35.59")),
            (" 100% ", Decimal(100)),
            ("-2,5%", Decimal("-2.5")),
        ],
    )
    def test_returns_number_of_percent(self, text: str, expected: Decimal) -> None:
        assert parse_vn_percent(text) == expected

    def test_ambiguous_percent_is_rejected(self) -> None:
        err = parse_error(parse_vn_percent, "35.59%")
        assert err.code == "number.ambiguous"
        assert err.value == "35.59%"

    @pytest.mark.parametrize("text", ["%", "35%%", "%35", "abc%"])
    def test_malformed_percent_is_invalid(self, text: str) -> None:
        assert parse_error(parse_vn_percent, text).code == "number.invalid"


class TestParseVnDate:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("18/11/2023", date(2023, 11, 18)),
            ("18-11-2023", date(2023, 11, 18)),
            ("18.11.2023", date(2023, 11, 18)),
            ("1/2/2023", date(2023, 2, 1)),
            ("2023-11-18", date(2023, 11, 18)),
            (" 29/02/2024 ", date(2024, 2, 29)),
            ("01/01/1900", date(1900, 1, 1)),
            ("31/12/2100", date(2100, 12, 31)),
        ],
    )
    def test_parses_day_first_and_iso(self, text: str, expected: date) -> None:
        assert parse_vn_date(text) == expected

    def test_day_is_always_first(self) -> None:
        assert parse_vn_date("02/03/2023") == date(2023, 3, 2)

    def test_nonexistent_day_is_invalid_and_says_so(self) -> None:
        err = parse_error(parse_vn_date, "31/02/2023")
        assert err.code == "date.invalid"
        assert err.value == "31/02/2023"
        assert "day 31 does not exist in February 2023" in err.message_en
        assert "không có ngày 31" in err.message_vi

    def test_february_29_in_non_leap_year_is_invalid(self) -> None:
        assert parse_error(parse_vn_date, "29/02/2023").code == "date.invalid"

    def test_month_first_date_is_invalid_with_format_hint(self) -> None:
        err = parse_error(parse_vn_date, "11/18/2023")
        assert err.code == "date.invalid"
        assert "day/month/year" in err.message_en
        assert "ngày/tháng/năm" in err.message_vi

    def test_iso_with_bad_month_hints_iso_format(self) -> None:
        err = parse_error(parse_vn_date, "2023-18-11")
        assert err.code == "date.invalid"
        assert "year-month-day" in err.message_en

    @pytest.mark.parametrize("text", ["18/11/23", "1/2/99", "18-11-23"])
    def test_two_digit_year_is_ambiguous(self, text: str) -> None:
        assert parse_error(parse_vn_date, text).code == "date.ambiguous"

    @pytest.mark.parametrize("text", ["31/12/1899", "01/01/2101", "1899-12-31", "1/1/0999"])
    def test_year_outside_1900_2100_is_out_of_range(self, text: str) -> None:
        assert parse_error(parse_vn_date, text).code == "date.out_of_range"

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "hôm nay",
            "18/11",
            "18/11-2023",
            "18/11/202",
            "18/11/20231",
            "2023/11/18",
            "123/11/2023",
            "0/11/2023",
            "18/0/2023",
            "18/11/2023 10:00",
            "2023-11-18T00:00",
        ],
    )
    def test_anything_else_is_invalid(self, text: str) -> None:
        assert parse_error(parse_vn_date, text).code == "date.invalid"

    @given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
    def test_round_trips_dd_mm_yyyy(self, value: date) -> None:
        assert parse_vn_date(value.strftime("%d/%m/%Y")) == value

    @given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
    def test_round_trips_iso(self, value: date) -> None:
        assert parse_vn_date(value.isoformat()) == value

    @given(st.text())
    def test_any_text_parses_or_raises_vn_parse_error(self, text: str) -> None:
        error: VnParseError | None = None
        try:
            parse_vn_date(text)
        except VnParseError as err:
            error = err
        if error is not None:
            assert error.code in {"date.invalid", "date.ambiguous", "date.out_of_range"}
            assert error.value == text


class TestFormatVnNumber:
    @pytest.mark.parametrize(
        ("value", "decimals", "expected"),
        [
            (892738, 0, "892.738"),
            (Decimal("29.506"), 3, "29,506"),
            (Decimal("35.59"), 2, "35,59"),
            (1_250_000_000, 0, "1.250.000.000"),
            (-1234567, 0, "-1.234.567"),
            (Decimal("-1234.5"), 1, "-1.234,5"),
            (0, 0, "0"),
            (999, 0, "999"),
            (1000, 0, "1.000"),
            (12, 2, "12,00"),
        ],
    )
    def test_formats_vietnamese_style(
        self, value: Decimal | int, decimals: int, expected: str
    ) -> None:
        assert format_vn_number(value, decimals) == expected

    @pytest.mark.parametrize(
        ("value", "decimals", "expected"),
        [
            (Decimal("2.5"), 0, "3"),
            (Decimal("0.125"), 2, "0,13"),
            (Decimal("35.594"), 2, "35,59"),
            (Decimal("35.595"), 2, "35,60"),
            (Decimal("-2.5"), 0, "-3"),
            (Decimal("999.5"), 0, "1.000"),
        ],
    )
    def test_rounds_half_up(self, value: Decimal, decimals: int, expected: str) -> None:
        assert format_vn_number(value, decimals) == expected

    def test_negative_value_rounding_to_zero_has_no_minus_sign(self) -> None:
        assert format_vn_number(Decimal("-0.4")) == "0"

    def test_huge_integer_is_formatted_exactly(self) -> None:
        assert format_vn_number(10**40) == "10" + ".000" * 13

    def test_negative_decimals_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="decimals"):
            format_vn_number(1, -1)

    @pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity")])
    def test_non_finite_values_are_rejected(self, value: Decimal) -> None:
        with pytest.raises(ValueError, match="non-finite"):
            format_vn_number(value)


class TestFormatVnd:
    def test_trieu(self) -> None:
        assert format_vnd(892_738_000_000, "trieu", 0) == "892.738 triệu đồng"

    def test_ty_defaults_to_three_decimals(self) -> None:
        assert format_vnd(29_506_000_000, "ty") == "29,506 tỷ đồng"

    def test_ty_with_explicit_decimals(self) -> None:
        assert format_vnd(29_506_000_000, "ty", 3) == "29,506 tỷ đồng"

    def test_dong(self) -> None:
        assert format_vnd(1_250_000_000, "dong") == "1.250.000.000 đồng"

    def test_trieu_defaults_to_no_decimals_and_rounds_half_up(self) -> None:
        assert format_vnd(892_738_500_000, "trieu") == "892.739 triệu đồng"

    def test_dong_ignores_default_rounding(self) -> None:
        assert format_vnd(999, "dong") == "999 đồng"

    def test_negative_amount(self) -> None:
        assert format_vnd(-1_500_000_000, "ty", 1) == "-1,5 tỷ đồng"

    def test_zero(self) -> None:
        assert format_vnd(0, "ty") == "0,000 tỷ đồng"

    def test_huge_amount_is_exact(self) -> None:
        amount = 123_456_789_012_345_678_901_234_567_890_123
        assert format_vnd(amount, "ty", 9) == "123.456.789.012.345.678.901.234,567890123 tỷ đồng"

    def test_unknown_unit_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="unit"):
            format_vnd(1, "usd")  # type: ignore[arg-type]
