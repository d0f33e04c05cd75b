"""Derived indicators: values computed from other data rather than recorded.

- `share_of_units_with_title`: % of the units of a level below the unit holding a title on
  the evaluation date (a district's "100% of communes recognised NTM");
- `count_of_units_with_title`: how many units below hold it (a model commune's smart village);
- `holds_title`: the unit itself holds a title (a model commune is already advanced);
- `ratio_to_indicator`: the unit's value of another set's indicator as a % of that
  indicator's threshold for the unit (income ≥ 110% of the advanced-commune threshold).

Titles come from `recognised_titles`, the projection of appraisal's decisions. The evaluation
date of a year is its last day (or today), clamped into the unit's validity."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria.domain import catalog, evaluation
from services.criteria.repository import CriteriaSetRepository
from services.criteria.repository.titles import TitleRepository
from shared.clock import today

Value = bool | Decimal


def evaluation_date(year: int, unit: RowMapping) -> date:
    """The day a year is judged on for this unit: 31/12 (or today), inside its validity."""
    day = min(date(year, 12, 31), today())
    if unit["valid_to"] is not None and day > unit["valid_to"]:
        day = unit["valid_to"]
    if unit["valid_from"] is not None and day < unit["valid_from"]:
        day = unit["valid_from"]
    return day


async def derived_values(
    session: AsyncSession,
    criteria_set: catalog.CriteriaSet,
    year: int,
    units: Sequence[RowMapping],
) -> dict[int, dict[str, Value]]:
    """Values of the set's derived indicators for each unit (by unit id); an indicator whose
    inputs are missing is left out, so the engine reports it missing."""
    out: dict[int, dict[str, Value]] = defaultdict(dict)
    derived = [i for c in criteria_set.criteria for i in c.indicators if i.derived is not None]
    if not derived or not units:
        return {}
    repo = TitleRepository(session)
    by_day: dict[date, list[int]] = defaultdict(list)
    for unit in units:
        by_day[evaluation_date(year, unit)].append(unit["id"])
    for indicator in derived:
        rule = indicator.derived
        assert rule is not None
        for day, ids in by_day.items():
            if rule.rule is catalog.DerivedRule.holds_title and rule.title:
                holders = await repo.holds(ids, rule.title, day)
                for unit_id in ids:
                    out[unit_id][indicator.code] = unit_id in holders
            elif (
                rule.rule
                in (
                    catalog.DerivedRule.share_of_units_with_title,
                    catalog.DerivedRule.count_of_units_with_title,
                )
                and rule.title
                and rule.level
            ):
                counts = await repo.counts_below(ids, rule.level.value, rule.title, day)
                for unit_id, (total, holding) in counts.items():
                    if rule.rule is catalog.DerivedRule.count_of_units_with_title:
                        out[unit_id][indicator.code] = Decimal(holding)
                    elif total > 0:
                        out[unit_id][indicator.code] = Decimal(100 * holding) / Decimal(total)
    ratios = [
        i
        for i in derived
        if i.derived is not None and i.derived.rule is catalog.DerivedRule.ratio_to_indicator
    ]
    if ratios:
        await _ratios(session, ratios, year, units, out)
    return dict(out)


async def _ratios(
    session: AsyncSession,
    indicators: list[catalog.Indicator],
    year: int,
    units: Sequence[RowMapping],
    out: dict[int, dict[str, Value]],
) -> None:
    repo = TitleRepository(session)
    ids = [u["id"] for u in units]
    profiles = await repo.profiles_of(ids)
    for indicator in indicators:
        rule = indicator.derived
        if rule is None or not rule.set or not rule.indicator:
            continue
        [base_row] = await CriteriaSetRepository(session).get_many([rule.set])
        if base_row is None:
            continue
        base_set = catalog.CriteriaSet.model_validate(base_row["definition"])
        base = next(
            (i for c in base_set.criteria for i in c.indicators if i.code == rule.indicator), None
        )
        if base is None:
            continue
        values = await repo.current_value_of(ids, rule.set, rule.indicator, year)
        for unit_id in ids:
            row = values.get(unit_id)
            if row is None or row["value_num"] is None:
                continue
            p = profiles.get(unit_id)
            profile = evaluation.UnitProfile(
                region=p["region"] if p else None,
                commune_group=p["commune_group"] if p else None,
                specially_disadvantaged=bool(p and p["specially_disadvantaged"]),
            )
            threshold = evaluation.select_threshold(base, base_set.threshold_scheme, profile, year)
            if threshold is None or isinstance(threshold.value, bool) or threshold.value == 0:
                continue
            out[unit_id][indicator.code] = Decimal(row["value_num"]) * 100 / threshold.value
