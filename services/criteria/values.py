"""Indicator values, unit profiles and evaluation: the rules around the pure engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria import schemas
from services.criteria.derived import derived_values, evaluation_date
from services.criteria.domain import catalog, evaluation
from services.criteria.domain.report import SetEvaluator, UnitOutcome
from services.criteria.errors import CriteriaSetNotFound, UnitNotFound
from services.criteria.repository import CriteriaSetRepository, UnitRepository, ValueRepository
from services.criteria.repository.reports import ReportRepository
from services.criteria.repository.titles import TitleRepository
from shared.clock import today
from shared.errors import FieldError, InvalidInput
from shared.pagination import Page, cursor_after, keyset_page


def _row_error(row: int, field: str, code: str, vi: str, en: str) -> FieldError:
    return FieldError(row=row, field=field, code=code, message_vi=vi, message_en=en)


async def record_values(
    session: AsyncSession, values: list[schemas.ValueIn], recorded_by: str | None
) -> schemas.RecordSummary:
    """Record a batch atomically: every row is checked first (unit valid on `as_of`, set and
    indicator known, value of the indicator's kind); one bad row rejects the batch, naming it."""
    units = await UnitRepository(session).get_many([(v.unit, v.as_of) for v in values])
    repo = ValueRepository(session)
    set_codes = sorted({v.set for v in values})
    levels = await repo.set_levels(set_codes)
    kinds = await repo.indicator_kinds(set_codes)
    errors: list[FieldError] = []
    rows: list[dict[str, Any]] = []
    for n, (v, unit) in enumerate(zip(values, units, strict=True), start=1):
        if unit is None:
            errors.append(
                _row_error(
                    n,
                    "unit",
                    "unit.not_found",
                    f"Dòng {n}: không có đơn vị '{v.unit}' ngày {v.as_of:%d/%m/%Y}.",
                    f"Row {n}: no unit '{v.unit}' valid on {v.as_of}.",
                )
            )
            continue
        if v.set not in levels:
            errors.append(
                _row_error(
                    n,
                    "set",
                    "criteria_set.not_found",
                    f"Dòng {n}: không có bộ tiêu chí '{v.set}'.",
                    f"Row {n}: no criteria set '{v.set}'.",
                )
            )
            continue
        if levels[v.set] != unit["level"]:
            errors.append(
                _row_error(
                    n,
                    "set",
                    "criteria_set.wrong_level",
                    f"Dòng {n}: bộ '{v.set}' dành cho cấp {levels[v.set]}, "
                    f"'{v.unit}' là cấp {unit['level']}.",
                    f"Row {n}: set '{v.set}' is for level {levels[v.set]}, "
                    f"'{v.unit}' is a {unit['level']}.",
                )
            )
            continue
        kind = kinds.get((v.set, v.indicator))
        if kind is None:
            errors.append(
                _row_error(
                    n,
                    "indicator",
                    "indicator.not_found",
                    f"Dòng {n}: bộ '{v.set}' không có chỉ tiêu '{v.indicator}'.",
                    f"Row {n}: set '{v.set}' has no indicator '{v.indicator}'.",
                )
            )
            continue
        if kind == catalog.Kind.derived:
            errors.append(
                _row_error(
                    n,
                    "indicator",
                    "indicator.derived",
                    f"Dòng {n}: chỉ tiêu '{v.indicator}' được tính tự động, không nhập.",
                    f"Row {n}: indicator '{v.indicator}' is derived, not recorded.",
                )
            )
            continue
        is_bool = isinstance(v.value, bool)
        if is_bool != (kind == catalog.Kind.boolean):
            expected = ("true/false", "đạt/không đạt") if kind == "boolean" else ("a number", "số")
            errors.append(
                _row_error(
                    n,
                    "value",
                    "value.wrong_kind",
                    f"Dòng {n}: chỉ tiêu '{v.indicator}' cần giá trị {expected[1]}.",
                    f"Row {n}: indicator '{v.indicator}' needs {expected[0]}.",
                )
            )
            continue
        rows.append(
            {
                "unit_id": unit["id"],
                "set_code": v.set,
                "indicator_code": v.indicator,
                "year": v.year,
                "value_bool": v.value if is_bool else None,
                "value_num": None if is_bool else v.value,
                "as_of": v.as_of,
                "recorded_by": recorded_by,
                "evidence": orjson.dumps(v.evidence).decode(),
                "note": v.note,
            }
        )
    if errors:
        raise InvalidInput(
            f"{len(errors)} dòng không hợp lệ; không dòng nào được ghi.",
            f"{len(errors)} invalid row(s); nothing was recorded.",
            code="values.rejected",
            errors=errors,
        )
    await repo.insert_values(rows)
    return schemas.RecordSummary(created=len(rows))


def _value(row: RowMapping) -> bool | Decimal:
    return row["value_bool"] if row["value_bool"] is not None else Decimal(row["value_num"])


def _value_out(row: RowMapping) -> schemas.ValueOut:
    return schemas.ValueOut(
        indicator=row["indicator_code"],
        value=_value(row),
        as_of=row["as_of"],
        recorded_by=row["recorded_by"],
        recorded_at=row["recorded_at"],
        evidence=row["evidence"],
        note=row["note"],
    )


async def _unit(session: AsyncSession, code: str, as_of: date) -> RowMapping:
    unit = await UnitRepository(session).get(code, as_of)
    if unit is None:
        raise UnitNotFound(code, as_of)
    return unit


async def current_values(
    session: AsyncSession, code: str, set_code: str, year: int, as_of: date
) -> list[schemas.ValueOut]:
    unit = await _unit(session, code, as_of)
    rows = await ValueRepository(session).current_values(unit["id"], set_code, year)
    return [_value_out(r) for r in rows]


async def value_history(
    session: AsyncSession,
    code: str,
    set_code: str,
    year: int,
    indicator: str,
    as_of: date,
    *,
    cursor: str | None,
    limit: int,
) -> Page[schemas.ValueOut]:
    unit = await _unit(session, code, as_of)
    before = cursor_after(cursor, date.fromisoformat, int)
    rows, total = await ValueRepository(session).history(
        unit["id"], set_code, year, indicator, before=before, limit=limit + 1
    )
    page, next_cursor = keyset_page(rows, limit, lambda r: [r["as_of"].isoformat(), r["id"]])
    return Page(items=[_value_out(r) for r in page], next_cursor=next_cursor, total_count=total)


async def get_profile(session: AsyncSession, code: str, as_of: date) -> schemas.ProfileOut:
    unit = await _unit(session, code, as_of)
    row = await ValueRepository(session).get_profile(unit["id"])
    return schemas.ProfileOut(
        unit_code=code,
        region=row["region"] if row else None,
        commune_group=row["commune_group"] if row else None,
        specially_disadvantaged=row["specially_disadvantaged"] if row else False,
        updated_by=row["updated_by"] if row else None,
        updated_at=row["updated_at"] if row else None,
    )


async def put_profile(
    session: AsyncSession, code: str, as_of: date, body: schemas.ProfileIn, by: str | None
) -> schemas.ProfileOut:
    unit = await _unit(session, code, as_of)
    await ValueRepository(session).put_profile(
        unit["id"], body.region, body.commune_group, body.specially_disadvantaged, by
    )
    return await get_profile(session, code, as_of)


def default_as_of(year: int) -> date:
    """Evaluating a year looks at the unit as it was at the year's end (or today)."""
    return min(date(year, 12, 31), today())


def _commune_title(criteria_set: catalog.CriteriaSet) -> str:
    """The commune title whose revocations count against a district (QĐ 18/2022)."""
    return next(
        (
            i.derived.title
            for c in criteria_set.criteria
            for i in c.indicators
            if i.derived is not None
            and i.derived.rule is catalog.DerivedRule.share_of_units_with_title
            and i.derived.level is catalog.Level.commune
            and i.derived.title
        ),
        "xa-ntm",
    )


def _revocation(
    criteria_set: catalog.CriteriaSet,
    result: evaluation.Judged,
    holds: bool,
    communes: tuple[int, int] | None,
) -> schemas.RevocationOut:
    """QĐ 18/2022's bands for communes; for districts also the share of revoked communes
    (`communes`: how many communes below, how many of them revoked)."""
    keys = evaluation.key_criteria(criteria_set)
    if communes is not None:
        total, revoked = communes
        check = evaluation.district_revocation_risk(result, keys, total, revoked)
    else:
        check = evaluation.commune_revocation_risk(result, keys)
    return schemas.RevocationOut(
        holds_title=holds,
        at_risk=check.at_risk,
        rule=check.rule,
        not_met=list(check.not_met),
        key_not_met=list(check.key_not_met),
        share_not_met=check.share,
        unknown_criteria=check.unknown_criteria,
        communes_revoked_share=check.communes_revoked_share,
    )


def _summary_fields(
    unit: RowMapping,
    set_code: str,
    year: int,
    profile: evaluation.UnitProfile,
    counts: evaluation.Evaluation | UnitOutcome,
    revocation: schemas.RevocationOut,
) -> dict[str, Any]:
    return {
        "unit": schemas.UnitOut.model_validate(unit),
        "criteria_set": set_code,
        "year": year,
        "profile": schemas.ProfileIn(
            region=profile.region,
            commune_group=profile.commune_group,
            specially_disadvantaged=profile.specially_disadvantaged,
        ),
        "criteria_met": counts.criteria_met,
        "criteria_not_met": counts.criteria_not_met,
        "criteria_unknown": counts.criteria_unknown,
        "criteria_total": len(counts.criteria),
        "indicators_met": counts.indicators_met,
        "indicators_missing": counts.indicators_missing,
        "indicators_total": counts.indicators_total,
        "meets_standard": counts.meets_standard,
        "revocation_risk": revocation.holds_title and revocation.at_risk,
        "revocation": revocation,
    }


def _evaluation_out(
    unit: RowMapping,
    set_code: str,
    year: int,
    profile: evaluation.UnitProfile,
    result: evaluation.Evaluation,
    revocation: schemas.RevocationOut,
) -> schemas.EvaluationOut:
    return schemas.EvaluationOut(
        **_summary_fields(unit, set_code, year, profile, result, revocation),
        criteria=[
            schemas.CriterionResultOut(
                number=c.number,
                name=c.name,
                key=c.key,
                met=c.met,
                indicators_met=c.indicators_met,
                indicators_total=c.indicators_total,
                indicators_missing=c.indicators_missing,
                planning_label=c.planning_label,
                indicators=[
                    schemas.IndicatorResultOut(
                        code=i.code,
                        name=i.name,
                        kind=i.kind.value,
                        unit=i.unit,
                        value=i.value_text,
                        threshold=i.threshold,
                        met=i.met,
                        missing=i.missing,
                        gap=i.gap,
                        verified=i.verified,
                    )
                    for i in c.indicators
                ],
            )
            for c in result.criteria
        ],
    )


@dataclass(frozen=True, slots=True)
class _Status:
    """A criterion's number and status, what the revocation bands read."""

    number: int
    met: bool | None


@dataclass(frozen=True, slots=True)
class _Statuses:
    criteria: tuple[_Status, ...]


@dataclass(frozen=True, slots=True)
class _Wanted:
    """One evaluation asked for: the unit valid on `day`, against a set for a year."""

    unit: str
    set_code: str
    year: int
    day: date


async def _evaluations(
    session: AsyncSession,
    wanted: Sequence[_Wanted],
    basic_rule: evaluation.BasicallyMetRule | None = None,
    *,
    summary: bool = False,
) -> list[schemas.EvaluationSummaryOut | UnitNotFound | CriteriaSetNotFound]:
    """Each wanted evaluation, explained indicator by indicator, or why there is none; in
    order. Set-wise: the units, the sets, the profiles, then per (set, year) asked for the
    current values (the report's loader) and the derived indicators (see `derived`), then per
    (title, evaluation date) who holds it and, for districts, their revoked communes. The
    number of statements grows with the distinct sets, years and dates asked for, not with
    the keys. With `summary`, each is counted (`SetEvaluator`), not explained: an
    `EvaluationSummaryOut`; otherwise an `EvaluationOut`."""
    units = await UnitRepository(session).get_many([(w.unit, w.day) for w in wanted])
    sets = await CriteriaSetRepository(session).get_parsed(
        sorted({w.set_code for w, unit in zip(wanted, units, strict=True) if unit is not None})
    )
    out: dict[int, schemas.EvaluationSummaryOut | UnitNotFound | CriteriaSetNotFound] = {}
    found: list[tuple[int, _Wanted, RowMapping, catalog.CriteriaSet]] = []
    for index, (w, unit) in enumerate(zip(wanted, units, strict=True)):
        criteria_set = sets.get(w.set_code)
        if unit is None:
            out[index] = UnitNotFound(w.unit, w.day)
        elif criteria_set is None:
            out[index] = CriteriaSetNotFound(w.set_code)
        else:
            found.append((index, w, unit, criteria_set))
    if not found:
        return [out[index] for index in range(len(wanted))]

    titles = TitleRepository(session)
    profile_rows = await titles.profiles_of(sorted({unit["id"] for _, _, unit, _ in found}))
    # Values: recorded (for a province variant, its national set's and its own, its own
    # first) and derived, by (set, year) then unit id.
    groups: dict[tuple[str, int], tuple[catalog.CriteriaSet, dict[int, RowMapping]]] = {}
    for _, w, unit, criteria_set in found:
        groups.setdefault((w.set_code, w.year), (criteria_set, {}))[1][unit["id"]] = unit
    values: dict[tuple[str, int], dict[int, dict[str, evaluation.Value]]] = {}
    for (set_code, year), (criteria_set, group) in groups.items():
        recorded = await ReportRepository(session).current_values(
            list(group), set_code, year, criteria_set.extends
        )
        derived = await derived_values(session, criteria_set, year, list(group.values()))
        by_unit = values[set_code, year] = {}
        for unit_id in group:
            unit_values: dict[str, evaluation.Value] = {}
            if (columns := recorded.get(unit_id)) is not None:
                bool_codes, bools, number_codes, numbers = columns
                unit_values.update(zip(number_codes, numbers, strict=True))
                unit_values.update(zip(bool_codes, bools, strict=True))
            unit_values.update(derived.get(unit_id, {}))
            by_unit[unit_id] = unit_values
    # Revocation: who holds the set's title, and for districts their communes revoked, by
    # (title, evaluation date).
    holding: dict[tuple[str, date], set[int]] = {}
    below: dict[tuple[str, date], set[int]] = {}
    for _, w, unit, criteria_set in found:
        day = evaluation_date(w.year, unit)
        holding.setdefault((criteria_set.title, day), set()).add(unit["id"])
        if criteria_set.level is catalog.Level.district:
            below.setdefault((_commune_title(criteria_set), day), set()).add(unit["id"])
    holders = {key: await titles.holds(sorted(ids), key[0], key[1]) for key, ids in holding.items()}
    revoked = {
        key: await titles.revoked_below(sorted(ids), "commune", key[0], key[1])
        for key, ids in below.items()
    }

    evaluators: dict[tuple[str, int], SetEvaluator] = {}
    for index, w, unit, criteria_set in found:
        row = profile_rows.get(unit["id"])
        profile = evaluation.UnitProfile(
            region=row["region"] if row else None,
            commune_group=row["commune_group"] if row else None,
            specially_disadvantaged=bool(row and row["specially_disadvantaged"]),
        )
        day = evaluation_date(w.year, unit)
        communes = (
            revoked[_commune_title(criteria_set), day].get(unit["id"], (0, 0))
            if criteria_set.level is catalog.Level.district
            else None
        )
        holds = unit["id"] in holders[criteria_set.title, day]
        unit_values = values[w.set_code, w.year][unit["id"]]
        if summary:
            evaluator = evaluators.get((w.set_code, w.year))
            if evaluator is None:
                evaluator = evaluators[w.set_code, w.year] = SetEvaluator(criteria_set, w.year)
            outcome = evaluator.outcome(profile, unit_values)
            statuses = _Statuses(
                tuple(
                    _Status(c.number, met)
                    for c, met in zip(criteria_set.criteria, outcome.criteria, strict=True)
                )
            )
            revocation = _revocation(criteria_set, statuses, holds, communes)
            out[index] = schemas.EvaluationSummaryOut(
                **_summary_fields(unit, w.set_code, w.year, profile, outcome, revocation)
            )
            continue
        result = evaluation.evaluate(
            criteria_set, profile, w.year, unit_values, basic_rule=basic_rule
        )
        revocation = _revocation(criteria_set, result, holds, communes)
        out[index] = _evaluation_out(unit, w.set_code, w.year, profile, result, revocation)
    return [out[index] for index in range(len(wanted))]


async def evaluate_unit(
    session: AsyncSession,
    code: str,
    set_code: str,
    year: int,
    as_of: date | None,
    basic_rule: evaluation.BasicallyMetRule | None = None,
) -> schemas.EvaluationOut:
    """The unit against the set for the year, explained indicator by indicator.

    Derived indicators (shares of communes holding a title…) are computed from the recognised
    titles this service holds (see `derived`)."""
    wanted = _Wanted(code, set_code, year, as_of or default_as_of(year))
    [result] = await _evaluations(session, [wanted], basic_rule)
    if isinstance(result, Exception):
        raise result
    assert isinstance(result, schemas.EvaluationOut)  # explained: not a summary
    return result


async def lookup_evaluations(
    session: AsyncSession, keys: list[schemas.EvaluationKey], *, summary: bool = False
) -> list[schemas.EvaluationSummaryOut | None]:
    """Evaluations for many (unit, set, year) keys, in key order; unknown ones are null;
    explained (`EvaluationOut`) or, with `summary`, counted only (`EvaluationSummaryOut`).

    Set-wise (see `_evaluations`): a page of units, or a whole district's, costs a few
    statements, not a few per key."""
    wanted = [_Wanted(k.unit, k.set, k.year, k.as_of or default_as_of(k.year)) for k in keys]
    return [
        None if isinstance(result, Exception) else result
        for result in await _evaluations(session, wanted, summary=summary)
    ]
