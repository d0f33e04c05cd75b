"""The criteria report over many units (pure): distribution, failures, ordering, the paragraph.

Evaluations come from the real engine on the shipped xa-ntm-2021 set (19 criteria, 57
indicators); values are made to meet or fail each indicator's threshold for region BTB."""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from functools import cache
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.criteria.domain.catalog import REGIONS, Comparator, CriteriaSet, Indicator, Kind
from services.criteria.domain.evaluation import (
    UnitProfile,
    Value,
    ValueTypeError,
    evaluate,
    select_threshold,
)
from services.criteria.domain.report import (
    ReportUnit,
    SetEvaluator,
    UnitOutcome,
    build_report,
    count_text,
    join_vi,
)
from services.criteria.reference.catalog import load_catalog

YEAR = 2023
PROFILE = UnitProfile(region="BTB", commune_group=None)


@cache
def all_sets() -> tuple[CriteriaSet, ...]:
    return tuple(load_catalog())


@cache
def xa_ntm() -> CriteriaSet:
    return next(s for s in all_sets() if s.code == "xa-ntm-2021")


def values_for(fail: Collection[str] = (), missing: Collection[str] = ()) -> dict[str, Value]:
    """Every indicator meeting its BTB threshold, except those to fail or leave out."""
    criteria_set = xa_ntm()
    out: dict[str, Value] = {}
    for indicator in (i for c in criteria_set.criteria for i in c.indicators):
        if indicator.code in missing:
            continue
        threshold = select_threshold(indicator, criteria_set.threshold_scheme, PROFILE, YEAR)
        assert threshold is not None
        value = threshold.value
        if indicator.code in fail:
            if isinstance(value, bool):
                value = not value
            else:
                below = indicator.comparator in (Comparator.ge, Comparator.gt, Comparator.eq)
                value = value - Decimal(1) if below else value + Decimal(1)
        out[indicator.code] = value
    return out


def unit(
    code: str,
    name: str,
    *,
    type_name: str = "Xã",
    fail: Collection[str] = (),
    missing: Collection[str] = (),
    no_data: bool = False,
) -> ReportUnit:
    values = {} if no_data else values_for(fail, missing)
    return ReportUnit(
        code=code,
        name=name,
        type_name=type_name,
        full_name=f"{type_name} {name}",
        result=evaluate(xa_ntm(), PROFILE, YEAR, values),
    )


# 12 communes of Thọ Xuân with data (given out of code order) and one without:
# (code, short name, indicators failing, indicators missing, no data at all)
THIRTEEN: list[tuple[str, str, set[str], set[str], bool]] = [
    ("15592", "Xuân Minh", set(), set(), False),
    ("15583", "Xuân Lai", set(), set(), False),
    ("15568", "Thọ Lập", set(), set(), False),
    ("15502", "Bắc Lương", {"2.1", "2.2"}, set(), False),
    ("15493", "Xuân Hồng", {"2.1"}, set(), False),
    ("15505", "Nam Giang", {"17.2"}, set(), False),
    ("15508", "Xuân Phong", {"2.1", "17.1"}, set(), False),
    ("15511", "Thọ Lộc", {"2.3", "10.1"}, set(), False),
    ("15514", "Xuân Trường", {"2.4"}, {"3.1"}, False),
    ("15520", "Thọ Hải", set(), {"15.1", "15.2", "19.1"}, False),
    ("15526", "Xuân Giang", {"2.1", "2.2", "2.3", "17.1", "17.2"}, set(), False),
    ("15517", "Xuân Hòa", {"2.1", "5.1", "17.1", "17.3"}, set(), False),
    ("15523", "Tây Hồ", set(), set(), True),
]


def thirteen_values() -> list[dict[str, Value]]:
    return [
        {} if no_data else values_for(fail, missing) for _, _, fail, missing, no_data in THIRTEEN
    ]


def thirteen_communes() -> list[ReportUnit]:
    return [
        unit(code, name, fail=fail, missing=missing, no_data=no_data)
        for code, name, fail, missing, no_data in THIRTEEN
    ]


