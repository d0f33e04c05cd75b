"""Evaluating a unit against a criteria set, and the revocation watch (pure: no I/O here).

A criterion is met only when ALL its indicators are met; a unit meets the standard only when
every criterion is met (domain handbook §3). An indicator without a value is *missing*: it is
never silently counted as met or not met, and the criterion it belongs to is then unknown
(unless another of its indicators fails, which makes it not met).

"Cơ bản đạt" (basically met) has no legal definition: it is a configurable planning label on a
criterion that is not met but close (`BasicallyMetRule`), never a recognition state.

Revocation (QĐ 18/2022/QĐ-TTg, handbook §4): a commune is at risk when 50% or more of its
criteria are not met, or 30% to under 50% and one of them is a key criterion; a district also
when 30% or more of its communes have had their recognition revoked. Shares are computed with
`fractions.Fraction`, so the band edges are exact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Final, Protocol

from services.criteria.domain.catalog import (
    Comparator,
    CriteriaSet,
    Indicator,
    Kind,
    Threshold,
    ThresholdScheme,
)

__all__ = [
    "BASICALLY_MET",
    "SPECIAL_REGION",
    "BasicallyMetRule",
    "CriterionResult",
    "Evaluation",
    "IndicatorResult",
    "RevocationCheck",
    "UnitProfile",
    "Value",
    "ValueTypeError",
    "commune_revocation_risk",
    "district_revocation_risk",
    "evaluate",
    "key_criteria",
    "select_threshold",
    "threshold_text",
]

Value = bool | Decimal
"""A recorded (or caller-computed) indicator value: a boolean, or an exact number."""

SPECIAL_REGION: Final = "TDMNPB"
"""The region whose values specially disadvantaged (and some safe-zone) communes use."""

BASICALLY_MET: Final = "co_ban_dat"
"""The planning label for a criterion that is not met but close ("cơ bản đạt")."""

REVOCATION_LOW_BAND: Final = Fraction(3, 10)
REVOCATION_HIGH_BAND: Final = Fraction(1, 2)
DISTRICT_COMMUNES_REVOKED_BAND: Final = Fraction(3, 10)

_SYMBOLS: Final = {
    Comparator.ge: "≥",
    Comparator.gt: ">",
    Comparator.le: "≤",
    Comparator.lt: "<",
    Comparator.eq: "=",
}
_MET_TEXT: Final = "Đạt"
_NOT_REQUIRED_TEXT: Final = "Không"
_YES_TEXT: Final = "Có"
_NO_TEXT: Final = "Không"


class ValueTypeError(ValueError):
    """A value of the wrong type for its indicator's kind (e.g. a boolean for a percent)."""

    def __init__(self, code: str, expected: str, value: object) -> None:
        self.code = code
        self.expected = expected
        self.value = value
        super().__init__(
            f"indicator {code}: expected {expected}, got {type(value).__name__} {value!r}"
        )


@dataclass(frozen=True, slots=True)
class UnitProfile:
    """What selects a unit's thresholds.

    `region` is one of the 7 region codes (2021–2025 sets), `commune_group` "1"/"2"/"3"
    (2026–2030 sets). A specially disadvantaged commune (or a safe-zone commune treated like
    one) uses the TDMNPB values wherever it is, under the region scheme."""

    region: str | None
    commune_group: str | None
    specially_disadvantaged: bool = False

    @property
    def effective_region(self) -> str | None:
        """The region whose thresholds apply: TDMNPB for a specially disadvantaged commune."""
        return SPECIAL_REGION if self.specially_disadvantaged else self.region


@dataclass(frozen=True, slots=True)
class BasicallyMetRule:
    """When a criterion that is not met gets the planning label "cơ bản đạt".

    At most `max_failed_indicators` indicators fail, none is missing, every failing one is
    numeric (a failing boolean never qualifies) and each failing one's gap is at most
    `max_relative_gap` of its threshold (0.1 = within 10%)."""

    max_failed_indicators: int = 1
    max_relative_gap: float = 0.1

    def __post_init__(self) -> None:
        if self.max_failed_indicators < 1:
            raise ValueError("max_failed_indicators must be at least 1")
        if not 0 <= self.max_relative_gap < float("inf"):
            raise ValueError("max_relative_gap must be a finite number ≥ 0")


