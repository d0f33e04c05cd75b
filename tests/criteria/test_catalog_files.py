"""The criteria sets shipped as YAML: their shape, counts and flags, and how the loader rejects
a bad file (naming the file and the failing path)."""

from __future__ import annotations

import textwrap
import unicodedata
from decimal import Decimal

import pytest

from services.criteria.domain.catalog import (
    COMMUNE_GROUPS,
    REGIONS,
    CriteriaSet,
    DerivedRule,
    Indicator,
    Kind,
    Level,
    ThresholdScheme,
)
from services.criteria.reference.catalog import CatalogError, load_catalog, parse_catalog

SHIPPED = {
    "xa-ntm-2021",
    "xa-ntm-nang-cao-2021",
    "xa-ntm-kieu-mau-2021",
    "huyen-ntm-2021",
    "huyen-ntm-nang-cao-2021",
    "xa-ntm-2026",
}
ADVANCED_COMMUNE_INDICATORS = 75  # the count shipped; the annex's own count is unverified
KEY_CRITERIA = {
    "xa-ntm-2021": {10, 17, 19},
    "xa-ntm-nang-cao-2021": {10, 17, 18, 19},
    "huyen-ntm-2021": {6, 7, 8, 9},
    "huyen-ntm-nang-cao-2021": {6, 7, 8, 9},
}


@pytest.fixture(scope="module")
def catalog() -> dict[str, CriteriaSet]:
    return {s.code: s for s in load_catalog()}


def indicators(criteria_set: CriteriaSet) -> dict[str, Indicator]:
    return {i.code: i for c in criteria_set.criteria for i in c.indicators}