SUMMARY = (
    "Qua rà soát 12 xã: có 03 xã gồm: Thọ Lập, Xuân Lai và Xuân Minh đạt 19/19 tiêu chí, "
    "57/57 chỉ tiêu; 03 xã gồm: Xuân Hồng, Nam Giang và Bắc Lương đạt 18/19 tiêu chí, "
    "từ 55/57 đến 56/57 chỉ tiêu; 05 xã gồm: Xuân Phong, Thọ Lộc, Xuân Trường, Thọ Hải và "
    "Xuân Giang đạt 17/19 tiêu chí, từ 52/57 đến 55/57 chỉ tiêu; 01 xã (Xuân Hòa) đạt 16/19 "
    "tiêu chí, 53/57 chỉ tiêu. Tiêu chí số 2 - Giao thông có 07 xã chưa đạt; Tiêu chí số 5 - "
    "Trường học có 01 xã chưa đạt; Tiêu chí số 10 - Thu nhập có 01 xã chưa đạt; Tiêu chí số "
    "17 - Môi trường và an toàn thực phẩm có 04 xã chưa đạt. Có 02 xã chưa đủ dữ liệu để đánh "
    "giá: Xuân Trường (thiếu dữ liệu tiêu chí số 3) và Thọ Hải (thiếu dữ liệu tiêu chí số 15, "
    "19). Còn 01 xã (Tây Hồ) chưa có số liệu để đánh giá."
)


class TestDistribution:
    def test_buckets_run_from_most_criteria_met_with_indicator_ranges(self) -> None:
        report = build_report(xa_ntm(), YEAR, thirteen_communes())
        assert [
            (b.criteria_met, b.units, b.indicators_met_min, b.indicators_met_max)
            for b in report.distribution
        ] == [(19, 3, 57, 57), (18, 3, 55, 56), (17, 5, 52, 55), (16, 1, 53, 53)]
        assert report.criteria_total == 19
        assert report.indicators_total == 57

    def test_units_in_a_bucket_go_by_indicators_met_then_code(self) -> None:
        report = build_report(xa_ntm(), YEAR, thirteen_communes())
        assert [b.unit_codes for b in report.distribution] == [
            ("15568", "15583", "15592"),
            ("15493", "15505", "15502"),
            ("15508", "15511", "15514", "15520", "15526"),
            ("15517",),
        ]
        assert report.distribution[1].unit_names == ("Xuân Hồng", "Nam Giang", "Bắc Lương")

    def test_a_unit_without_any_value_stays_out_of_the_distribution(self) -> None:
        report = build_report(xa_ntm(), YEAR, thirteen_communes())
        assert report.units_total == 13
        assert report.units_evaluated == 12
        assert sum(b.units for b in report.distribution) == report.units_evaluated
        assert report.without_data_codes == ("15523",)
        assert all("15523" not in f.unit_codes for f in report.criterion_failures)

    def test_a_unit_with_derived_values_only_can_be_declared_without_data(self) -> None:
        derived_only = ReportUnit(
            code="15523",
            name="Tây Hồ",
            type_name="Xã",
            result=evaluate(xa_ntm(), PROFILE, YEAR, {"1.1": False}),
            has_records=False,
        )
        report = build_report(xa_ntm(), YEAR, [unit("15592", "Xuân Minh"), derived_only])
        assert report.without_data_codes == ("15523",)
        assert report.units_evaluated == 1
        assert report.criterion_failures[0].units_not_met == 0
        assert [line.has_data for line in report.units] == [False, True]  # code order

    def test_units_meeting_the_standard_are_the_full_bucket(self) -> None:
        report = build_report(xa_ntm(), YEAR, thirteen_communes())
        assert report.meeting_standard == 3
        assert report.meeting_standard_codes == ("15568", "15583", "15592")

    def test_the_order_of_the_input_does_not_matter(self) -> None:
        units = thirteen_communes()
        assert build_report(xa_ntm(), YEAR, units) == build_report(
            xa_ntm(), YEAR, list(reversed(units))
        )


class TestFailures:
    def test_every_criterion_is_listed_with_the_units_known_not_to_meet_it(self) -> None:
        report = build_report(xa_ntm(), YEAR, thirteen_communes())
        assert [f.number for f in report.criterion_failures] == list(range(1, 20))
        failing = {f.number: f.unit_codes for f in report.criterion_failures if f.units_not_met}
        assert failing == {
            2: ("15493", "15502", "15508", "15511", "15514", "15517", "15526"),
            5: ("15517",),
            10: ("15511",),
            17: ("15505", "15508", "15517", "15526"),
        }
        transport = report.criterion_failures[1]
        assert (transport.name, transport.units_not_met) == ("Giao thông", 7)

    def test_a_missing_value_counts_as_unknown_never_as_not_met(self) -> None:
        report = build_report(xa_ntm(), YEAR, thirteen_communes())
        unknown = {
            f.number: f.unknown_unit_codes for f in report.criterion_failures if f.units_unknown
        }
        assert unknown == {3: ("15514",), 15: ("15520",), 19: ("15520",)}
        assert report.criterion_failures[2].units_not_met == 0
        assert report.incomplete_codes == ("15514", "15520")

    def test_unit_lines_carry_each_criterion_status_in_code_order(self) -> None:
        report = build_report(xa_ntm(), YEAR, thirteen_communes())
        assert [line.code for line in report.units] == sorted(u.code for u in thirteen_communes())
        tho_hai = next(line for line in report.units if line.code == "15520")
        assert (tho_hai.criteria_met, tho_hai.criteria_unknown, tho_hai.indicators_met) == (
            17,
            2,
            54,
        )
        assert tho_hai.criteria[14] is None
        assert tho_hai.criteria[0] is True
        assert tho_hai.full_name == "Xã Thọ Hải"