@dataclass(frozen=True, slots=True)
class IndicatorResult:
    """One indicator's outcome.

    `met` is None when the value is missing or no threshold applies to the unit. `gap` is, for
    numeric values, the distance to the threshold (0 when met); None for booleans and when
    missing. `value_text`/`threshold` are display strings ("85 %", "≥ 80 %", "Đạt")."""

    code: str
    name: str
    kind: Kind
    unit: str | None
    comparator: Comparator
    value: Value | None
    value_text: str | None
    threshold_value: Value | None
    threshold: str | None
    met: bool | None
    missing: bool
    gap: float | None
    verified: bool

    @property
    def failed(self) -> bool:
        """Known not met (a missing value is not a failure)."""
        return self.met is False


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """One criterion's outcome: met only when all its indicators are met; None (unknown) when
    none fails but some cannot be decided; False when any fails."""

    number: int
    name: str
    key: bool
    met: bool | None
    indicators_met: int
    indicators_total: int
    indicators_missing: int
    indicators: tuple[IndicatorResult, ...]
    planning_label: str | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A unit against a criteria set for one year.

    `revocation_risk` applies the criteria bands of QĐ 18/2022 with the set's key criteria
    (for a district, the share of revoked communes is a separate check:
    `district_revocation_risk`)."""

    criteria_set: str
    year: int
    profile: UnitProfile
    criteria: tuple[CriterionResult, ...]
    criteria_met: int
    criteria_not_met: int
    criteria_unknown: int
    criteria_total: int
    criteria_basically_met: int
    indicators_met: int
    indicators_missing: int
    indicators_total: int
    meets_standard: bool
    revocation_risk: bool


class JudgedCriterion(Protocol):
    """What the revocation bands read of a criterion: its number and status."""

    @property
    def number(self) -> int: ...

    @property
    def met(self) -> bool | None: ...


class Judged(Protocol):
    """What the revocation bands read of an evaluation: its criteria in the set's order (an
    `Evaluation`, or only the statuses when the indicators were counted, not explained)."""

    @property
    def criteria(self) -> Sequence[JudgedCriterion]: ...


@dataclass(frozen=True, slots=True)
class RevocationCheck:
    """The outcome of a revocation check.

    `not_met`/`key_not_met` list criterion numbers known not met; criteria with unknown status
    are not counted, only reported in `unknown_criteria` (a non-zero count means the check is
    incomplete). `share` is not met / total. `communes_revoked_share` is set for districts with
    communes."""

    at_risk: bool
    rule: str | None
    not_met: tuple[int, ...]
    key_not_met: tuple[int, ...]
    share: float
    unknown_criteria: int
    communes_revoked_share: float | None = None


# --- thresholds ---------------------------------------------------------------------------


def _pick_by_year(candidates: list[Threshold], year: int) -> Threshold | None:
    """Within one key: the exact year, else the latest earlier year, else the year-None value."""
    exact = [t for t in candidates if t.year == year]
    if exact:
        return exact[0]
    earlier = [t for t in candidates if t.year is not None and t.year < year]
    if earlier:
        return max(earlier, key=lambda t: t.year or 0)
    undated = [t for t in candidates if t.year is None]
    return undated[0] if undated else None


def select_threshold(
    indicator: Indicator, scheme: ThresholdScheme, profile: UnitProfile, year: int
) -> Threshold | None:
    """The threshold of `indicator` that applies to a unit with `profile` in `year`.

    The key is the unit's effective region under the region scheme (TDMNPB for a specially
    disadvantaged commune) and its commune group under the commune-group scheme. Order of
    preference, first found wins:

    1. key match, exact year;
    2. key match, the latest year before `year`;
    3. key match, year None (every year);
    4. general value (no region, no group), exact year;
    5. general value, the latest year before `year`;
    6. general value, year None.

    A year-specific threshold never applies to an earlier year: when only later years exist,
    the year-None value is used, and None is returned when nothing applies."""
    if scheme is ThresholdScheme.region:
        key = profile.effective_region
        keyed = [t for t in indicator.thresholds if key is not None and t.region == key]
    else:
        key = profile.commune_group
        keyed = [t for t in indicator.thresholds if key is not None and t.group == key]
    general = [t for t in indicator.thresholds if t.region is None and t.group is None]
    return _pick_by_year(keyed, year) or _pick_by_year(general, year)


# --- display ------------------------------------------------------------------------------


def _number_text(value: Decimal) -> str:
    """A number the Vietnamese way: no exponent, decimal comma, trailing zeros dropped."""
    return format(value.normalize(), "f").replace(".", ",")


def _unit_of(indicator: Indicator) -> str | None:
    if indicator.unit:
        return indicator.unit
    return "%" if indicator.kind is Kind.percent else None


def _with_unit(number: str, unit: str | None) -> str:
    return f"{number} {unit}" if unit else number


def threshold_text(indicator: Indicator, threshold: Threshold) -> str:
    """The threshold as shown to people: "≥ 80 %", "≤ 5 %", "≥ 45 triệu đồng/người/năm",
    "Đạt" for a boolean true (and "Không" for a boolean false)."""
    if isinstance(threshold.value, bool):
        return _MET_TEXT if threshold.value else _NOT_REQUIRED_TEXT
    number = _with_unit(_number_text(threshold.value), _unit_of(indicator))
    return f"{_SYMBOLS[indicator.comparator]} {number}"


def _value_text(indicator: Indicator, value: Value) -> str:
    if isinstance(value, bool):
        return _YES_TEXT if value else _NO_TEXT
    return _with_unit(_number_text(value), _unit_of(indicator))


# --- indicators ---------------------------------------------------------------------------


def _checked_value(indicator: Indicator, threshold: Threshold | None, raw: object) -> Value:
    """The value, checked against the indicator's kind (and, for derived ones, its threshold)."""
    if indicator.kind is Kind.boolean:
        wants_bool: bool | None = True
    elif indicator.kind in (Kind.number, Kind.percent):
        wants_bool = False
    else:  # derived: as its threshold, or either when no threshold applies
        wants_bool = isinstance(threshold.value, bool) if threshold is not None else None
    if isinstance(raw, bool):
        if wants_bool is False:
            raise ValueTypeError(indicator.code, "a number", raw)
        return raw
    if wants_bool is True:
        raise ValueTypeError(indicator.code, "a boolean", raw)
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            raise ValueTypeError(indicator.code, "a finite number", raw)
        return raw
    raise ValueTypeError(indicator.code, "a boolean or an exact number (Decimal)", raw)