class TestShippedCatalog:
    def test_exactly_the_six_national_sets_ship(self, catalog: dict[str, CriteriaSet]) -> None:
        assert set(catalog) == SHIPPED

    def test_commune_ntm_2021_has_19_criteria_and_57_indicators(
        self, catalog: dict[str, CriteriaSet]
    ) -> None:
        s = catalog["xa-ntm-2021"]
        assert [c.number for c in s.criteria] == list(range(1, 20))
        assert s.indicator_count == 57
        assert s.level is Level.commune
        assert s.title == "xa-ntm"

    def test_advanced_commune_has_19_criteria_and_about_75_indicators(
        self, catalog: dict[str, CriteriaSet]
    ) -> None:
        s = catalog["xa-ntm-nang-cao-2021"]
        assert [c.number for c in s.criteria] == list(range(1, 20))
        assert 70 <= s.indicator_count <= 80
        assert s.indicator_count == ADVANCED_COMMUNE_INDICATORS
        assert s.title == "xa-ntm-nang-cao"

    @pytest.mark.parametrize("code", ["huyen-ntm-2021", "huyen-ntm-nang-cao-2021"])
    def test_district_sets_have_9_criteria(
        self, catalog: dict[str, CriteriaSet], code: str
    ) -> None:
        s = catalog[code]
        assert [c.number for c in s.criteria] == list(range(1, 10))
        assert s.level is Level.district

    @pytest.mark.parametrize("code", ["huyen-ntm-2021", "huyen-ntm-nang-cao-2021"])
    def test_district_sets_require_every_commune_to_be_ntm(
        self, catalog: dict[str, CriteriaSet], code: str
    ) -> None:
        shares = {
            i.derived.title: i.thresholds[0].value
            for i in indicators(catalog[code]).values()
            if i.derived is not None and i.derived.rule is DerivedRule.share_of_units_with_title
        }
        assert shares["xa-ntm"] == Decimal(100)
        if code == "huyen-ntm-nang-cao-2021":
            assert {"xa-ntm-nang-cao", "xa-ntm-kieu-mau"} <= set(shares)

    def test_commune_2026_has_10_criteria_47_indicators_keyed_by_commune_group(
        self, catalog: dict[str, CriteriaSet]
    ) -> None:
        s = catalog["xa-ntm-2026"]
        assert [c.number for c in s.criteria] == list(range(1, 11))
        assert s.indicator_count == 47
        assert s.threshold_scheme is ThresholdScheme.commune_group
        thresholds = [t for i in indicators(s).values() for t in i.thresholds]
        assert all(t.region is None for t in thresholds)
        groups = {t.group for t in thresholds if t.group is not None}
        assert groups
        assert groups <= set(COMMUNE_GROUPS)
        # A group without its own value uses the general one, so every indicator has one.
        for ind in indicators(s).values():
            assert any(t.group is None for t in ind.thresholds), ind.code

    def test_2021_sets_end_the_day_before_the_2026_set_starts(
        self, catalog: dict[str, CriteriaSet]
    ) -> None:
        new = catalog["xa-ntm-2026"]
        assert new.valid_from is not None
        assert str(new.valid_from) == "2026-02-15"
        for code in SHIPPED - {"xa-ntm-2026"}:
            s = catalog[code]
            assert s.threshold_scheme is ThresholdScheme.region
            assert str(s.valid_from) == "2022-03-08"
            assert str(s.valid_to) == "2026-02-14"

    def test_income_has_values_per_region_and_per_year(
        self, catalog: dict[str, CriteriaSet]
    ) -> None:
        income = indicators(catalog["xa-ntm-2021"])["10.1"]
        assert income.kind is Kind.number
        keys = {(t.region, t.year) for t in income.thresholds}
        years = {year for _, year in keys}
        assert years == {2022, 2023, 2024, 2025}
        for region in (None, *REGIONS):
            assert {(region, year) for year in years} <= keys

    def test_irrigation_is_at_least_80_percent_and_verified(
        self, catalog: dict[str, CriteriaSet]
    ) -> None:
        irrigation = indicators(catalog["xa-ntm-2021"])["3.1"]
        assert irrigation.verified
        assert irrigation.kind is Kind.percent
        assert irrigation.comparator == "ge"
        general = [t.value for t in irrigation.thresholds if t.region is None and t.year is None]
        assert general == [Decimal(80)]
        assert "318" in irrigation.source

    def test_disaster_readiness_is_a_verified_boolean(
        self, catalog: dict[str, CriteriaSet]
    ) -> None:
        readiness = indicators(catalog["xa-ntm-2021"])["3.2"]
        assert readiness.verified
        assert readiness.kind is Kind.boolean
        assert [t.value for t in readiness.thresholds] == [True]

    def test_key_criteria_for_revocation(self, catalog: dict[str, CriteriaSet]) -> None:
        keys = {code: {c.number for c in s.criteria if c.key} for code, s in catalog.items()}
        for code, expected in KEY_CRITERIA.items():
            assert keys[code] == expected, code

    def test_every_unverified_indicator_says_why(self, catalog: dict[str, CriteriaSet]) -> None:
        for s in catalog.values():
            for ind in indicators(s).values():
                if not ind.verified:
                    assert len(ind.source.strip()) >= 30, (s.code, ind.code)
                    assert "QĐ" in ind.source, (s.code, ind.code)

    def test_names_are_nfc(self, catalog: dict[str, CriteriaSet]) -> None:
        for s in catalog.values():
            names = [s.name, s.legal_basis]
            for c in s.criteria:
                names.append(c.name)
                names.extend(i.name for i in c.indicators)
            for name in names:
                assert unicodedata.is_normalized("NFC", name), name

    def test_model_commune_income_rule_points_at_the_advanced_income_indicator(
        self, catalog: dict[str, CriteriaSet]
    ) -> None:
        rules = [
            i
            for i in indicators(catalog["xa-ntm-kieu-mau-2021"]).values()
            if i.derived is not None and i.derived.rule is DerivedRule.ratio_to_indicator
        ]
        assert len(rules) == 1
        rule = rules[0]
        assert rule.derived is not None
        assert rule.thresholds[0].value == Decimal(110)
        assert rule.unit == "%"
        assert rule.derived.set is not None
        assert rule.derived.indicator is not None
        base = indicators(catalog[rule.derived.set])[rule.derived.indicator]
        assert base.kind is Kind.number
        assert {t.region for t in base.thresholds} >= set(REGIONS)

    def test_model_commune_conditions_are_derived_from_titles(
        self, catalog: dict[str, CriteriaSet]
    ) -> None:
        by_rule = {
            i.derived.rule: i
            for i in indicators(catalog["xa-ntm-kieu-mau-2021"]).values()
            if i.derived is not None
        }
        advanced = by_rule[DerivedRule.holds_title]
        assert advanced.derived is not None
        assert advanced.derived.title == "xa-ntm-nang-cao"
        smart = by_rule[DerivedRule.count_of_units_with_title]
        assert smart.derived is not None
        assert (smart.derived.level, smart.derived.title) == (Level.village, "thon-thong-minh")
        value = smart.thresholds[0].value
        assert isinstance(value, Decimal)
        assert value == 1


def one_indicator_set(indicator: str, *, number: int = 1, scheme: str = "region") -> str:
    """A minimal set whose single criterion holds the given indicator (YAML, 6-space indented)."""
    head = f"""\
        code: test-set
        name: Bộ thử
        level: commune
        title: xa-thu
        legal_basis: Thử nghiệm
        threshold_scheme: {scheme}
        criteria:
          - number: {number}
            name: Tiêu chí thử
            indicators:
"""
    return textwrap.dedent(head) + textwrap.indent(textwrap.dedent(indicator), " " * 6)


