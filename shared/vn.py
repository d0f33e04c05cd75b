"""Vietnamese text, number and date helpers for imports, search and reports.

Vietnamese number style uses "." to separate thousands and "," as the decimal mark
(892.738 is eight hundred ninety-two thousand; 29,506 is twenty-nine and a half).
Inputs that could equally be read English style ("1.5", "1,234.56") are rejected
instead of silently misread. Dates are always day first (dd/mm/yyyy), or ISO.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Final, Literal

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "VnParseError",
    "fold",
    "format_vn_number",
    "format_vnd",
    "nfc",
    "parse_vn_date",
    "parse_vn_decimal",
    "parse_vn_integer",
    "parse_vn_percent",
]

MIN_YEAR: Final = 1900
MAX_YEAR: Final = 2100


class VnParseError(ValueError):
    """A value that cannot be read as a Vietnamese-style number or date.

    ``code`` is a stable machine code (``number.ambiguous``, ``number.invalid``,
    ``number.not_integer``, ``date.invalid``, ``date.ambiguous``, ``date.out_of_range``);
    ``value`` is the offending input exactly as received. ``str(err)`` is the English message.
    """

    def __init__(self, code: str, value: str, message_vi: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.value = value
        self.message_vi = message_vi
        self.message_en = message_en

    def __str__(self) -> str:
        return self.message_en

    def __reduce__(self) -> tuple[type[VnParseError], tuple[str, str, str, str]]:
        return (type(self), (self.code, self.value, self.message_vi, self.message_en))


# --------------------------------------------------------------------------- text


def nfc(text: str) -> str:
    """Return ``text`` in Unicode NFC (input from some Mac/Windows tools arrives as NFD)."""
    return unicodedata.normalize("NFC", text)


_NON_ALNUM_RUN = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """Return a search key for ``text`` that ignores diacritics, case and punctuation.

    Diacritics are removed (``đ``/``Đ`` become ``d``), letters are lowercased, and every run
    of characters that are not letters or digits (spaces, NBSP, hyphens, dashes,
    punctuation) becomes one space; the result is stripped. ``fold`` is idempotent.

    >>> fold("Xã Chân Mây – Lăng Cô")
    'xa chan may lang co'
    """
    # NFD before and after lowercasing: some uppercase letters only lowercase to a
    # decomposable letter (e.g. U+212B ANGSTROM SIGN -> å).
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFD", text).lower())
    stripped = "".join(ch for ch in decomposed if not unicodedata.category(ch).startswith("M"))
    stripped = stripped.replace("đ", "d").replace("Đ", "d")
    return _NON_ALNUM_RUN.sub(" ", stripped).strip()


# ------------------------------------------------------------------------ numbers

_ASCII_DIGITS: Final = frozenset("0123456789")
_SPACE_SEPARATORS: Final = frozenset(" \u00a0\u202f")
_NUMBER_CHARS: Final = _ASCII_DIGITS | _SPACE_SEPARATORS | {".", ","}
_SEPARATOR_RUN = re.compile(r"([^0-9]+)")


def _ambiguous_number(value: str) -> VnParseError:
    return VnParseError(
        "number.ambiguous",
        value,
        f"Giá trị '{value}' không rõ ràng: dấu chấm (.) là phân cách hàng nghìn, "
        "dấu phẩy (,) là dấu thập phân (ví dụ 892.738 hoặc 29,506).",
        f"Value '{value}' is ambiguous: in Vietnamese number format the dot (.) separates "
        "thousands and the comma (,) is the decimal mark (e.g. 892.738 or 29,506).",
    )


def _invalid_number(value: str) -> VnParseError:
    return VnParseError(
        "number.invalid",
        value,
        f"Giá trị '{value}' không phải là số hợp lệ (ví dụ 892.738 hoặc 29,506).",
        f"Value '{value}' is not a valid number (e.g. 892.738 or 29,506).",
    )


def _parse_number(text: str, original: str) -> Decimal:
    """Parse the number in ``text``; errors quote ``original``."""
    body = text.strip()
    sign = ""
    if body[:1] in ("-", "+"):
        sign, body = body[0], body[1:]
    if (
        not body
        or any(ch not in _NUMBER_CHARS for ch in body)
        or body[0] not in _ASCII_DIGITS
        or body[-1] not in _ASCII_DIGITS
    ):
        raise _invalid_number(original)

    parts = _SEPARATOR_RUN.split(body)
    groups, separators = parts[0::2], parts[1::2]
    if any(len(sep) != 1 for sep in separators):  # "1..2", "1,.2", "1  234"
        raise _invalid_number(original)
    if separators.count(",") > 1:  # "1,234,567"
        raise _ambiguous_number(original)

    fraction = ""
    if "," in separators:
        comma = separators.index(",")
        after = separators[comma + 1 :]
        if "." in after:  # "1,234.56", "1.234,567.8"
            raise _ambiguous_number(original)
        if after:  # spaces inside the decimals: "1,234 5"
            raise _invalid_number(original)
        fraction = groups[comma + 1]
        groups, separators = groups[: comma + 1], separators[:comma]

    if separators:
        uses_dot = "." in separators
        well_grouped = (
            len(groups[0]) <= 3
            and not groups[0].startswith("0")
            and all(len(group) == 3 for group in groups[1:])
        )
        if uses_dot and (not well_grouped or len(set(separators)) > 1):
            # "1.5", "12.34", "1234.56", "0.500", "1 234.567"
            raise _ambiguous_number(original)
        if not well_grouped or len(set(separators)) > 1:  # "12 34"
            raise _invalid_number(original)

    digits = "".join(groups)
    return Decimal(f"{sign}{digits}.{fraction}" if fraction else f"{sign}{digits}")


def parse_vn_decimal(text: str) -> Decimal:
    """Parse a Vietnamese-style number: "892.738" -> 892738, "1.234.567,89" -> 1234567.89.

    Accepts surrounding whitespace, a leading "-" or "+", thousands separated by "." (or
    by space, NBSP or narrow NBSP) in groups of exactly three, and "," followed by at least
    one decimal digit. Plain digits ("892738", "29,506") are accepted too.

    Raises:
        VnParseError: code ``number.ambiguous`` for input that could be English style
            ("1.5", "1234.56", "1,234,567", "1,234.56"); ``number.invalid`` otherwise.
    """
    return _parse_number(text, text)


def parse_vn_integer(text: str) -> int:
    """Parse a Vietnamese-style whole number: "1.250.000.000" -> 1250000000, "12,0" -> 12.

    Raises:
        VnParseError: as :func:`parse_vn_decimal`, or code ``number.not_integer`` when the
            value has a non-zero fractional part.
    """
    number = _parse_number(text, text)
    if number != number.to_integral_value():
        raise VnParseError(
            "number.not_integer",
            text,
            f"Giá trị '{text}' phải là số nguyên.",
            f"Value '{text}' must be a whole number.",
        )
    return int(number)


def parse_vn_percent(text: str) -> Decimal:
    """Parse a percentage: "35,59%" -> Decimal("35.59") (the number of percent).

    The "%" sign is optional and may be preceded by spaces.

    Raises:
        VnParseError: as :func:`parse_vn_decimal`.
    """
    body = text.strip()
    if body.endswith("%"):
        body = body[:-1]
    return _parse_number(body, text)


# -------------------------------------------------------------------------- dates

_DAY_FIRST = re.compile(r"([0-9]{1,2})([/.-])([0-9]{1,2})\2([0-9]+)")
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_MONTHS_EN: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _invalid_date(value: str) -> VnParseError:
    return VnParseError(
        "date.invalid",
        value,
        f"Ngày '{value}' không hợp lệ: định dạng là ngày/tháng/năm (ví dụ 18/11/2023).",
        f"Date '{value}' is not valid: the format is day/month/year (e.g. 18/11/2023).",
    )


def _build_date(value: str, year: int, month: int, day: int, *, iso: bool) -> date:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise VnParseError(
            "date.out_of_range",
            value,
            f"Ngày '{value}' nằm ngoài khoảng cho phép: năm phải từ {MIN_YEAR} đến {MAX_YEAR}.",
            f"Date '{value}' is out of range: the year must be between {MIN_YEAR} and {MAX_YEAR}.",
        )
    if not 1 <= month <= 12:
        fmt_vi, fmt_en, example = (
            ("năm-tháng-ngày", "year-month-day", "2023-11-18")
            if iso
            else ("ngày/tháng/năm", "day/month/year", "18/11/2023")
        )
        raise VnParseError(
            "date.invalid",
            value,
            f"Ngày '{value}' không hợp lệ: không có tháng {month}. "
            f"Định dạng là {fmt_vi} (ví dụ {example}).",
            f"Date '{value}' is not valid: there is no month {month}. "
            f"The format is {fmt_en} (e.g. {example}).",
        )
    try:
        return date(year, month, day)
    except ValueError:
        raise VnParseError(
            "date.invalid",
            value,
            f"Ngày '{value}' không hợp lệ: tháng {month}/{year} không có ngày {day}.",
            f"Date '{value}' is not valid: day {day} does not exist in "
            f"{_MONTHS_EN[month - 1]} {year}.",
        ) from None


def parse_vn_date(text: str) -> date:
    """Parse a day-first date ("18/11/2023", "18-11-2023", "18.11.2023", "1/2/2023") or ISO.

    Raises:
        VnParseError: code ``date.ambiguous`` for a 2-digit year, ``date.out_of_range`` for
            a year outside 1900-2100, ``date.invalid`` for anything else (including days
            that do not exist in the month and month-first dates such as "11/18/2023").
    """
    body = text.strip()
    if match := _ISO.fullmatch(body):
        year, month, day = (int(group) for group in match.groups())
        return _build_date(text, year, month, day, iso=True)
    match = _DAY_FIRST.fullmatch(body)
    if match is None:
        raise _invalid_date(text)
    day_s, _sep, month_s, year_s = match.groups()
    if len(year_s) == 2:
        raise VnParseError(
            "date.ambiguous",
            text,
            f"Ngày '{text}' không rõ ràng: năm phải có đủ 4 chữ số (ví dụ 18/11/2023).",
            f"Date '{text}' is ambiguous: the year must have 4 digits (e.g. 18/11/2023).",
        )
    if len(year_s) != 4:
        raise _invalid_date(text)
    return _build_date(text, int(year_s), int(month_s), int(day_s), iso=False)


# --------------------------------------------------------------------- formatting

_SWAP_SEPARATORS: Final = str.maketrans(",.", ".,")
_VND_UNITS: Final[dict[str, tuple[int, str, int]]] = {
    # unit: (power of ten, label, default decimals)
    "dong": (0, "đồng", 0),
    "trieu": (6, "triệu đồng", 0),
    "ty": (9, "tỷ đồng", 3),
}


def format_vn_number(value: Decimal | int, decimals: int = 0) -> str:
    """Format ``value`` Vietnamese style, rounded half-up to ``decimals`` places.

    ``format_vn_number(892738) == "892.738"``,
    ``format_vn_number(Decimal("29.506"), 3) == "29,506"``; negatives get a leading "-".

    Raises:
        ValueError: if ``decimals`` is negative or ``value`` is not finite.
    """
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"cannot format non-finite number {value!r}")
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, number.adjusted() + decimals + 3)
        rounded = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if rounded.is_zero():
        rounded = rounded.copy_abs()  # no "-0"
    return format(rounded, ",f").translate(_SWAP_SEPARATORS)


def format_vnd(
    amount_vnd: int,
    unit: Literal["dong", "trieu", "ty"],
    decimals: int | None = None,
) -> str:
    """Format an amount in đồng for reports, e.g. "892.738 triệu đồng" or "29,506 tỷ đồng".

    ``unit`` is "dong", "trieu" (millions) or "ty" (billions). ``decimals`` defaults to 0
    for "dong" and "trieu" and to 3 for "ty"; rounding is half-up.
    """
    try:
        power, label, default_decimals = _VND_UNITS[unit]
    except KeyError:
        raise ValueError(f"unknown unit {unit!r}; expected 'dong', 'trieu' or 'ty'") from None
    sign, digits, _exponent = Decimal(amount_vnd).as_tuple()
    scaled = Decimal((sign, digits, -power))  # exact, whatever the size
    places = default_decimals if decimals is None else decimals
    return f"{format_vn_number(scaled, places)} {label}"