def _compare(comparator: Comparator, value: Decimal, threshold: Decimal) -> bool:
    if comparator is Comparator.ge:
        return value >= threshold
    if comparator is Comparator.gt:
        return value > threshold
    if comparator is Comparator.le:
        return value <= threshold
    if comparator is Comparator.lt:
        return value < threshold
    return value == threshold


def _exact_gap(comparator: Comparator, value: Decimal, threshold: Decimal, met: bool) -> Decimal:
    """How far `value` is from meeting `threshold`: 0 when met, a distance ≥ 0 otherwise."""
    if met:
        return Decimal(0)
    if comparator in (Comparator.ge, Comparator.gt):
        return threshold - value
    if comparator in (Comparator.le, Comparator.lt):
        return value - threshold
    return abs(value - threshold)


def _evaluate_indicator(
    indicator: Indicator,
    scheme: ThresholdScheme,
    profile: UnitProfile,
    year: int,
    raw: object,
) -> IndicatorResult:
    threshold = select_threshold(indicator, scheme, profile, year)
    value = None if raw is None else _checked_value(indicator, threshold, raw)
    met: bool | None = None
    gap: float | None = None
    if value is not None and threshold is not None:
        expected = threshold.value
        if isinstance(expected, bool) or isinstance(value, bool):
            # Booleans compare by equality whatever the comparator (derived "holds title" ones
            # keep the default `ge`). A derived value not of its threshold's type was rejected.
            met = value == expected
        else:
            met = _compare(indicator.comparator, value, expected)
            gap = float(_exact_gap(indicator.comparator, value, expected, met))
    return IndicatorResult(
        code=indicator.code,
        name=indicator.name,
        kind=indicator.kind,
        unit=_unit_of(indicator),
        comparator=indicator.comparator,
        value=value,
        value_text=None if value is None else _value_text(indicator, value),
        threshold_value=None if threshold is None else threshold.value,
        threshold=None if threshold is None else threshold_text(indicator, threshold),
        met=met,
        missing=value is None,
        gap=gap,
        verified=indicator.verified,
    )