class TestSummary:
    def test_the_paragraph_reads_as_a_district_office_writes_it(self) -> None:
        report = build_report(xa_ntm(), YEAR, thirteen_communes())
        assert report.summary_vi == SUMMARY

    def test_mixed_unit_types_are_counted_as_units_with_their_types(self) -> None:
        units = [
            unit("15592", "Xuân Minh"),
            unit("15556", "Lam Sơn", type_name="Thị trấn"),
            unit("15553", "Sao Vàng", type_name="Thị trấn", fail={"9.1"}),
        ]
        report = build_report(xa_ntm(), YEAR, units)
        assert report.summary_vi == (
            "Qua rà soát 03 đơn vị (02 thị trấn, 01 xã): có 02 đơn vị gồm: thị trấn Lam Sơn "
            "và xã Xuân Minh đạt 19/19 tiêu chí, 57/57 chỉ tiêu; 01 thị trấn (Sao Vàng) đạt "
            "18/19 tiêu chí, 56/57 chỉ tiêu. Tiêu chí số 9 - Nhà ở dân cư có 01 thị trấn chưa đạt."
        )

    def test_a_large_group_is_counted_without_names(self) -> None:
        units = [unit(f"{15000 + n}", f"Xã {n}") for n in range(5)]
        report = build_report(xa_ntm(), YEAR, units, names_up_to=4)
        assert report.summary_vi == (
            "Qua rà soát 05 xã: có 05 xã đạt 19/19 tiêu chí, 57/57 chỉ tiêu. "
            "Không có tiêu chí nào chưa đạt."
        )

    def test_no_data_at_all_and_no_units_say_so(self) -> None:
        empty = build_report(xa_ntm(), YEAR, [])
        assert empty.summary_vi == "Không có đơn vị nào thuộc phạm vi rà soát."
        assert empty.distribution == ()
        none_yet = build_report(
            xa_ntm(),
            YEAR,
            [unit("15523", "Tây Hồ", no_data=True), unit("15526", "Xuân Giang", no_data=True)],
        )
        assert none_yet.summary_vi == (
            "Cả 02 xã gồm: Tây Hồ và Xuân Giang chưa có số liệu để đánh giá."
        )
        assert none_yet.units_evaluated == 0

    def test_counts_keep_two_digits_and_names_join_with_va(self) -> None:
        assert count_text(["Xã"] * 3) == "03 xã"
        assert count_text(["Xã"] * 12) == "12 xã"
        assert count_text(["Xã", "Phường", "Xã"]) == "03 đơn vị (02 xã, 01 phường)"
        assert join_vi(["A"]) == "A"
        assert join_vi(["A", "B"]) == "A và B"
        assert join_vi(["A", "B", "C"]) == "A, B và C"


class TestGuards:
    def test_an_evaluation_of_another_year_is_refused(self) -> None:
        other = ReportUnit(
            code="15592",
            name="Xuân Minh",
            type_name="Xã",
            result=evaluate(xa_ntm(), PROFILE, 2024, values_for()),
        )
        with pytest.raises(ValueError, match="2024"):
            build_report(xa_ntm(), YEAR, [other])

    def test_a_unit_given_twice_is_refused(self) -> None:
        with pytest.raises(ValueError, match="twice"):
            build_report(xa_ntm(), YEAR, [unit("15592", "Xuân Minh"), unit("15592", "Xuân Minh")])


NUMBERS: st.SearchStrategy[Value] = st.decimals(
    min_value=-5, max_value=150, places=1, allow_nan=False
) | st.integers(0, 150).map(Decimal)


def value_strategy(kind: Kind) -> st.SearchStrategy[Value | None]:
    if kind is Kind.boolean:
        right: st.SearchStrategy[Value] = st.booleans()
    elif kind is Kind.derived:
        right = st.one_of(st.booleans(), NUMBERS)
    else:
        right = NUMBERS
    return st.none() | right


