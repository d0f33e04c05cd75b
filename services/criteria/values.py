"""Indicator values, unit profiles and evaluation: the rules around the pure engine."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria import schemas
from services.criteria.derived import derived_values, evaluation_date
from services.criteria.domain import catalog, evaluation
from services.criteria.errors import CriteriaSetNotFound, UnitNotFound
from services.criteria.repository import CriteriaSetRepository, UnitRepository, ValueRepository
from services.criteria.repository.titles import TitleRepository
from shared.clock import today
from shared.errors import FieldError, InvalidInput


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
    session: AsyncSession, code: str, set_code: str, year: int, indicator: str, as_of: date
) -> list[schemas.ValueOut]:
    unit = await _unit(session, code, as_of)
    rows = await ValueRepository(session).history(unit["id"], set_code, year, indicator)
    return [_value_out(r) for r in rows]


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


async def _revocation(
    session: AsyncSession,
    unit: RowMapping,
    criteria_set: catalog.CriteriaSet,
    year: int,
    result: evaluation.Evaluation,
) -> schemas.RevocationOut:
    """QĐ 18/2022's bands for communes; for districts also the share of revoked communes."""
    repo = TitleRepository(session)
    day = evaluation_date(year, unit)
    holds = unit["id"] in await repo.holds([unit["id"]], criteria_set.title, day)
    keys = evaluation.key_criteria(criteria_set)
    if criteria_set.level is catalog.Level.district:
        commune_title = next(
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
        total, revoked = await repo.revoked_below(unit["id"], "commune", commune_title, day)
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
    day = as_of or default_as_of(year)
    unit = await _unit(session, code, day)
    [set_row] = await CriteriaSetRepository(session).get_many([set_code])
    if set_row is None:
        raise CriteriaSetNotFound(set_code)
    criteria_set = catalog.CriteriaSet.model_validate(set_row["definition"])
    repo = ValueRepository(session)
    profile_row = await repo.get_profile(unit["id"])
    profile = evaluation.UnitProfile(
        region=profile_row["region"] if profile_row else None,
        commune_group=profile_row["commune_group"] if profile_row else None,
        specially_disadvantaged=bool(profile_row and profile_row["specially_disadvantaged"]),
    )
    # A province variant reads the values recorded against its national set, and those of
    # its own added indicators (recorded against the variant's code).
    values: dict[str, evaluation.Value] = {}
    for code_of_values in filter(None, [criteria_set.extends, set_code]):
        current = await repo.current_values(unit["id"], code_of_values, year)
        values |= {r["indicator_code"]: _value(r) for r in current}
    derived = await derived_values(session, criteria_set, year, [unit])
    values.update(derived.get(unit["id"], {}))
    result = evaluation.evaluate(criteria_set, profile, year, values, basic_rule=basic_rule)
    revocation = await _revocation(session, unit, criteria_set, year, result)
    return schemas.EvaluationOut(
        unit=schemas.UnitOut.model_validate(unit),
        criteria_set=set_code,
        year=year,
        profile=schemas.ProfileIn(
            region=profile.region,
            commune_group=profile.commune_group,
            specially_disadvantaged=profile.specially_disadvantaged,
        ),
        criteria_met=result.criteria_met,
        criteria_not_met=result.criteria_not_met,
        criteria_unknown=result.criteria_unknown,
        criteria_total=result.criteria_total,
        indicators_met=result.indicators_met,
        indicators_missing=result.indicators_missing,
        indicators_total=result.indicators_total,
        meets_standard=result.meets_standard,
        revocation_risk=revocation.holds_title and revocation.at_risk,
        revocation=revocation,
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


async def lookup_evaluations(
    session: AsyncSession, keys: list[schemas.EvaluationKey]
) -> list[schemas.EvaluationOut | None]:
    """Evaluations for many (unit, set, year) keys, in key order; unknown ones are null.

    One evaluation after another: fine for a page of units; the set-wise path for whole
    provinces is the criteria report."""
    out: list[schemas.EvaluationOut | None] = []
    for key in keys:
        try:
            out.append(await evaluate_unit(session, key.unit, key.set, key.year, key.as_of))
        except (UnitNotFound, CriteriaSetNotFound):
            out.append(None)
    return out