# --- criteria -----------------------------------------------------------------------------


def _relative_gap_within(result: IndicatorResult, limit: Fraction) -> bool:
    value, threshold = result.value, result.threshold_value
    if not isinstance(value, Decimal) or not isinstance(threshold, Decimal):
        return False  # a failing boolean never qualifies
    gap = Fraction(_exact_gap(result.comparator, value, threshold, met=False))
    if threshold == 0:
        return gap == 0
    return gap / abs(Fraction(threshold)) <= limit


def _planning_label(
    met: bool | None, indicators: tuple[IndicatorResult, ...], rule: BasicallyMetRule | None
) -> str | None:
    if rule is None or met is not False:
        return None
    if any(r.met is None for r in indicators):
        return None  # not known to be close while something cannot be decided
    failing = [r for r in indicators if r.failed]
    if len(failing) > rule.max_failed_indicators:
        return None
    # repr() of a float is its shortest exact decimal: 0.1 is taken as exactly 1/10.
    limit = Fraction(Decimal(repr(rule.max_relative_gap)))
    if all(_relative_gap_within(r, limit) for r in failing):
        return BASICALLY_MET
    return None


def _criterion_met(indicators: tuple[IndicatorResult, ...]) -> bool | None:
    if any(r.met is False for r in indicators):
        return False
    if any(r.met is None for r in indicators):
        return None
    return True


def key_criteria(criteria_set: CriteriaSet) -> set[int]:
    """The numbers of the set's key criteria (marked `key: true`), for the revocation bands."""
    return {c.number for c in criteria_set.criteria if c.key}


def _criteria_bands(
    criteria: Sequence[JudgedCriterion], key: AbstractSet[int], prefix: str
) -> RevocationCheck:
    total = len(criteria)
    not_met = tuple(c.number for c in criteria if c.met is False)
    key_not_met = tuple(n for n in not_met if n in key)
    unknown = sum(1 for c in criteria if c.met is None)
    share = Fraction(len(not_met), total) if total else Fraction(0)
    rule: str | None = None
    if share >= REVOCATION_HIGH_BAND:
        rule = f"{prefix}_50_percent"
    elif share >= REVOCATION_LOW_BAND and key_not_met:
        rule = f"{prefix}_30_percent_with_key"
    return RevocationCheck(
        at_risk=rule is not None,
        rule=rule,
        not_met=not_met,
        key_not_met=key_not_met,
        share=float(share),
        unknown_criteria=unknown,
    )


