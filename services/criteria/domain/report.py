"""The criteria report of the units below a unit: how many meet how many criteria, which
criteria they miss, and the paragraph a district office writes (pure: no I/O here).

District reports (handbook §6) give both the distribution ("of N communes, a meet 18/19
criteria (56/57 indicators), b meet 17/19…") and the per-criterion failure counts ("criterion 2
Transport is not met in c communes…"). This module builds both from evaluations made by the
engine (`evaluation.evaluate`), plus the Vietnamese paragraph:

    Qua rà soát 12 xã: có 03 xã gồm: Xuân Minh, Xuân Lai và Thọ Lập đạt 19/19 tiêu chí,
    57/57 chỉ tiêu; 02 xã gồm: … đạt 18/19 tiêu chí, từ 55/57 đến 56/57 chỉ tiêu; …
    Tiêu chí số 2 - Giao thông có 04 xã chưa đạt; … Có 01 xã chưa đủ dữ liệu để đánh giá: …

Conventions, as offices write them: unit counts with two digits ("03 xã"), names joined with
", " and " và " before the last, the unit type's word ("xã", "phường", "thị trấn", "huyện"…)
when every unit counted is of one type and "đơn vị" when they are mixed.

Which units count where:
- a unit with no value at all is *without data*: it is listed apart and stays out of the
  distribution and of the failure counts (it would otherwise show as "meets 0/19 criteria");
- a unit with some values is *evaluated*; its criteria known not met count as failures, its
  unknown criteria (a missing indicator and none failing) are counted apart, and it is named
  in the "chưa đủ dữ liệu" sentence.

Ordering is deterministic: buckets by criteria met, descending; inside a bucket by indicators
met, descending, then code; failures and unknowns by criterion number; unit lines by code."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from services.criteria.domain.catalog import CriteriaSet
from services.criteria.domain.evaluation import Evaluation

__all__ = [
    "NAMES_UP_TO",
    "CriteriaBucket",
    "CriteriaReport",
    "CriterionFailure",
    "ReportUnit",
    "UnitLine",
    "build_report",
    "count_text",
    "join_vi",
]

NAMES_UP_TO: Final = 30
"""Above this many units in one group the paragraph gives the count without the names (a
province's report does not list 400 communes in a sentence; the tables still do)."""

MIXED_NOUN: Final = "đơn vị"


@dataclass(frozen=True, slots=True)
class ReportUnit:
    """One unit below the report's unit, with its evaluation.

    `name` is the name as the paragraph writes it (the short name, "Xuân Minh");
    `full_name` the official one ("Xã Xuân Minh"); `type_name` the unit type ("Xã",
    "Phường", "Thị trấn"…)."""

    code: str
    name: str
    type_name: str
    evaluation: Evaluation
    full_name: str | None = None

    @property
    def has_data(self) -> bool:
        """At least one indicator has a value (recorded or derived)."""
        return self.evaluation.indicators_missing < self.evaluation.indicators_total


@dataclass(frozen=True, slots=True)
class UnitLine:
    """One unit's row in the report's table; `criteria` holds each criterion's status in the
    set's order (True met, False not met, None unknown)."""

    code: str
    name: str
    full_name: str
    type_name: str
    has_data: bool
    criteria_met: int
    criteria_not_met: int
    criteria_unknown: int
    indicators_met: int
    indicators_missing: int
    meets_standard: bool
    criteria: tuple[bool | None, ...]

    @property
    def not_met(self) -> tuple[int, ...]:
        """Positions (1-based, in the set's order) of criteria known not met."""
        return tuple(n for n, met in enumerate(self.criteria, start=1) if met is False)


@dataclass(frozen=True, slots=True)
class CriteriaBucket:
    """The evaluated units meeting exactly `criteria_met` criteria, with their indicator range."""

    criteria_met: int
    indicators_met_min: int
    indicators_met_max: int
    unit_codes: tuple[str, ...]
    unit_names: tuple[str, ...]

    @property
    def units(self) -> int:
        return len(self.unit_codes)


@dataclass(frozen=True, slots=True)
class CriterionFailure:
    """One criterion: the evaluated units known not to meet it, and those where it is unknown."""

    number: int
    name: str
    unit_codes: tuple[str, ...]
    unit_names: tuple[str, ...]
    unknown_unit_codes: tuple[str, ...]

    @property
    def units_not_met(self) -> int:
        return len(self.unit_codes)

    @property
    def units_unknown(self) -> int:
        return len(self.unknown_unit_codes)


@dataclass(frozen=True, slots=True)
class CriteriaReport:
    """The report over the units below a unit for one set and year.

    `units_evaluated` counts the units with some data (the distribution adds up to it);
    `without_data_codes` the others; `incomplete_codes` the evaluated units with at least one
    criterion unknown. `criterion_failures` has every criterion of the set, in order."""

    criteria_set: str
    year: int
    criteria_total: int
    indicators_total: int
    units_total: int
    units_evaluated: int
    meeting_standard_codes: tuple[str, ...]
    incomplete_codes: tuple[str, ...]
    without_data_codes: tuple[str, ...]
    distribution: tuple[CriteriaBucket, ...]
    criterion_failures: tuple[CriterionFailure, ...]
    units: tuple[UnitLine, ...]
    summary_vi: str

    @property
    def meeting_standard(self) -> int:
        return len(self.meeting_standard_codes)


# --- Vietnamese text ------------------------------------------------------------------------


def join_vi(items: Sequence[str]) -> str:
    """"A", "A và B", "A, B và C"."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " và " + items[-1]


def _two_digits(n: int) -> str:
    return f"{n:02d}"


def _noun(type_names: Sequence[str]) -> str:
    kinds = {t.strip().lower() for t in type_names}
    return kinds.pop() if len(kinds) == 1 else MIXED_NOUN


def count_text(type_names: Sequence[str]) -> str:
    """"03 xã"; for mixed types "12 đơn vị (10 xã, 02 thị trấn)" (types by count, then name)."""
    n = len(type_names)
    noun = _noun(type_names)
    if noun != MIXED_NOUN or n == 0:
        return f"{_two_digits(n)} {noun}"
    by_type = Counter(t.strip().lower() for t in type_names)
    parts = sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))
    breakdown = ", ".join(f"{_two_digits(k)} {t}" for t, k in parts)
    return f"{_two_digits(n)} {MIXED_NOUN} ({breakdown})"


def _named_group(units: Sequence[ReportUnit], names_up_to: int) -> str:
    """"03 xã gồm: A, B và C", "01 xã (A)", or the count alone past `names_up_to`."""
    types = [u.type_name for u in units]
    noun = _noun(types)
    if len(units) > names_up_to:
        return count_text(types)
    if noun == MIXED_NOUN:
        names = [f"{u.type_name.strip().lower()} {u.name}" for u in units]
    else:
        names = [u.name for u in units]
    head = f"{_two_digits(len(units))} {noun}"
    if len(names) == 1:
        return f"{head} ({names[0]})"
    return f"{head} gồm: {join_vi(names)}"


def _indicator_range(low: int, high: int, total: int) -> str:
    if low == high:
        return f"{low}/{total} chỉ tiêu"
    return f"từ {low}/{total} đến {high}/{total} chỉ tiêu"


def _numbers(numbers: Sequence[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _summary(
    criteria_set: CriteriaSet,
    evaluated: Sequence[ReportUnit],
    buckets: Sequence[tuple[int, list[ReportUnit]]],
    failures: Sequence[tuple[int, str, list[ReportUnit]]],
    incomplete: Sequence[ReportUnit],
    without_data: Sequence[ReportUnit],
    names_up_to: int,
) -> str:
    criteria_total = len(criteria_set.criteria)
    indicators_total = criteria_set.indicator_count
    sentences: list[str] = []
    if not evaluated and not without_data:
        return "Không có đơn vị nào thuộc phạm vi rà soát."
    if evaluated:
        clauses = []
        for met, units in buckets:
            counts = [u.evaluation.indicators_met for u in units]
            clauses.append(
                f"{_named_group(units, names_up_to)} đạt {met}/{criteria_total} tiêu chí, "
                f"{_indicator_range(min(counts), max(counts), indicators_total)}"
            )
        sentences.append(
            f"Qua rà soát {count_text([u.type_name for u in evaluated])}: có "
            + "; ".join(clauses)
            + "."
        )
        failing = [
            f"Tiêu chí số {number} - {name} có "
            f"{_two_digits(len(units))} {_noun([u.type_name for u in units])} chưa đạt"
            for number, name, units in failures
            if units
        ]
        if failing:
            sentences.append("; ".join(failing) + ".")
        else:
            sentences.append("Không có tiêu chí nào chưa đạt.")
        if incomplete:
            head = count_text([u.type_name for u in incomplete])
            if len(incomplete) > names_up_to:
                sentences.append(f"Có {head} chưa đủ dữ liệu để đánh giá.")
            else:
                mixed = _noun([u.type_name for u in incomplete]) == MIXED_NOUN
                named = [
                    (f"{u.type_name.strip().lower()} {u.name}" if mixed else u.name)
                    + " (thiếu dữ liệu tiêu chí số "
                    + _numbers([c.number for c in u.evaluation.criteria if c.met is None])
                    + ")"
                    for u in incomplete
                ]
                sentences.append(
                    f"Có {head} chưa đủ dữ liệu để đánh giá: {join_vi(named)}."
                )
    if without_data:
        head = count_text([u.type_name for u in without_data])
        if evaluated:
            sentences.append(f"Còn {head} chưa có số liệu để đánh giá.")
        else:
            sentences.append(f"Cả {head} chưa có số liệu để đánh giá.")
    return " ".join(sentences)


# --- the report -----------------------------------------------------------------------------


def _line(unit: ReportUnit) -> UnitLine:
    e = unit.evaluation
    return UnitLine(
        code=unit.code,
        name=unit.name,
        full_name=unit.full_name or unit.name,
        type_name=unit.type_name,
        has_data=unit.has_data,
        criteria_met=e.criteria_met,
        criteria_not_met=e.criteria_not_met,
        criteria_unknown=e.criteria_unknown,
        indicators_met=e.indicators_met,
        indicators_missing=e.indicators_missing,
        meets_standard=e.meets_standard,
        criteria=tuple(c.met for c in e.criteria),
    )


def build_report(
    criteria_set: CriteriaSet,
    year: int,
    units: Sequence[ReportUnit],
    *,
    names_up_to: int = NAMES_UP_TO,
) -> CriteriaReport:
    """The report over `units` (each evaluated against `criteria_set` for `year`).

    Raises ValueError when an evaluation is of another set or year, or a code repeats."""
    codes = [u.code for u in units]
    if len(codes) != len(set(codes)):
        raise ValueError("a unit appears twice in the report")
    for u in units:
        if u.evaluation.criteria_set != criteria_set.code or u.evaluation.year != year:
            raise ValueError(
                f"unit {u.code}: evaluated against {u.evaluation.criteria_set} "
                f"{u.evaluation.year}, not {criteria_set.code} {year}"
            )
    ordered = sorted(units, key=lambda u: u.code)
    evaluated = [u for u in ordered if u.has_data]
    without_data = [u for u in ordered if not u.has_data]

    by_met: dict[int, list[ReportUnit]] = {}
    for u in evaluated:
        by_met.setdefault(u.evaluation.criteria_met, []).append(u)
    buckets = [
        (met, sorted(group, key=lambda u: (-u.evaluation.indicators_met, u.code)))
        for met, group in sorted(by_met.items(), reverse=True)
    ]

    failures: list[tuple[int, str, list[ReportUnit]]] = []
    unknown: list[list[ReportUnit]] = []
    for position, criterion in enumerate(criteria_set.criteria):
        failing = [u for u in evaluated if u.evaluation.criteria[position].met is False]
        failures.append((criterion.number, criterion.name, failing))
        unknown.append([u for u in evaluated if u.evaluation.criteria[position].met is None])
    incomplete = [u for u in evaluated if u.evaluation.criteria_unknown > 0]

    return CriteriaReport(
        criteria_set=criteria_set.code,
        year=year,
        criteria_total=len(criteria_set.criteria),
        indicators_total=criteria_set.indicator_count,
        units_total=len(ordered),
        units_evaluated=len(evaluated),
        meeting_standard_codes=tuple(u.code for u in evaluated if u.evaluation.meets_standard),
        incomplete_codes=tuple(u.code for u in incomplete),
        without_data_codes=tuple(u.code for u in without_data),
        distribution=tuple(
            CriteriaBucket(
                criteria_met=met,
                indicators_met_min=min(u.evaluation.indicators_met for u in group),
                indicators_met_max=max(u.evaluation.indicators_met for u in group),
                unit_codes=tuple(u.code for u in group),
                unit_names=tuple(u.name for u in group),
            )
            for met, group in buckets
        ),
        criterion_failures=tuple(
            CriterionFailure(
                number=number,
                name=name,
                unit_codes=tuple(u.code for u in failing),
                unit_names=tuple(u.name for u in failing),
                unknown_unit_codes=tuple(u.code for u in unknown_units),
            )
            for (number, name, failing), unknown_units in zip(failures, unknown, strict=True)
        ),
        units=tuple(_line(u) for u in ordered),
        summary_vi=_summary(
            criteria_set, evaluated, buckets, failures, incomplete, without_data, names_up_to
        ),
    )