def engine_or_error(
    criteria_set: CriteriaSet, profile: UnitProfile, year: int, values: dict[str, Value | None]
) -> UnitOutcome | str:
    try:
        return UnitOutcome.of(evaluate(criteria_set, profile, year, values))
    except ValueTypeError as exc:
        return f"{exc.code}: {exc.expected}"


def evaluator_or_error(
    evaluator: SetEvaluator, profile: UnitProfile, values: dict[str, Value | None]
) -> UnitOutcome | str:
    try:
        return evaluator.outcome(profile, values)
    except ValueTypeError as exc:
        return f"{exc.code}: {exc.expected}"


DECIMALS: st.SearchStrategy[Decimal] = st.decimals(
    min_value=-5, max_value=150, places=1, allow_nan=False
) | st.integers(0, 150).map(Decimal)
ODD_NUMBERS: st.SearchStrategy[Decimal] = st.sampled_from(
    [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("sNaN")]
)
PROFILES: st.SearchStrategy[UnitProfile] = st.builds(
    UnitProfile,
    region=st.sampled_from([None, *REGIONS]),
    commune_group=st.sampled_from([None, "1", "2", "3"]),
    specially_disadvantaged=st.booleans(),
)


def near_thresholds(indicator: Indicator) -> st.SearchStrategy[Decimal]:
    """Numbers at, just below and just above any of the indicator's thresholds (those of
    every region, group and year), where comparators and the choice of threshold matter."""
    edges = sorted(
        {
            t.value + step
            for t in indicator.thresholds
            if not isinstance(t.value, bool)
            for step in (Decimal("-0.1"), Decimal(0), Decimal("0.1"))
        }
    )
    return st.sampled_from(edges) | DECIMALS if edges else DECIMALS


def right_value(indicator: Indicator) -> st.SearchStrategy[bool | Decimal]:
    """A value of the type the indicator's kind takes (either for a derived one)."""
    if indicator.kind is Kind.boolean:
        return st.booleans()
    if indicator.kind is Kind.derived:
        return st.booleans() | near_thresholds(indicator)
    return near_thresholds(indicator)


def any_value() -> st.SearchStrategy[bool | Decimal | None]:
    """A value of either type, now and then not finite, or none."""
    return st.none() | st.booleans() | DECIMALS | ODD_NUMBERS


def columns_of(
    values: dict[str, bool | Decimal | None], order: list[str]
) -> tuple[tuple[str, ...], list[bool], tuple[str, ...], list[Decimal]]:
    """The values as `SetEvaluator.outcome_of` takes them, codes in the given order."""
    bool_codes = tuple(c for c in order if isinstance(values[c], bool))
    number_codes = tuple(c for c in order if isinstance(values[c], Decimal))
    return (
        bool_codes,
        [cast(bool, values[c]) for c in bool_codes],
        number_codes,
        [cast(Decimal, values[c]) for c in number_codes],
    )


def columns_or_error(
    evaluator: SetEvaluator,
    profile: UnitProfile,
    columns: tuple[tuple[str, ...], list[bool], tuple[str, ...], list[Decimal]],
) -> UnitOutcome | str:
    try:
        return evaluator.outcome_of(profile, *columns)
    except ValueTypeError as exc:
        return f"{exc.code}: {exc.expected}"