def evaluate(
    criteria_set: CriteriaSet,
    profile: UnitProfile,
    year: int,
    values: Mapping[str, Value | None],
    *,
    basic_rule: BasicallyMetRule | None = None,
) -> Evaluation:
    """Evaluate a unit with `profile` against `criteria_set` for `year`.

    `values` maps indicator codes to values; derived indicators arrive computed by the caller
    in the same mapping; codes not in the set are ignored. An absent code or None is missing
    (met None, missing True). Booleans compare by equality; numbers and percents with the
    indicator's comparator, exactly on Decimal. A value of the wrong type for the kind raises
    `ValueTypeError` naming the indicator.

    A criterion is met when all its indicators are met, not met when any fails, and unknown
    (None) otherwise; the unit meets the standard only when every criterion is met. With
    `basic_rule`, criteria not met but close get the planning label "co_ban_dat"."""
    scheme = criteria_set.threshold_scheme
    results: list[CriterionResult] = []
    for criterion in criteria_set.criteria:
        indicators = tuple(
            _evaluate_indicator(ind, scheme, profile, year, values.get(ind.code))
            for ind in criterion.indicators
        )
        met = _criterion_met(indicators)
        results.append(
            CriterionResult(
                number=criterion.number,
                name=criterion.name,
                key=criterion.key,
                met=met,
                indicators_met=sum(1 for r in indicators if r.met is True),
                indicators_total=len(indicators),
                indicators_missing=sum(1 for r in indicators if r.missing),
                indicators=indicators,
                planning_label=_planning_label(met, indicators, basic_rule),
            )
        )
    criteria = tuple(results)
    criteria_met = sum(1 for c in criteria if c.met is True)
    bands = _criteria_bands(criteria, key_criteria(criteria_set), criteria_set.level.value)
    return Evaluation(
        criteria_set=criteria_set.code,
        year=year,
        profile=profile,
        criteria=criteria,
        criteria_met=criteria_met,
        criteria_not_met=sum(1 for c in criteria if c.met is False),
        criteria_unknown=sum(1 for c in criteria if c.met is None),
        criteria_total=len(criteria),
        criteria_basically_met=sum(1 for c in criteria if c.planning_label == BASICALLY_MET),
        indicators_met=sum(c.indicators_met for c in criteria),
        indicators_missing=sum(c.indicators_missing for c in criteria),
        indicators_total=sum(c.indicators_total for c in criteria),
        meets_standard=criteria_met == len(criteria),
        revocation_risk=bands.at_risk,
    )


# --- revocation watch ---------------------------------------------------------------------


def commune_revocation_risk(evaluation: Judged, key_criteria: AbstractSet[int]) -> RevocationCheck:
    """A commune's revocation risk under QĐ 18/2022 (handbook §4).

    share = criteria known not met / criteria total (exact). At risk when share ≥ 1/2
    (rule "commune_50_percent"), or 3/10 ≤ share < 1/2 with at least one key criterion not met
    (rule "commune_30_percent_with_key"). Unknown criteria are not counted as not met; their
    number is reported in `unknown_criteria`."""
    return _criteria_bands(evaluation.criteria, key_criteria, "commune")


def district_revocation_risk(
    evaluation: Judged,
    key_criteria: AbstractSet[int],
    communes_total: int,
    communes_revoked: int,
) -> RevocationCheck:
    """A district's revocation risk under QĐ 18/2022 (handbook §4).

    At risk when communes_revoked / communes_total ≥ 3/10 (rule
    "district_communes_revoked_30_percent", checked first), or under the commune bands over the
    district's own criteria (rules "district_50_percent", "district_30_percent_with_key").
    With no communes (communes_total 0) only the criteria bands apply."""
    if communes_total < 0 or not 0 <= communes_revoked <= communes_total:
        raise ValueError("need 0 ≤ communes_revoked ≤ communes_total")
    bands = _criteria_bands(evaluation.criteria, key_criteria, "district")
    if communes_total == 0:
        return bands
    revoked_share = Fraction(communes_revoked, communes_total)
    rule = bands.rule
    if revoked_share >= DISTRICT_COMMUNES_REVOKED_BAND:
        rule = "district_communes_revoked_30_percent"
    return RevocationCheck(
        at_risk=rule is not None,
        rule=rule,
        not_met=bands.not_met,
        key_not_met=bands.key_not_met,
        share=bands.share,
        unknown_criteria=bands.unknown_criteria,
        communes_revoked_share=float(revoked_share),
    )
