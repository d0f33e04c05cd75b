"""The criteria report of the units below a unit: how many meet how many criteria, which
criteria they miss, and the paragraph a district office writes (pure: no I/O here).

District reports (handbook §6) give both the distribution ("of N communes, a meet 18/19
criteria (56/57 indicators), b meet 17/19…") and the per-criterion failure counts ("criterion 2
Transport is not met in c communes…"). This module builds both, plus the Vietnamese
paragraph, from each unit's evaluation: the engine's `Evaluation`, or the `UnitOutcome` of
`SetEvaluator`, which counts the same for many units at a time (see its docstring):

    Qua rà soát 12 xã: có 03 xã gồm: Thọ Lập, Xuân Lai và Xuân Minh đạt 19/19 tiêu chí,
    57/57 chỉ tiêu; 03 xã gồm: … đạt 18/19 tiêu chí, từ 55/57 đến 56/57 chỉ tiêu; …
    Tiêu chí số 2 - Giao thông có 07 xã chưa đạt; … Có 02 xã chưa đủ dữ liệu để đánh giá: …

Conventions, as offices write them: unit counts with two digits ("03 xã"), names joined with
", " and " và " before the last, the unit type's word ("xã", "phường", "thị trấn", "huyện"…)
when every unit counted is of one type and "đơn vị" when they are mixed.

Which units count where:
- a unit with no value at all is *without data*: it is listed apart and stays out of the
  distribution and of the failure counts (it would otherwise show as "meets 0/19 criteria").
  The caller may say so itself (`ReportUnit.has_records`): a district for which nothing was
  recorded is without data even though its derived indicators (the share of its communes
  holding a title) have values;
- a unit with some values is *evaluated*; its criteria known not met count as failures, its
  unknown criteria (a missing indicator and none failing) are counted apart, and it is named
  in the "chưa đủ dữ liệu" sentence.

Ordering is deterministic: buckets by criteria met, descending; inside a bucket by indicators
met, descending, then code; failures and unknowns by criterion number; unit lines by code."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import compress, repeat
from typing import Any, Final, cast

from services.criteria.domain.catalog import Comparator, CriteriaSet, Kind, ThresholdScheme
from services.criteria.domain.evaluation import (
    Evaluation,
    UnitProfile,
    Value,
    ValueTypeError,
    select_threshold,
)

__all__ = [
    "NAMES_UP_TO",
    "CriteriaBucket",
    "CriteriaReport",
    "CriterionFailure",
    "ReportUnit",
    "SetEvaluator",
    "UnitLine",
    "UnitOutcome",
    "build_report",
    "count_text",
    "join_vi",
]

NAMES_UP_TO: Final = 30
"""Above this many units in one group the paragraph gives the count without the names (a
province's report does not list 400 communes in a sentence; the tables still do)."""

MIXED_NOUN: Final = "đơn vị"


@dataclass(frozen=True, slots=True)
class UnitOutcome:
    """What the report needs of one unit's evaluation: each criterion's status in the set's
    order (True met, False not met, None unknown) and the indicator counts."""

    criteria_set: str
    year: int
    criteria: tuple[bool | None, ...]
    indicators_met: int
    indicators_missing: int
    indicators_total: int

    @classmethod
    def of(cls, evaluation: Evaluation) -> UnitOutcome:
        return cls(
            criteria_set=evaluation.criteria_set,
            year=evaluation.year,
            criteria=tuple(c.met for c in evaluation.criteria),
            indicators_met=evaluation.indicators_met,
            indicators_missing=evaluation.indicators_missing,
            indicators_total=evaluation.indicators_total,
        )

    # `criteria` holds only True, False and None, so counting by equality is exact
    @property
    def criteria_met(self) -> int:
        return self.criteria.count(True)

    @property
    def criteria_not_met(self) -> int:
        return self.criteria.count(False)

    @property
    def criteria_unknown(self) -> int:
        return self.criteria.count(None)

    @property
    def meets_standard(self) -> bool:
        return self.criteria.count(True) == len(self.criteria)

    @property
    def has_data(self) -> bool:
        """At least one indicator has a value (recorded or derived)."""
        return self.indicators_missing < self.indicators_total


# One indicator of a compiled set: its code, whether its value must be a boolean (None: either,
# for a derived indicator without a threshold), its threshold value (None: none applies) and
# how a checked value is compared with it. A value that passed the type check is a boolean
# when the threshold is one and a Decimal when the threshold is a number (the catalog gives
# boolean indicators boolean thresholds, numbers numeric ones, and a derived indicator wants
# its threshold's type), so the comparison is chosen once, with the threshold.
_Planned = tuple[str, bool | None, Value | None, Callable[[Any, Any], bool]]

_COMPARE: Final[dict[Comparator, Callable[[Decimal, Decimal], bool]]] = {
    Comparator.ge: operator.ge,
    Comparator.gt: operator.gt,
    Comparator.le: operator.le,
    Comparator.lt: operator.lt,
    Comparator.eq: operator.eq,
}

_LAYOUTS_KEPT: Final = 4096
"""Layouts remembered by one evaluator; a report's units share a handful (those with every
value recorded share one), so this bound only matters to a caller feeding random shapes."""

_FINITE: Final = Decimal.is_finite


def _wants_bool(kind: Kind, expected: Value | None) -> bool | None:
    """The engine's type rule: booleans for boolean indicators, exact numbers for numbers and
    percents, and for derived ones the type of their threshold (either without one)."""
    if kind is Kind.boolean:
        return True
    if kind is Kind.derived:
        return isinstance(expected, bool) if expected is not None else None
    return False


def _ignored(value: object, expected: object) -> None:
    """The comparison of a value that is not compared: its code is not in the set, or no
    threshold applies to it (its criterion is then unknown unless another indicator fails)."""
    return None


@dataclass(frozen=True, slots=True)
class _Layout:
    """What a unit's values mean, for one threshold key, when they arrive as a given tuple of
    boolean codes and a given tuple of numeric codes. Everything is aligned with the values as
    they arrive (booleans, then numbers): each value's comparison (`_ignored` for one not
    compared), threshold and criterion position (-1 for one not compared). `statuses` is each
    criterion's status when nothing compared fails (None where an indicator is missing or has
    no threshold, else True); `failed` remembers the statuses for each combination of failing
    criteria seen."""

    bool_compare: tuple[Callable[[Any, Any], bool | None], ...]
    bool_expected: tuple[Value | None, ...]
    number_compare: tuple[Callable[[Any, Any], bool | None], ...]
    number_expected: tuple[Value | None, ...]
    bools_by_equality: bool
    criterion_of: tuple[int, ...]
    statuses: tuple[bool | None, ...]
    missing: int
    failed: dict[tuple[int, ...], tuple[bool | None, ...]]


class SetEvaluator:
    """Evaluates many units against one set and year, counting only: the same statuses and
    counts as `evaluation.evaluate` (a property test holds them equal), without building a
    result per indicator.

    The full engine builds an explained result for each of the 57 indicators of each unit
    (display texts, gaps): about 0.6 ms a commune, 600 ms for a province of 1,000. A report
    needs only each criterion's status and the indicator counts. Thresholds are selected once
    per threshold key (region or commune group) with the engine's `select_threshold`; then,
    once per *layout* (which codes hold a boolean and which a number: the units of a report
    share a handful), each arriving value's comparison, threshold and criterion are laid out,
    so that a unit costs a few calls that loop in C (`map`, `list.count`, `list.index`) rather
    than a Python loop over its 57 values: a few µs a commune. Anything out of the ordinary
    (a value of the wrong type, a non-finite number, an int) takes the checked
    indicator-by-indicator path, which raises the engine's `ValueTypeError` for the indicator
    the engine names. A change to the engine's rules must be made here too; the property
    tests `TestSetEvaluator` in tests/criteria/test_report_domain.py fail until it is."""

    def __init__(self, criteria_set: CriteriaSet, year: int) -> None:
        self.criteria_set = criteria_set
        self.year = year
        self.indicators_total = criteria_set.indicator_count
        self._region_scheme = criteria_set.threshold_scheme is ThresholdScheme.region
        self._plans: dict[str | None, tuple[tuple[_Planned, ...], ...]] = {}
        self._layouts: dict[
            tuple[str | None, tuple[str, ...], tuple[str, ...]], _Layout | None
        ] = {}
        # the last layout used, found again by identity: the report's units share code tuples
        self._last: tuple[tuple[str, ...], tuple[str, ...], str | None, _Layout | None] | None
        self._last = None

    def _key(self, profile: UnitProfile) -> str | None:
        if self._region_scheme:
            return profile.effective_region
        return profile.commune_group

    def _plan(self, profile: UnitProfile) -> tuple[tuple[_Planned, ...], ...]:
        key = self._key(profile)
        plan = self._plans.get(key)
        if plan is None:
            scheme = self.criteria_set.threshold_scheme
            criteria: list[tuple[_Planned, ...]] = []
            for criterion in self.criteria_set.criteria:
                planned: list[_Planned] = []
                for indicator in criterion.indicators:
                    threshold = select_threshold(indicator, scheme, profile, self.year)
                    expected = None if threshold is None else threshold.value
                    planned.append(
                        (
                            indicator.code,
                            _wants_bool(indicator.kind, expected),
                            expected,
                            # booleans compare by equality whatever the comparator
                            operator.eq
                            if isinstance(expected, bool)
                            else _COMPARE[indicator.comparator],
                        )
                    )
                criteria.append(tuple(planned))
            plan = self._plans[key] = tuple(criteria)
        return plan

    def _layout(
        self, profile: UnitProfile, bool_codes: tuple[str, ...], number_codes: tuple[str, ...]
    ) -> _Layout | None:
        """The layout of these codes for the profile's thresholds; None when some value has
        the wrong type for its indicator (or a code comes twice): the checked path then
        raises (or decides) as the engine does."""
        key = self._key(profile)
        last = self._last
        if (
            last is not None
            and last[0] is bool_codes
            and last[1] is number_codes
            and last[2] == key
        ):
            return last[3]
        cache_key = (key, bool_codes, number_codes)
        if cache_key in self._layouts:
            layout = self._layouts[cache_key]
        else:
            layout = self._lay_out(profile, bool_codes, number_codes)
            if len(self._layouts) >= _LAYOUTS_KEPT:
                self._layouts.clear()
            self._layouts[cache_key] = layout
        self._last = (bool_codes, number_codes, key, layout)
        return layout

    def _lay_out(
        self, profile: UnitProfile, bool_codes: tuple[str, ...], number_codes: tuple[str, ...]
    ) -> _Layout | None:
        arriving = [*bool_codes, *number_codes]
        position = {code: index for index, code in enumerate(arriving)}
        if len(position) != len(arriving):
            return None
        compare: list[Callable[[Any, Any], bool | None]] = [_ignored] * len(arriving)
        expected_values: list[Value | None] = [None] * len(arriving)
        criterion_of = [-1] * len(arriving)
        statuses: list[bool | None] = []
        missing = 0
        for number, planned in enumerate(self._plan(profile)):
            status: bool | None = True
            for code, wants_bool, expected, compare_with in planned:
                index = position.get(code)
                if index is None:
                    missing += 1
                    status = None
                    continue
                if wants_bool is not None and wants_bool is not (index < len(bool_codes)):
                    return None  # a value of the wrong type
                if expected is None:
                    status = None
                    continue
                compare[index] = compare_with
                expected_values[index] = expected
                criterion_of[index] = number
            statuses.append(status)
        split = len(bool_codes)
        return _Layout(
            bool_compare=tuple(compare[:split]),
            bool_expected=tuple(expected_values[:split]),
            number_compare=tuple(compare[split:]),
            number_expected=tuple(expected_values[split:]),
            # booleans all compared with their threshold by equality (the usual case): the
            # comparisons need no `operator.call`
            bools_by_equality=all(c is operator.eq for c in compare[:split]),
            criterion_of=tuple(criterion_of),
            statuses=tuple(statuses),
            missing=missing,
            failed={},
        )

    def outcome(self, profile: UnitProfile, values: Mapping[str, Value | None]) -> UnitOutcome:
        """The unit's outcome; `values` as `evaluation.evaluate` takes them."""
        bool_codes: list[str] = []
        bools: list[bool] = []
        number_codes: list[str] = []
        numbers: list[Decimal] = []
        for code, raw in values.items():
            kind = type(raw)
            if kind is bool:
                bool_codes.append(code)
                bools.append(cast(bool, raw))
            elif kind is Decimal:
                number_codes.append(code)
                numbers.append(cast(Decimal, raw))
            elif raw is not None:  # an int to convert, or a value of no accepted type
                return self._checked_outcome(profile, values)
        return self.outcome_of(profile, tuple(bool_codes), bools, tuple(number_codes), numbers)

    def outcome_of(
        self,
        profile: UnitProfile,
        bool_codes: tuple[str, ...],
        bools: Sequence[bool],
        number_codes: tuple[str, ...],
        numbers: Sequence[Decimal],
    ) -> UnitOutcome:
        """The unit's outcome from its values in columns, as the report reads them: the codes
        holding booleans and those booleans, the codes holding numbers and those numbers
        (codes not in the set are ignored, as the engine ignores them). Units passing the
        same code tuples (the same objects) reuse their layout without hashing the codes."""
        if len(bools) != len(bool_codes) or len(numbers) != len(number_codes):
            raise ValueError("each code needs exactly one value")
        layout = self._layout(profile, bool_codes, number_codes)
        if layout is None or not all(map(_FINITE, numbers)):
            values: dict[str, Value | None] = dict(zip(number_codes, numbers, strict=True))
            values.update(zip(bool_codes, bools, strict=True))
            return self._checked_outcome(profile, values)
        if layout.bools_by_equality:
            met = list(map(operator.eq, bools, layout.bool_expected))
        else:
            met = list(map(operator.call, layout.bool_compare, bools, layout.bool_expected))
        met += map(operator.call, layout.number_compare, numbers, layout.number_expected)
        failures = met.count(False)
        if failures:
            # a few failures among 57: found by list.index (only False equals False here)
            criterion_of = layout.criterion_of
            failing: list[int] = []
            index = -1
            for _ in range(failures):
                index = met.index(False, index + 1)
                failing.append(criterion_of[index])
            key = tuple(failing)
            criteria = layout.failed.get(key)
            if criteria is None:
                statuses = list(layout.statuses)
                for number in failing:
                    statuses[number] = False
                criteria = layout.failed[key] = tuple(statuses)
        else:
            criteria = layout.statuses
        # positional: a frozen dataclass is built faster so, and a province has 1,000 units
        return UnitOutcome(
            self.criteria_set.code,
            self.year,
            criteria,
            met.count(True),
            layout.missing,
            self.indicators_total,
        )

    def _checked_outcome(
        self, profile: UnitProfile, values: Mapping[str, Value | None]
    ) -> UnitOutcome:
        """Indicator by indicator in the set's order, checking each value's type as the engine
        does (and raising for the same indicator)."""
        statuses: list[bool | None] = []
        met_total = 0
        missing_total = 0
        get = values.get
        for planned in self._plan(profile):
            status: bool | None = True
            for code, wants_bool, expected, compare in planned:
                raw = get(code)
                if raw is None:
                    missing_total += 1
                    if status is True:
                        status = None
                    continue
                value = _checked(code, wants_bool, raw)
                if expected is None:
                    if status is True:
                        status = None
                    continue
                if compare(value, expected):
                    met_total += 1
                else:
                    status = False
            statuses.append(status)
        return UnitOutcome(
            criteria_set=self.criteria_set.code,
            year=self.year,
            criteria=tuple(statuses),
            indicators_met=met_total,
            indicators_missing=missing_total,
            indicators_total=self.indicators_total,
        )


def _checked(code: str, wants_bool: bool | None, raw: object) -> Value:
    """The value checked against the type its indicator wants, raising as the engine does."""
    if isinstance(raw, bool):
        if wants_bool is False:
            raise ValueTypeError(code, "a number", raw)
        return raw
    if wants_bool is True:
        raise ValueTypeError(code, "a boolean", raw)
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise ValueTypeError(code, "a finite number", raw)
        return raw
    raise ValueTypeError(code, "a boolean or an exact number (Decimal)", raw)


@dataclass(frozen=True, slots=True)
class ReportUnit:
    """One unit below the report's unit, with its evaluation (the engine's full `Evaluation`
    or a `SetEvaluator` outcome).

    `name` is the name as the paragraph writes it (the short name, "Xuân Minh");
    `full_name` the official one ("Xã Xuân Minh"); `type_name` the unit type ("Xã",
    "Phường", "Thị trấn"…). `has_records` says whether any value was recorded for the unit;
    None judges from the evaluation (some indicator has a value, derived ones included)."""

    code: str
    name: str
    type_name: str
    result: Evaluation | UnitOutcome
    full_name: str | None = None
    has_records: bool | None = None

    @property
    def outcome(self) -> UnitOutcome:
        r = self.result
        return r if isinstance(r, UnitOutcome) else UnitOutcome.of(r)


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
    """ "A", "A và B", "A, B và C"."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " và " + items[-1]


def _two_digits(n: int) -> str:
    return f"{n:02d}"


def _noun(type_names: Sequence[str]) -> str:
    # a province's 1,000 names hold a handful of distinct types: normalise those only
    kinds = {t.strip().lower() for t in set(type_names)}
    return kinds.pop() if len(kinds) == 1 else MIXED_NOUN


def count_text(type_names: Sequence[str]) -> str:
    """ "03 xã"; for mixed types "12 đơn vị (10 xã, 02 thị trấn)" (types by count, then name)."""
    n = len(type_names)
    noun = _noun(type_names)
    if noun != MIXED_NOUN or n == 0:
        return f"{_two_digits(n)} {noun}"
    by_type: Counter[str] = Counter()
    for type_name, k in Counter(type_names).items():
        by_type[type_name.strip().lower()] += k
    parts = sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))
    breakdown = ", ".join(f"{_two_digits(k)} {t}" for t, k in parts)
    return f"{_two_digits(n)} {MIXED_NOUN} ({breakdown})"


def _named_group(units: Sequence[UnitLine], names_up_to: int) -> str:
    """ "03 xã gồm: A, B và C", "01 xã (A)", or the count alone past `names_up_to`."""
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
    evaluated: Sequence[UnitLine],
    buckets: Sequence[tuple[int, list[UnitLine]]],
    failures: Sequence[tuple[int, str, list[UnitLine]]],
    incomplete: Sequence[UnitLine],
    without_data: Sequence[UnitLine],
    names_up_to: int,
) -> str:
    criteria_total = len(criteria_set.criteria)
    indicators_total = criteria_set.indicator_count
    numbers = [c.number for c in criteria_set.criteria]
    sentences: list[str] = []
    if not evaluated and not without_data:
        return "Không có đơn vị nào thuộc phạm vi rà soát."
    if evaluated:
        clauses = []
        for met, units in buckets:
            counts = [u.indicators_met for u in units]
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
                    + _numbers(
                        [n for n, met in zip(numbers, u.criteria, strict=True) if met is None]
                    )
                    + ")"
                    for u in incomplete
                ]
                sentences.append(f"Có {head} chưa đủ dữ liệu để đánh giá: {join_vi(named)}.")
    if without_data:
        head = _named_group(without_data, names_up_to)
        if evaluated:
            sentences.append(f"Còn {head} chưa có số liệu để đánh giá.")
        else:
            sentences.append(f"Cả {head} chưa có số liệu để đánh giá.")
    return " ".join(sentences)


# --- the report -----------------------------------------------------------------------------


def build_report(
    criteria_set: CriteriaSet,
    year: int,
    units: Sequence[ReportUnit],
    *,
    names_up_to: int = NAMES_UP_TO,
) -> CriteriaReport:
    """The report over `units` (each evaluated against `criteria_set` for `year`).

    Raises ValueError when an evaluation is of another set or year, or a code repeats.

    A province's report has 1,000 units: the units of each criterion are taken from the
    column of the units' statuses (`zip(*…)`, `compress`), not by a Python loop over every
    unit and criterion."""
    codes = [u.code for u in units]
    if len(codes) != len(set(codes)):
        raise ValueError("a unit appears twice in the report")
    criteria_total = len(criteria_set.criteria)
    ordered: list[UnitLine] = []
    for given in sorted(units, key=_CODE):
        o = given.outcome
        if o.criteria_set != criteria_set.code or o.year != year:
            raise ValueError(
                f"unit {given.code}: evaluated against {o.criteria_set} {o.year}, "
                f"not {criteria_set.code} {year}"
            )
        criteria = o.criteria
        if len(criteria) != criteria_total:
            raise ValueError(f"unit {given.code}: {len(criteria)} criteria, not {criteria_total}")
        met = criteria.count(True)
        ordered.append(
            UnitLine(
                code=given.code,
                name=given.name,
                full_name=given.full_name or given.name,
                type_name=given.type_name,
                has_data=o.has_data if given.has_records is None else given.has_records,
                criteria_met=met,
                criteria_not_met=criteria.count(False),
                criteria_unknown=criteria.count(None),
                indicators_met=o.indicators_met,
                indicators_missing=o.indicators_missing,
                meets_standard=met == criteria_total,
                criteria=criteria,
            )
        )
    evaluated = [u for u in ordered if u.has_data]
    without_data = [u for u in ordered if not u.has_data]

    by_met: dict[int, list[UnitLine]] = {}
    for u in evaluated:
        by_met.setdefault(u.criteria_met, []).append(u)
    buckets = [
        (met, sorted(group, key=lambda u: (-u.indicators_met, u.code)))
        for met, group in sorted(by_met.items(), reverse=True)
    ]

    # each criterion's column of statuses, one tuple per criterion (every unit has them all)
    columns: list[tuple[bool | None, ...]] = (
        list(zip(*(u.criteria for u in evaluated), strict=True))
        if evaluated
        else [()] * criteria_total
    )
    failures = [
        (criterion.number, criterion.name, _having(evaluated, column, False))
        for criterion, column in zip(criteria_set.criteria, columns, strict=True)
    ]
    unknown = [_having(evaluated, column, None) for column in columns]
    incomplete = [u for u in evaluated if u.criteria_unknown > 0]

    return CriteriaReport(
        criteria_set=criteria_set.code,
        year=year,
        criteria_total=criteria_total,
        indicators_total=criteria_set.indicator_count,
        units_total=len(ordered),
        units_evaluated=len(evaluated),
        meeting_standard_codes=tuple(u.code for u in evaluated if u.meets_standard),
        incomplete_codes=tuple(u.code for u in incomplete),
        without_data_codes=tuple(u.code for u in without_data),
        distribution=tuple(
            CriteriaBucket(
                criteria_met=met,
                indicators_met_min=min(map(_INDICATORS_MET, group)),
                indicators_met_max=max(map(_INDICATORS_MET, group)),
                unit_codes=tuple(map(_CODE, group)),
                unit_names=tuple(map(_NAME, group)),
            )
            for met, group in buckets
        ),
        criterion_failures=tuple(
            CriterionFailure(
                number=number,
                name=name,
                unit_codes=tuple(map(_CODE, failing)),
                unit_names=tuple(map(_NAME, failing)),
                unknown_unit_codes=tuple(map(_CODE, unknown_units)),
            )
            for (number, name, failing), unknown_units in zip(failures, unknown, strict=True)
        ),
        units=tuple(ordered),
        summary_vi=_summary(
            criteria_set, evaluated, buckets, failures, incomplete, without_data, names_up_to
        ),
    )


_CODE: Final = operator.attrgetter("code")
_NAME: Final = operator.attrgetter("name")
_INDICATORS_MET: Final = operator.attrgetter("indicators_met")


def _having(
    units: list[UnitLine], column: tuple[bool | None, ...], status: bool | None
) -> list[UnitLine]:
    """The units whose status in `column` (one per unit, in order) is `status`."""
    if status not in column:
        return []
    return list(compress(units, map(operator.is_, column, repeat(status))))