class TestSetEvaluator:
    @settings(max_examples=300, deadline=None)
    @given(data=st.data())
    def test_it_agrees_with_the_engine_on_every_shipped_set(self, data: st.DataObject) -> None:
        criteria_set = data.draw(st.sampled_from(all_sets()), label="set")
        profile = UnitProfile(
            region=data.draw(st.sampled_from([None, *REGIONS]), label="region"),
            commune_group=data.draw(st.sampled_from([None, "1", "2", "3"]), label="group"),
            specially_disadvantaged=data.draw(st.booleans(), label="special"),
        )
        year = data.draw(st.integers(2020, 2027), label="year")
        values = {
            i.code: data.draw(value_strategy(i.kind), label=i.code)
            for c in criteria_set.criteria
            for i in c.indicators
        }
        evaluator = SetEvaluator(criteria_set, year)
        expected = engine_or_error(criteria_set, profile, year, values)
        assert evaluator_or_error(evaluator, profile, values) == expected
        # the plan cached for this profile gives the same answer again
        assert evaluator_or_error(evaluator, profile, values) == expected

    @settings(max_examples=300, deadline=None)
    @given(data=st.data())
    def test_values_in_columns_agree_with_the_engine_whatever_their_types_and_order(
        self, data: st.DataObject
    ) -> None:
        """The report's path: values in columns, in any order, wrong-typed or not finite now
        and then, with codes the set does not have."""
        criteria_set = data.draw(st.sampled_from(all_sets()), label="set")
        profile = data.draw(PROFILES, label="profile")
        year = data.draw(st.integers(2020, 2027), label="year")
        values: dict[str, bool | Decimal | None] = {
            i.code: data.draw(st.none() | right_value(i), label=i.code)
            for c in criteria_set.criteria
            for i in c.indicators
        }
        # values under codes the set does not have, and a few spoiled (wrong type, not
        # finite, gone)
        for code in data.draw(st.lists(st.sampled_from(["0.1", "99.9", "30.30"]), unique=True)):
            values[code] = data.draw(st.booleans() | DECIMALS, label=f"unknown {code}")
        for code in data.draw(st.lists(st.sampled_from(list(values)), max_size=3, unique=True)):
            values[code] = data.draw(any_value(), label=f"spoiled {code}")
        order = data.draw(st.permutations([c for c, v in values.items() if v is not None]))
        evaluator = SetEvaluator(criteria_set, year)
        expected = engine_or_error(criteria_set, profile, year, dict(values))
        assert columns_or_error(evaluator, profile, columns_of(values, order)) == expected
        assert evaluator_or_error(evaluator, profile, dict(values)) == expected

    @settings(max_examples=100, deadline=None)
    @given(data=st.data())
    def test_units_sharing_code_tuples_are_each_judged_on_their_own_values_and_profile(
        self, data: st.DataObject
    ) -> None:
        """As in a report: one evaluator, many units, the same code tuple objects (the layout
        is found again by identity), profiles and values differing from unit to unit."""
        criteria_set = data.draw(st.sampled_from(all_sets()), label="set")
        year = data.draw(st.integers(2020, 2027), label="year")
        indicators = [i for c in criteria_set.criteria for i in c.indicators]
        present = data.draw(
            st.lists(st.sampled_from(indicators), unique_by=lambda i: i.code), label="present"
        )
        kinds = {
            i.code: isinstance(data.draw(right_value(i), label=f"kind {i.code}"), bool)
            for i in present
        }
        by_code = {i.code: i for i in present}
        bool_codes = tuple(code for code, is_bool in kinds.items() if is_bool)
        number_codes = tuple(code for code, is_bool in kinds.items() if not is_bool)
        evaluator = SetEvaluator(criteria_set, year)
        for n in range(data.draw(st.integers(1, 6), label="units")):
            profile = data.draw(PROFILES, label=f"profile {n}")
            bools = [data.draw(st.booleans()) for _ in bool_codes]
            numbers = [data.draw(near_thresholds(by_code[code])) for code in number_codes]
            values: dict[str, Value | None] = dict(zip(bool_codes, bools, strict=True))
            values.update(zip(number_codes, numbers, strict=True))
            expected = engine_or_error(criteria_set, profile, year, values)
            columns = (bool_codes, bools, number_codes, numbers)
            assert columns_or_error(evaluator, profile, columns) == expected

    def test_columns_of_unequal_lengths_are_refused(self) -> None:
        with pytest.raises(ValueError, match="exactly one value"):
            SetEvaluator(xa_ntm(), YEAR).outcome_of(PROFILE, ("1.1", "2.1"), [True], (), [])

    def test_a_wrong_typed_value_raises_as_the_engine_does(self) -> None:
        evaluator = SetEvaluator(xa_ntm(), YEAR)
        wrongs: list[dict[str, object]] = [
            {"3.1": True},
            {"3.2": Decimal(1)},
            {"3.1": Decimal("NaN")},
            {"3.1": 1.5},
        ]
        for given_values in wrongs:
            wrong = cast(dict[str, Value | None], given_values)
            with pytest.raises(ValueTypeError) as ours:
                evaluator.outcome(PROFILE, wrong)
            with pytest.raises(ValueTypeError) as engine:
                evaluate(xa_ntm(), PROFILE, YEAR, wrong)
            assert (ours.value.code, ours.value.expected) == (
                engine.value.code,
                engine.value.expected,
            )

    def test_a_report_from_outcomes_equals_one_from_full_evaluations(self) -> None:
        evaluator = SetEvaluator(xa_ntm(), YEAR)
        fast = [
            ReportUnit(
                code=u.code,
                name=u.name,
                type_name=u.type_name,
                full_name=u.full_name,
                result=evaluator.outcome(PROFILE, dict(values)),
            )
            for u, values in zip(thirteen_communes(), thirteen_values(), strict=True)
        ]
        assert build_report(xa_ntm(), YEAR, fast) == build_report(
            xa_ntm(), YEAR, thirteen_communes()
        )
