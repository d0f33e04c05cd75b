"""Evaluation of a unit against a criteria set, "cơ bản đạt", and the revocation watch.

Pure domain tests: small sets are built here with plain factories; no database. Threshold
figures are test data, not the official ones."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.criteria.domain.catalog import (
    Comparator,
    CriteriaSet,
    Criterion,
    Derivation,
    DerivedRule,
    Indicator,
    Kind,
    Level,
    Threshold,
    ThresholdScheme,
)
from services.criteria.domain.evaluation import (
    BASICALLY_MET,
    BasicallyMetRule,
    CriterionResult,
    Evaluation,
    IndicatorResult,
    UnitProfile,
    Value,
    ValueTypeError,
    commune_revocation_risk,
    district_revocation_risk,
    evaluate,
    key_criteria,
    select_threshold,
    threshold_text,
)

# --- factories ----------------------------------------------------------------------------


def th(
    value: bool | int | str,
    *,
    region: str | None = None,
    group: str | None = None,
    year: int | None = None,
) -> Threshold:
    """A threshold; numbers are given as int or str and stored as Decimal."""
    exact: bool | Decimal = value if isinstance(value, bool) else Decimal(value)
    return Threshold.model_validate(
        {"region": region, "group": group, "year": year, "value": exact}
    )


def make_indicator(
    code: str,
    thresholds: list[Threshold],
    *,
    kind: Kind = Kind.percent,
    comparator: Comparator | None = None,
    unit: str | None = None,
    derived: Derivation | None = None,
    name: str | None = None,
) -> Indicator:
    if comparator is None:
        comparator = Comparator.eq if kind is Kind.boolean else Comparator.ge
    return Indicator(
        code=code,
        name=name or f"Chỉ tiêu {code}",
        kind=kind,
        unit=unit,
        comparator=comparator,
        thresholds=thresholds,
        derived=derived,
        verified=False,
        source="test data",
    )


def boolean_indicator(code: str) -> Indicator:
    return make_indicator(code, [th(True)], kind=Kind.boolean)


def make_criterion(number: int, indicators: list[Indicator], *, key: bool = False) -> Criterion:
    return Criterion(number=number, name=f"Tiêu chí {number}", key=key, indicators=indicators)


def make_set(
    criteria: list[Criterion],
    *,
    scheme: ThresholdScheme = ThresholdScheme.region,
    level: Level = Level.commune,
) -> CriteriaSet:
    return CriteriaSet(
        code="xa-ntm-test",
        name="Bộ tiêu chí thử",
        level=level,
        title="xa-ntm",
        legal_basis="test",
        threshold_scheme=scheme,
        criteria=criteria,
    )


def boolean_set(
    count: int, *, key: set[int] | None = None, level: Level = Level.commune
) -> CriteriaSet:
    """`count` criteria, each with one boolean indicator "<n>.1"."""
    keys = key or set()
    return make_set(
        [
            make_criterion(n, [boolean_indicator(f"{n}.1")], key=n in keys)
            for n in range(1, count + 1)
        ],
        level=level,
    )


def boolean_values(
    count: int, *, failing: set[int], unknown: set[int] | None = None
) -> dict[str, Value | None]:
    missing = unknown or set()
    return {f"{n}.1": None if n in missing else n not in failing for n in range(1, count + 1)}


def evaluation_of(outcomes: Sequence[bool | None], *, key: set[int] | None = None) -> Evaluation:
    """An evaluation with one criterion per outcome (numbered from 1).

    Built directly because a catalog set caps criterion numbers at 30, and the revocation
    checks at 29/30/49/50% need 100 criteria to make the shares exact."""
    keys = key or set()
    criteria = tuple(
        CriterionResult(
            number=n,
            name=f"Tiêu chí {n}",
            key=n in keys,
            met=met,
            indicators_met=1 if met else 0,
            indicators_total=1,
            indicators_missing=1 if met is None else 0,
            indicators=(),
        )
        for n, met in enumerate(outcomes, start=1)
    )
    met_count = sum(1 for c in criteria if c.met is True)
    return Evaluation(
        criteria_set="xa-ntm-test",
        year=2024,
        profile=UnitProfile(region=None, commune_group=None),
        criteria=criteria,
        criteria_met=met_count,
        criteria_not_met=sum(1 for c in criteria if c.met is False),
        criteria_unknown=sum(1 for c in criteria if c.met is None),
        criteria_total=len(criteria),
        criteria_basically_met=0,
        indicators_met=met_count,
        indicators_missing=sum(1 for c in criteria if c.met is None),
        indicators_total=len(criteria),
        meets_standard=met_count == len(criteria),
        revocation_risk=False,
    )


def hundred(not_met: int, *, key_among_not_met: bool) -> Evaluation:
    """100 criteria, the first `not_met` not met; key criterion 1 (failing) or 100 (met)."""
    return evaluation_of(
        [n > not_met for n in range(1, 101)], key={1} if key_among_not_met else {100}
    )


def only(evaluation: Evaluation, number: int) -> CriterionResult:
    return next(c for c in evaluation.criteria if c.number == number)


def indicator_result(evaluation: Evaluation, code: str) -> IndicatorResult:
    return next(i for c in evaluation.criteria for i in c.indicators if i.code == code)


INCOME = make_indicator(
    "10.1",
    [
        th(47, year=2022),
        th(53, year=2024),
        th(36, region="TDMNPB", year=2022),
        th(42, region="TDMNPB", year=2024),
        th(48, region="DBSCL", year=2022),
        th(55, region="DBSCL", year=2024),
        th(58, region="DNB", year=2025),
    ],
    kind=Kind.number,
    unit="triệu đồng/người/năm",
)

IRRIGATION = make_indicator(
    "3.1", [th(80), th(70, region="TDMNPB"), th(85, region="DBSH")], kind=Kind.percent
)

DBSCL = UnitProfile(region="DBSCL", commune_group=None)
TDMNPB = UnitProfile(region="TDMNPB", commune_group=None)
DBSH = UnitProfile(region="DBSH", commune_group=None)
NO_REGION = UnitProfile(region=None, commune_group=None)


def value_of(threshold: Threshold | None) -> bool | Decimal | None:
    return None if threshold is None else threshold.value


# --- select_threshold ---------------------------------------------------------------------


class TestSelectThreshold:
    def test_region_value_is_preferred_over_the_general_one(self) -> None:
        picked = select_threshold(IRRIGATION, ThresholdScheme.region, TDMNPB, 2024)
        assert value_of(picked) == Decimal(70)

    def test_region_without_its_own_value_gets_the_general_one(self) -> None:
        profile = UnitProfile(region="TN", commune_group=None)
        assert value_of(select_threshold(IRRIGATION, ThresholdScheme.region, profile, 2024)) == 80

    def test_unit_without_region_gets_the_general_value(self) -> None:
        assert value_of(select_threshold(IRRIGATION, ThresholdScheme.region, NO_REGION, 2024)) == 80

    @pytest.mark.parametrize(
        ("profile", "year", "expected"),
        [
            (DBSCL, 2022, 48),
            (DBSCL, 2024, 55),
            (TDMNPB, 2022, 36),
            (TDMNPB, 2024, 42),
            (NO_REGION, 2022, 47),
            (NO_REGION, 2024, 53),
        ],
    )
    def test_income_is_picked_per_year_and_per_region(
        self, profile: UnitProfile, year: int, expected: int
    ) -> None:
        picked = select_threshold(INCOME, ThresholdScheme.region, profile, year)
        assert value_of(picked) == Decimal(expected)

    def test_year_between_two_threshold_years_takes_the_earlier(self) -> None:
        picked = select_threshold(INCOME, ThresholdScheme.region, DBSCL, 2023)
        assert picked is not None
        assert (picked.region, picked.year, picked.value) == ("DBSCL", 2022, Decimal(48))

    def test_year_after_the_last_threshold_year_takes_the_latest(self) -> None:
        assert value_of(select_threshold(INCOME, ThresholdScheme.region, DBSCL, 2025)) == 55

    def test_region_with_only_later_years_falls_back_to_the_general_value(self) -> None:
        profile = UnitProfile(region="DNB", commune_group=None)
        picked = select_threshold(INCOME, ThresholdScheme.region, profile, 2024)
        assert picked is not None
        assert (picked.region, picked.year) == (None, 2024)

    def test_year_before_any_dated_threshold_is_none_without_an_undated_value(self) -> None:
        assert select_threshold(INCOME, ThresholdScheme.region, DBSCL, 2021) is None

    def test_year_before_any_dated_threshold_uses_the_undated_value(self) -> None:
        indicator = make_indicator(
            "10.1",
            [th(45), th(40, region="DBSCL"), th(50, region="DBSCL", year=2024)],
            kind=Kind.number,
        )
        assert value_of(select_threshold(indicator, ThresholdScheme.region, DBSCL, 2023)) == 40
        assert value_of(select_threshold(indicator, ThresholdScheme.region, DBSCL, 2025)) == 50

    def test_key_match_undated_beats_general_exact_year(self) -> None:
        indicator = make_indicator(
            "10.1", [th(40, region="DBSCL"), th(47, year=2024)], kind=Kind.number
        )
        assert value_of(select_threshold(indicator, ThresholdScheme.region, DBSCL, 2024)) == 40

    def test_specially_disadvantaged_commune_in_dbscl_takes_tdmnpb_values(self) -> None:
        profile = UnitProfile(region="DBSCL", commune_group=None, specially_disadvantaged=True)
        assert value_of(select_threshold(INCOME, ThresholdScheme.region, profile, 2024)) == 42
        assert value_of(select_threshold(IRRIGATION, ThresholdScheme.region, profile, 2024)) == 70

    def test_specially_disadvantaged_commune_gets_general_value_when_tdmnpb_has_none(self) -> None:
        indicator = make_indicator("3.1", [th(80), th(90, region="DBSCL")])
        profile = UnitProfile(region="DBSCL", commune_group=None, specially_disadvantaged=True)
        assert value_of(select_threshold(indicator, ThresholdScheme.region, profile, 2024)) == 80

    @pytest.mark.parametrize(("group", "expected"), [("1", 95), ("2", 90), ("3", 75), (None, 85)])
    def test_commune_group_thresholds_for_a_2026_set(
        self, group: str | None, expected: int
    ) -> None:
        indicator = make_indicator(
            "2.1", [th(85), th(95, group="1"), th(90, group="2"), th(75, group="3")]
        )
        profile = UnitProfile(region="TDMNPB", commune_group=group)
        picked = select_threshold(indicator, ThresholdScheme.commune_group, profile, 2026)
        assert value_of(picked) == Decimal(expected)

    def test_commune_group_scheme_ignores_special_disadvantage(self) -> None:
        indicator = make_indicator("2.1", [th(85), th(95, group="1")])
        profile = UnitProfile(region="DBSCL", commune_group="1", specially_disadvantaged=True)
        picked = select_threshold(indicator, ThresholdScheme.commune_group, profile, 2026)
        assert value_of(picked) == 95

    def test_commune_group_thresholds_by_year(self) -> None:
        indicator = make_indicator(
            "3.1",
            [th(70, year=2026), th(80, group="3", year=2026), th(90, group="3", year=2028)],
            kind=Kind.number,
        )
        profile = UnitProfile(region=None, commune_group="3")
        scheme = ThresholdScheme.commune_group
        assert value_of(select_threshold(indicator, scheme, profile, 2027)) == 80
        assert value_of(select_threshold(indicator, scheme, profile, 2029)) == 90
        other = UnitProfile(region=None, commune_group="2")
        assert value_of(select_threshold(indicator, scheme, other, 2030)) == 70


# --- evaluate -----------------------------------------------------------------------------


def three_criteria_set() -> CriteriaSet:
    return make_set(
        [
            make_criterion(1, [boolean_indicator("1.1"), boolean_indicator("1.2")]),
            make_criterion(3, [IRRIGATION, boolean_indicator("3.2")]),
            make_criterion(10, [INCOME], key=True),
        ]
    )


ALL_MET: dict[str, Value | None] = {
    "1.1": True,
    "1.2": True,
    "3.1": Decimal(82),
    "3.2": True,
    "10.1": Decimal("48.5"),
}


def property_set() -> CriteriaSet:
    return make_set(
        [
            make_criterion(1, [boolean_indicator("1.1"), boolean_indicator("1.2")]),
            make_criterion(2, [make_indicator("2.1", [th(80)]), boolean_indicator("2.2")]),
            make_criterion(
                3,
                [
                    make_indicator("3.1", [th(5)], comparator=Comparator.le),
                    boolean_indicator("3.2"),
                ],
            ),
            make_criterion(4, [make_indicator("4.1", [th(45, year=2022)], kind=Kind.number)]),
        ]
    )


PROPERTY_SET = property_set()
BOOLEAN_VALUE = st.one_of(st.none(), st.booleans())
NUMBER_VALUE = st.one_of(
    st.none(),
    st.decimals(min_value=0, max_value=120, places=2, allow_nan=False, allow_infinity=False),
)
PROPERTY_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "1.1": BOOLEAN_VALUE,
        "1.2": BOOLEAN_VALUE,
        "2.1": NUMBER_VALUE,
        "2.2": BOOLEAN_VALUE,
        "3.1": NUMBER_VALUE,
        "3.2": BOOLEAN_VALUE,
        "4.1": NUMBER_VALUE,
    },
)


class TestEvaluate:
    def test_commune_meeting_every_indicator_meets_the_standard(self) -> None:
        result = evaluate(three_criteria_set(), DBSCL, 2023, ALL_MET)
        assert result.meets_standard
        assert (result.criteria_met, result.criteria_total) == (3, 3)
        assert (result.indicators_met, result.indicators_total) == (5, 5)
        assert (result.criteria_unknown, result.indicators_missing) == (0, 0)
        assert result.criteria_set == "xa-ntm-test"
        assert result.year == 2023
        assert not result.revocation_risk

    def test_commune_failing_one_indicator_fails_exactly_that_criterion(self) -> None:
        result = evaluate(three_criteria_set(), DBSCL, 2023, {**ALL_MET, "3.1": Decimal(79)})
        assert [c.met for c in result.criteria] == [True, False, True]
        third = only(result, 3)
        assert (third.indicators_met, third.indicators_total) == (1, 2)
        assert (result.criteria_met, result.criteria_not_met, result.criteria_unknown) == (2, 1, 0)
        assert (result.indicators_met, result.indicators_total) == (4, 5)
        assert not result.meets_standard

    def test_missing_value_is_missing_not_failed(self) -> None:
        values = {k: v for k, v in ALL_MET.items() if k != "3.1"}
        result = evaluate(three_criteria_set(), DBSCL, 2023, values)
        missing = indicator_result(result, "3.1")
        assert missing.missing
        assert missing.met is None
        assert missing.gap is None
        assert missing.threshold == "≥ 80 %"
        assert [c.met for c in result.criteria] == [True, None, True]
        assert (result.criteria_met, result.criteria_not_met, result.criteria_unknown) == (2, 0, 1)
        assert (result.indicators_met, result.indicators_missing) == (4, 1)
        assert not result.meets_standard

    def test_none_value_is_missing_like_an_absent_code(self) -> None:
        result = evaluate(three_criteria_set(), DBSCL, 2023, {**ALL_MET, "1.2": None})
        assert indicator_result(result, "1.2").missing
        assert only(result, 1).met is None
        assert only(result, 1).indicators_missing == 1

    def test_a_failing_indicator_outweighs_a_missing_one_in_the_same_criterion(self) -> None:
        result = evaluate(three_criteria_set(), DBSCL, 2023, {**ALL_MET, "1.1": False, "1.2": None})
        assert only(result, 1).met is False
        assert result.criteria_unknown == 0

    def test_region_threshold_decides_the_outcome(self) -> None:
        values = {**ALL_MET, "3.1": Decimal(72)}
        assert only(evaluate(three_criteria_set(), TDMNPB, 2023, values), 3).met is True
        assert only(evaluate(three_criteria_set(), DBSH, 2023, values), 3).met is False

    def test_income_uses_the_threshold_of_the_evaluation_year(self) -> None:
        values = {**ALL_MET, "10.1": Decimal(50)}
        assert only(evaluate(three_criteria_set(), DBSCL, 2023, values), 10).met is True
        assert only(evaluate(three_criteria_set(), DBSCL, 2024, values), 10).met is False

    @pytest.mark.parametrize(
        ("comparator", "value", "met"),
        [
            (Comparator.ge, "80", True),
            (Comparator.ge, "79.99", False),
            (Comparator.gt, "80", False),
            (Comparator.gt, "80.01", True),
            (Comparator.le, "80", True),
            (Comparator.le, "80.01", False),
            (Comparator.lt, "80", False),
            (Comparator.lt, "79.99", True),
            (Comparator.eq, "80.00", True),
            (Comparator.eq, "80.1", False),
        ],
    )
    def test_numbers_compare_exactly_with_the_comparator(
        self, comparator: Comparator, value: str, met: bool
    ) -> None:
        indicator = make_indicator("2.1", [th(80)], kind=Kind.number, comparator=comparator)
        result = evaluate(
            make_set([make_criterion(2, [indicator])]), NO_REGION, 2024, {"2.1": Decimal(value)}
        )
        assert indicator_result(result, "2.1").met is met

    def test_integer_value_is_taken_as_an_exact_number(self) -> None:
        indicator = make_indicator("2.1", [th(80)])
        result = evaluate(
            make_set([make_criterion(2, [indicator])]), NO_REGION, 2024, {"2.1": cast(Value, 80)}
        )
        assert indicator_result(result, "2.1").met is True
        assert indicator_result(result, "2.1").value == Decimal(80)

    def test_boolean_false_fails_and_has_no_gap(self) -> None:
        result = evaluate(three_criteria_set(), DBSCL, 2023, {**ALL_MET, "3.2": False})
        failing = indicator_result(result, "3.2")
        assert failing.met is False
        assert failing.gap is None
        assert failing.threshold == "Đạt"
        assert failing.value_text == "Không"

    @pytest.mark.parametrize(
        ("comparator", "value", "gap"),
        [
            (Comparator.ge, "72.5", 7.5),
            (Comparator.ge, "85", 0.0),
            (Comparator.gt, "80", 0.0),
            (Comparator.le, "85", 5.0),
            (Comparator.le, "80", 0.0),
            (Comparator.lt, "80.25", 0.25),
            (Comparator.eq, "78", 2.0),
            (Comparator.eq, "83", 3.0),
        ],
    )
    def test_gap_is_the_distance_to_the_threshold(
        self, comparator: Comparator, value: str, gap: float
    ) -> None:
        indicator = make_indicator("2.1", [th(80)], comparator=comparator)
        result = evaluate(
            make_set([make_criterion(2, [indicator])]), NO_REGION, 2024, {"2.1": Decimal(value)}
        )
        assert indicator_result(result, "2.1").gap == pytest.approx(gap)

    def test_gap_of_income_below_threshold(self) -> None:
        result = evaluate(three_criteria_set(), DBSCL, 2024, {**ALL_MET, "10.1": Decimal("51.2")})
        income = indicator_result(result, "10.1")
        assert income.gap == pytest.approx(3.8)
        assert income.threshold == "≥ 55 triệu đồng/người/năm"
        assert income.value_text == "51,2 triệu đồng/người/năm"

    @pytest.mark.parametrize(
        ("code", "value"),
        [("3.1", True), ("10.1", False), ("1.1", Decimal(1)), ("3.1", "82"), ("10.1", 47.5)],
    )
    def test_wrong_value_type_raises_naming_the_indicator(self, code: str, value: object) -> None:
        with pytest.raises(ValueTypeError, match=rf"indicator {re.escape(code)}:"):
            evaluate(three_criteria_set(), DBSCL, 2023, {**ALL_MET, code: cast(Value, value)})

    def test_value_type_error_is_a_value_error(self) -> None:
        assert issubclass(ValueTypeError, ValueError)

    def test_non_finite_number_is_rejected(self) -> None:
        with pytest.raises(ValueTypeError, match=r"indicator 3\.1"):
            evaluate(three_criteria_set(), DBSCL, 2023, {**ALL_MET, "3.1": Decimal("NaN")})

    @pytest.mark.parametrize(
        ("indicator", "expected"),
        [
            (make_indicator("3.1", [th(80)]), "≥ 80 %"),
            (make_indicator("17.1", [th(5)], comparator=Comparator.le), "≤ 5 %"),
            (
                make_indicator("10.1", [th(45)], kind=Kind.number, unit="triệu đồng/người/năm"),
                "≥ 45 triệu đồng/người/năm",
            ),
            (
                make_indicator("9.2", [th("2.50")], kind=Kind.number, unit="m2/người"),
                "≥ 2,5 m2/người",
            ),
            (make_indicator("2.3", [th(100)], comparator=Comparator.eq), "= 100 %"),
            (make_indicator("2.4", [th(1)], kind=Kind.number, comparator=Comparator.gt), "> 1"),
            (boolean_indicator("1.1"), "Đạt"),
        ],
    )
    def test_threshold_text_for_display(self, indicator: Indicator, expected: str) -> None:
        assert threshold_text(indicator, indicator.thresholds[0]) == expected

    def test_derived_indicators_compare_by_their_threshold_type(self) -> None:
        holds = make_indicator(
            "1.1",
            [th(True)],
            kind=Kind.derived,
            derived=Derivation(rule=DerivedRule.holds_title, title="xa-ntm-nang-cao"),
        )
        smart = make_indicator(
            "1.2",
            [th(1)],
            kind=Kind.derived,
            derived=Derivation(rule=DerivedRule.count_of_units_with_title, title="thon-thong-minh"),
        )
        criteria_set = make_set([make_criterion(1, [holds, smart])])
        result = evaluate(criteria_set, NO_REGION, 2024, {"1.1": True, "1.2": Decimal(2)})
        assert only(result, 1).met is True
        result = evaluate(criteria_set, NO_REGION, 2024, {"1.1": False, "1.2": Decimal(0)})
        assert [i.met for i in only(result, 1).indicators] == [False, False]
        with pytest.raises(ValueTypeError, match=r"indicator 1\.1"):
            evaluate(criteria_set, NO_REGION, 2024, {"1.1": Decimal(1), "1.2": Decimal(1)})
        with pytest.raises(ValueTypeError, match=r"indicator 1\.2"):
            evaluate(criteria_set, NO_REGION, 2024, {"1.1": True, "1.2": True})

    def test_indicator_without_an_applicable_threshold_is_undecided(self) -> None:
        result = evaluate(three_criteria_set(), DBSCL, 2021, ALL_MET)
        income = indicator_result(result, "10.1")
        assert (income.met, income.missing, income.threshold) == (None, False, None)
        assert only(result, 10).met is None
        assert not result.meets_standard

    def test_values_outside_the_set_are_ignored(self) -> None:
        result = evaluate(three_criteria_set(), DBSCL, 2023, {**ALL_MET, "19.1": True})
        assert result.meets_standard

    def test_evaluation_flags_revocation_risk_with_the_sets_key_criteria(self) -> None:
        criteria_set = boolean_set(10, key={10})
        at_risk = evaluate(criteria_set, NO_REGION, 2024, boolean_values(10, failing={1, 2, 10}))
        safe = evaluate(criteria_set, NO_REGION, 2024, boolean_values(10, failing={1, 2, 3}))
        assert at_risk.revocation_risk
        assert not safe.revocation_risk

    def test_commune_group_set_is_evaluated_by_group(self) -> None:
        indicator = make_indicator("2.1", [th(85), th(95, group="1"), th(75, group="3")])
        criteria_set = make_set(
            [make_criterion(2, [indicator])], scheme=ThresholdScheme.commune_group
        )
        values: dict[str, Value | None] = {"2.1": Decimal(80)}
        group_1 = UnitProfile(region=None, commune_group="1")
        group_3 = UnitProfile(region=None, commune_group="3")
        assert not evaluate(criteria_set, group_1, 2026, values).meets_standard
        assert evaluate(criteria_set, group_3, 2026, values).meets_standard

    @given(values=PROPERTY_VALUES)
    def test_counts_are_consistent_for_any_values(self, values: dict[str, Value | None]) -> None:
        result = evaluate(PROPERTY_SET, DBSCL, 2024, values)
        assert (
            result.criteria_met + result.criteria_not_met + result.criteria_unknown
            == result.criteria_total
        )
        assert result.criteria_not_met == sum(1 for c in result.criteria if c.met is False)
        assert result.indicators_met + result.indicators_missing <= result.indicators_total
        assert result.indicators_met <= result.indicators_total
        for criterion in result.criteria:
            assert criterion.indicators_met <= criterion.indicators_total
            assert (criterion.met is True) == all(i.met is True for i in criterion.indicators)
        if result.meets_standard:
            assert all(i.met is True for c in result.criteria for i in c.indicators)
            assert result.indicators_met == result.indicators_total
        for indicator in (i for c in result.criteria for i in c.indicators):
            assert indicator.missing == (indicator.met is None)
            if indicator.gap is not None:
                assert indicator.gap >= 0
                assert (indicator.gap > 0) <= (indicator.met is False)


# --- "cơ bản đạt" -------------------------------------------------------------------------


def close_call_set() -> CriteriaSet:
    return make_set(
        [
            make_criterion(
                3,
                [
                    make_indicator("3.1", [th(80)]),
                    make_indicator("3.2", [th(90)]),
                    boolean_indicator("3.3"),
                ],
            ),
            make_criterion(17, [make_indicator("17.1", [th(5)], comparator=Comparator.le)]),
        ]
    )


CLOSE_MET: dict[str, Value | None] = {
    "3.1": Decimal(85),
    "3.2": Decimal(95),
    "3.3": True,
    "17.1": Decimal(4),
}


class TestBasicallyMet:
    def test_without_a_rule_there_is_no_label(self) -> None:
        result = evaluate(close_call_set(), NO_REGION, 2024, {**CLOSE_MET, "3.1": Decimal(79)})
        assert only(result, 3).planning_label is None
        assert result.criteria_basically_met == 0

    def test_one_numeric_failure_within_ten_percent_is_basically_met(self) -> None:
        result = evaluate(
            close_call_set(),
            NO_REGION,
            2024,
            {**CLOSE_MET, "3.1": Decimal(72)},  # gap 8 = exactly 10% of 80
            basic_rule=BasicallyMetRule(),
        )
        assert only(result, 3).planning_label == BASICALLY_MET
        assert only(result, 3).met is False

    def test_gap_just_over_the_limit_is_not_basically_met(self) -> None:
        result = evaluate(
            close_call_set(),
            NO_REGION,
            2024,
            {**CLOSE_MET, "3.1": Decimal("71.99")},
            basic_rule=BasicallyMetRule(),
        )
        assert only(result, 3).planning_label is None

    def test_le_indicator_gap_is_relative_to_its_threshold(self) -> None:
        rule = BasicallyMetRule()
        close = evaluate(
            close_call_set(),
            NO_REGION,
            2024,
            {**CLOSE_MET, "17.1": Decimal("5.5")},
            basic_rule=rule,
        )
        far = evaluate(
            close_call_set(),
            NO_REGION,
            2024,
            {**CLOSE_MET, "17.1": Decimal("5.6")},
            basic_rule=rule,
        )
        assert only(close, 17).planning_label == BASICALLY_MET
        assert only(far, 17).planning_label is None

    def test_a_failing_boolean_never_qualifies(self) -> None:
        result = evaluate(
            close_call_set(),
            NO_REGION,
            2024,
            {**CLOSE_MET, "3.3": False},
            basic_rule=BasicallyMetRule(max_failed_indicators=3, max_relative_gap=1.0),
        )
        assert only(result, 3).planning_label is None

    def test_more_failures_than_allowed_do_not_qualify(self) -> None:
        values = {**CLOSE_MET, "3.1": Decimal(78), "3.2": Decimal(88)}
        strict = evaluate(close_call_set(), NO_REGION, 2024, values, basic_rule=BasicallyMetRule())
        lenient = evaluate(
            close_call_set(),
            NO_REGION,
            2024,
            values,
            basic_rule=BasicallyMetRule(max_failed_indicators=2),
        )
        assert only(strict, 3).planning_label is None
        assert only(lenient, 3).planning_label == BASICALLY_MET

    def test_met_or_unknown_criteria_get_no_label(self) -> None:
        rule = BasicallyMetRule()
        met = evaluate(close_call_set(), NO_REGION, 2024, CLOSE_MET, basic_rule=rule)
        unknown = evaluate(
            close_call_set(), NO_REGION, 2024, {**CLOSE_MET, "3.2": None}, basic_rule=rule
        )
        assert only(met, 3).planning_label is None
        assert only(unknown, 3).planning_label is None

    def test_a_close_failure_with_a_missing_indicator_gets_no_label(self) -> None:
        result = evaluate(
            close_call_set(),
            NO_REGION,
            2024,
            {**CLOSE_MET, "3.1": Decimal(79), "3.2": None},
            basic_rule=BasicallyMetRule(),
        )
        assert only(result, 3).met is False
        assert only(result, 3).planning_label is None

    def test_basically_met_is_a_label_not_a_recognition_state(self) -> None:
        result = evaluate(
            close_call_set(),
            NO_REGION,
            2024,
            {**CLOSE_MET, "3.1": Decimal(79)},
            basic_rule=BasicallyMetRule(),
        )
        assert result.criteria_basically_met == 1
        assert result.criteria_met == 1
        assert result.criteria_not_met == 1
        assert not result.meets_standard

    @pytest.mark.parametrize(
        ("failed", "gap"), [(0, 0.1), (1, -0.1), (1, float("inf")), (1, float("nan"))]
    )
    def test_an_invalid_rule_is_rejected(self, failed: int, gap: float) -> None:
        with pytest.raises(ValueError, match="max_"):
            BasicallyMetRule(max_failed_indicators=failed, max_relative_gap=gap)


# --- revocation ---------------------------------------------------------------------------


def ten(
    failing: set[int], *, unknown: set[int] | None = None, key: set[int] | None = None
) -> Evaluation:
    """A commune evaluated against a 10-criterion set (exact shares)."""
    return evaluate(
        boolean_set(10, key=key),
        NO_REGION,
        2024,
        boolean_values(10, failing=failing, unknown=unknown),
    )


KEY = {10}


class TestCommuneRevocation:
    def test_key_criteria_come_from_the_set(self) -> None:
        assert key_criteria(boolean_set(10, key={7, 10})) == {7, 10}
        assert key_criteria(boolean_set(3)) == set()

    def test_every_criterion_met_is_no_risk(self) -> None:
        check = commune_revocation_risk(ten(set()), KEY)
        assert not check.at_risk
        assert check.rule is None
        assert check.share == 0

    def test_20_percent_with_key_is_no_risk(self) -> None:
        check = commune_revocation_risk(ten({1, 10}), KEY)
        assert not check.at_risk
        assert check.share == pytest.approx(0.2)

    def test_30_percent_with_a_key_criterion_is_at_risk(self) -> None:
        check = commune_revocation_risk(ten({1, 2, 10}), KEY)
        assert check.at_risk
        assert check.rule == "commune_30_percent_with_key"
        assert check.not_met == (1, 2, 10)
        assert check.key_not_met == (10,)
        assert check.share == pytest.approx(0.3)

    def test_30_percent_without_a_key_criterion_is_no_risk(self) -> None:
        check = commune_revocation_risk(ten({1, 2, 3}), KEY)
        assert not check.at_risk
        assert check.rule is None
        assert check.key_not_met == ()

    def test_40_percent_with_a_key_criterion_is_at_risk(self) -> None:
        check = commune_revocation_risk(ten({1, 2, 3, 10}), KEY)
        assert check.rule == "commune_30_percent_with_key"

    def test_40_percent_without_a_key_criterion_is_no_risk(self) -> None:
        assert not commune_revocation_risk(ten({1, 2, 3, 4}), KEY).at_risk

    def test_50_percent_without_a_key_criterion_is_at_risk(self) -> None:
        check = commune_revocation_risk(ten({1, 2, 3, 4, 5}), KEY)
        assert check.at_risk
        assert check.rule == "commune_50_percent"
        assert check.share == pytest.approx(0.5)

    @pytest.mark.parametrize(
        ("not_met", "key", "rule"),
        [
            (29, True, None),
            (30, True, "commune_30_percent_with_key"),
            (30, False, None),
            (49, False, None),
            (49, True, "commune_30_percent_with_key"),
            (50, False, "commune_50_percent"),
            (50, True, "commune_50_percent"),
        ],
    )
    def test_band_edges_over_100_criteria(self, not_met: int, key: bool, rule: str | None) -> None:
        evaluation = hundred(not_met, key_among_not_met=key)
        check = commune_revocation_risk(evaluation, {1} if key else {100})
        assert check.rule == rule
        assert check.at_risk is (rule is not None)
        assert len(check.not_met) == not_met

    def test_unknown_criteria_are_not_counted_but_reported(self) -> None:
        check = commune_revocation_risk(ten({1, 10}, unknown={2, 3, 4}), KEY)
        assert not check.at_risk
        assert check.not_met == (1, 10)
        assert check.share == pytest.approx(0.2)
        assert check.unknown_criteria == 3

    def test_key_set_given_by_the_caller_decides(self) -> None:
        evaluation = ten({1, 2, 3}, key={10})
        assert not commune_revocation_risk(
            evaluation, key_criteria(boolean_set(10, key={10}))
        ).at_risk
        assert commune_revocation_risk(evaluation, frozenset({3})).at_risk


class TestDistrictRevocation:
    @staticmethod
    def district(failing: set[int]) -> Evaluation:
        return evaluate(
            boolean_set(9, key={6, 7, 8, 9}, level=Level.district),
            NO_REGION,
            2024,
            boolean_values(9, failing=failing),
        )

    def test_3_of_10_communes_revoked_is_at_risk(self) -> None:
        check = district_revocation_risk(self.district(set()), {6, 7, 8, 9}, 10, 3)
        assert check.at_risk
        assert check.rule == "district_communes_revoked_30_percent"
        assert check.communes_revoked_share == pytest.approx(0.3)
        assert check.not_met == ()

    def test_2_of_10_communes_revoked_with_criteria_met_is_no_risk(self) -> None:
        check = district_revocation_risk(self.district(set()), {6, 7, 8, 9}, 10, 2)
        assert not check.at_risk
        assert check.rule is None
        assert check.communes_revoked_share == pytest.approx(0.2)

    @pytest.mark.parametrize(("revoked", "at_risk"), [(29, False), (30, True), (31, True)])
    def test_communes_revoked_edge_over_100_communes(self, revoked: int, at_risk: bool) -> None:
        check = district_revocation_risk(self.district(set()), {6, 7, 8, 9}, 100, revoked)
        assert check.at_risk is at_risk

    def test_district_criteria_bands_with_a_key_criterion(self) -> None:
        evaluation = evaluation_of([False, False, False, *([True] * 7)], key={3})
        check = district_revocation_risk(evaluation, {3}, 10, 0)
        assert check.rule == "district_30_percent_with_key"

    def test_district_criteria_bands_at_50_percent(self) -> None:
        evaluation = evaluation_of([False] * 5 + [True] * 5)
        check = district_revocation_risk(evaluation, set(), 10, 1)
        assert check.rule == "district_50_percent"

    def test_district_30_percent_of_criteria_without_key_is_no_risk(self) -> None:
        evaluation = evaluation_of([False, False, False, *([True] * 7)], key={10})
        assert not district_revocation_risk(evaluation, {10}, 10, 2).at_risk

    def test_no_communes_only_the_criteria_bands_apply(self) -> None:
        safe = district_revocation_risk(self.district(set()), {6, 7, 8, 9}, 0, 0)
        assert not safe.at_risk
        assert safe.communes_revoked_share is None
        failing = district_revocation_risk(self.district({1, 2, 6}), {6, 7, 8, 9}, 0, 0)
        assert failing.rule == "district_30_percent_with_key"

    def test_revoked_communes_rule_wins_when_both_apply(self) -> None:
        check = district_revocation_risk(self.district({1, 2, 3, 4, 5}), set(), 10, 5)
        assert check.rule == "district_communes_revoked_30_percent"
        assert check.not_met == (1, 2, 3, 4, 5)

    @pytest.mark.parametrize(("total", "revoked"), [(10, 11), (10, -1), (-1, 0)])
    def test_impossible_commune_counts_are_rejected(self, total: int, revoked: int) -> None:
        with pytest.raises(ValueError, match="communes_revoked"):
            district_revocation_risk(self.district(set()), set(), total, revoked)