def rejection(name: str, text: str) -> str:
    with pytest.raises(CatalogError) as excinfo:
        parse_catalog(name, text)
    return str(excinfo.value)


class TestCatalogValidation:
    def test_the_minimal_file_is_valid(self) -> None:
        s = parse_catalog(
            "ok.yaml",
            one_indicator_set(
                """\
                - code: "1.1"
                  name: Đạt
                  kind: boolean
                  comparator: eq
                  thresholds: [{value: true}]
                  verified: false
                  source: test
                """
            ),
        )
        assert s.indicator_count == 1

    def test_a_boolean_indicator_with_a_numeric_threshold(self) -> None:
        message = rejection(
            "bad-boolean.yaml",
            one_indicator_set(
                """\
                - code: "1.1"
                  name: Đạt
                  kind: boolean
                  comparator: eq
                  thresholds: [{value: 80}]
                  verified: false
                  source: test
                """
            ),
        )
        assert message.startswith("bad-boolean.yaml: ")
        assert "criteria.0.indicators.0" in message
        assert "boolean indicator needs true/false" in message

    def test_a_numeric_indicator_with_a_boolean_threshold(self) -> None:
        message = rejection(
            "bad-percent.yaml",
            one_indicator_set(
                """\
                - code: "1.1"
                  name: Tỷ lệ
                  kind: percent
                  unit: "%"
                  thresholds: [{value: true}]
                  verified: false
                  source: test
                """
            ),
        )
        assert message.startswith("bad-percent.yaml: ")
        assert "criteria.0.indicators.0" in message
        assert "numeric indicator needs a number" in message

    def test_an_indicator_code_under_the_wrong_criterion(self) -> None:
        message = rejection(
            "misplaced.yaml",
            one_indicator_set(
                """\
                - code: "2.1"
                  name: Đạt
                  kind: boolean
                  comparator: eq
                  thresholds: [{value: true}]
                  verified: false
                  source: test
                """
            ),
        )
        assert message.startswith("misplaced.yaml: ")
        assert "criteria.0" in message
        assert "indicator 2.1 is not under criterion 1" in message

    def test_two_thresholds_for_the_same_region_and_year(self) -> None:
        message = rejection(
            "duplicate.yaml",
            one_indicator_set(
                """\
                - code: "1.1"
                  name: Thu nhập
                  kind: number
                  thresholds:
                    - {region: TDMNPB, year: 2023, value: 42}
                    - {region: TDMNPB, year: 2023, value: 45}
                  verified: false
                  source: test
                """
            ),
        )
        assert message.startswith("duplicate.yaml: ")
        assert "criteria.0.indicators.0" in message
        assert "two thresholds for the same region/year" in message

    def test_a_commune_group_set_keyed_by_region(self) -> None:
        message = rejection(
            "by-region.yaml",
            one_indicator_set(
                """\
                - code: "1.1"
                  name: Tỷ lệ
                  kind: percent
                  thresholds:
                    - {value: 90}
                    - {region: TDMNPB, value: 70}
                  verified: false
                  source: test
                """,
                scheme="commune_group",
            ),
        )
        # A set-level rule: the message names the file and the failing indicator's code.
        assert message.startswith("by-region.yaml: ")
        assert "1.1: this set keys thresholds by commune group" in message

    def test_an_unknown_commune_group(self) -> None:
        message = rejection(
            "group-4.yaml",
            one_indicator_set(
                """\
                - code: "1.1"
                  name: Tỷ lệ
                  kind: percent
                  thresholds: [{group: "4", value: 90}]
                  verified: false
                  source: test
                """,
                scheme="commune_group",
            ),
        )
        assert message.startswith("group-4.yaml: ")
        assert "criteria.0.indicators.0.thresholds.0.group" in message

    def test_not_yaml(self) -> None:
        message = rejection("broken.yaml", "code: [unclosed\n")
        assert message.startswith("broken.yaml: not valid YAML")

    def test_a_yaml_1_threshold_stays_the_number_1(self) -> None:
        s = parse_catalog(
            "one.yaml",
            one_indicator_set(
                """\
                - code: "1.1"
                  name: Có ít nhất một thôn thông minh
                  kind: derived
                  thresholds: [{value: 1}]
                  derived: {rule: count_of_units_with_title, level: village, title: thon-thong-minh}
                  verified: false
                  source: test
                - code: "1.2"
                  name: Số lượng
                  kind: number
                  thresholds: [{value: 1}]
                  verified: false
                  source: test
                """
            ),
        )
        for ind in s.criteria[0].indicators:
            value = ind.thresholds[0].value
            assert not isinstance(value, bool), ind.code
            assert isinstance(value, Decimal), ind.code
            assert value == Decimal(1)
