"""Business rules of the criteria service. Takes the session; flushes, never commits."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.criteria import schemas
from services.criteria.domain import catalog
from services.criteria.errors import (
    CriteriaSetNotFound,
    InvalidValidity,
    NotACommune,
    UnitExists,
    UnitNotFound,
)
from services.criteria.models import LEVEL_ORDER, UnitLevel
from services.criteria.reference.admin_units import DATASET, build_national_units, national_checksum
from services.criteria.reference.catalog import DATASET as CATALOG_DATASET
from services.criteria.reference.catalog import catalog_checksum, load_catalog
from services.criteria.repository import CriteriaSetRepository, UnitRepository
from shared.errors import FieldError, InvalidInput
from shared.pagination import decode_cursor, encode_cursor, invalid_cursor
from shared.vn import fold

log = logging.getLogger("ntm.criteria")


def _unit(row: RowMapping) -> schemas.UnitOut:
    return schemas.UnitOut.model_validate(row)


def _after(cursor: str | None) -> tuple[int, str] | None:
    key = decode_cursor(cursor)
    if key is None:
        return None
    # a cursor is client input: only sort keys this service can have made are accepted
    if (
        not isinstance(key, list)
        or len(key) != 2
        or type(key[0]) is not int
        or key[0] not in LEVEL_ORDER.values()
        or not isinstance(key[1], str)
        or len(key[1]) > 64
    ):
        raise invalid_cursor()
    return key[0], key[1]


def _page(rows: list[RowMapping], total: int, limit: int) -> schemas.UnitPage:
    items = rows[:limit]
    cursors = [encode_cursor([r["level_order"], r["code"]]) for r in items]
    more = len(rows) > limit
    return schemas.UnitPage(
        items=[_unit(r) for r in items],
        cursors=cursors,
        next_cursor=cursors[-1] if more and cursors else None,
        total_count=total,
    )


async def get_unit(session: AsyncSession, code: str, as_of: date) -> schemas.UnitOut:
    row = await UnitRepository(session).get(code, as_of)
    if row is None:
        raise UnitNotFound(code, as_of)
    return _unit(row)


async def list_units(
    session: AsyncSession,
    *,
    as_of: date,
    parent_code: str | None = None,
    level: UnitLevel | None = None,
    search: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> schemas.UnitPage:
    """Units valid on `as_of`. Under `parent_code`: its direct children, or with `level` every
    unit of that level below it. `search` ignores diacritics and case."""
    repo = UnitRepository(session)
    parent = None
    if parent_code is not None:
        parent = await repo.get(parent_code, as_of)
        if parent is None:
            raise UnitNotFound(parent_code, as_of)
    rows, total = await repo.list_page(
        as_of=as_of,
        parent=parent,
        level=level,
        search_key=fold(search) if search else None,
        after=_after(cursor),
        limit=limit,
    )
    return _page(rows, total, limit)


async def lookup_units(
    session: AsyncSession, keys: Sequence[schemas.UnitKey]
) -> list[schemas.UnitOut | None]:
    rows = await UnitRepository(session).get_many([(k.code, k.as_of) for k in keys])
    return [_unit(r) if r is not None else None for r in rows]


async def lookup_children(
    session: AsyncSession, keys: Sequence[schemas.ChildrenKey]
) -> list[schemas.UnitPage | None]:
    """Pages of children for many parents: two statements whatever the number of keys."""
    repo = UnitRepository(session)
    parents = await repo.get_many([(k.code, k.as_of) for k in keys])
    batch = [
        (i, parent["path"], k.as_of, k.level, _after(k.cursor), k.limit)
        for i, (k, parent) in enumerate(zip(keys, parents, strict=True))
        if parent is not None
    ]
    pages = await repo.children_pages(batch)
    out: list[schemas.UnitPage | None] = []
    for i, k in enumerate(keys):
        if i in pages:
            rows, total = pages[i]
            out.append(_page(rows, total, k.limit))
        else:
            out.append(None)
    return out


async def lookup_lineage(
    session: AsyncSession, keys: Sequence[schemas.UnitKey]
) -> list[schemas.LineageOut | None]:
    repo = UnitRepository(session)
    units = await repo.get_many([(k.code, k.as_of) for k in keys])
    links = await repo.lineage([u["id"] for u in units if u is not None])
    by_anchor: dict[tuple[int, str], list[schemas.LineageLink]] = defaultdict(list)
    for link in links:
        by_anchor[(link["anchor_id"], link["direction"])].append(
            schemas.LineageLink(
                unit=_unit(link), is_primary=link["is_primary"], effective_on=link["effective_on"]
            )
        )
    return [
        schemas.LineageOut(
            unit=_unit(u),
            predecessors=by_anchor.get((u["id"], "predecessor"), []),
            successors=by_anchor.get((u["id"], "successor"), []),
        )
        if u is not None
        else None
        for u in units
    ]


async def get_lineage(session: AsyncSession, code: str, as_of: date) -> schemas.LineageOut:
    [lineage] = await lookup_lineage(session, [schemas.UnitKey(code=code, as_of=as_of)])
    if lineage is None:
        raise UnitNotFound(code, as_of)
    return lineage


async def create_village(
    session: AsyncSession, commune_code: str, as_of: date, body: schemas.VillageIn
) -> tuple[schemas.UnitOut, bool]:
    """Add a village under the commune valid on `as_of`. Returns (unit, created); sending the
    same village again returns it unchanged, another name under the same code is a conflict."""
    repo = UnitRepository(session)
    parent = await repo.get(commune_code, as_of)
    if parent is None:
        raise UnitNotFound(commune_code, as_of)
    if parent["level"] != UnitLevel.commune:
        raise NotACommune(commune_code)
    valid_from = body.valid_from or parent["valid_from"]
    if valid_from is not None and (
        (parent["valid_from"] is not None and valid_from < parent["valid_from"])
        or (parent["valid_to"] is not None and valid_from > parent["valid_to"])
    ):
        raise InvalidValidity()
    code = f"{commune_code}-{body.code}"
    existing = await repo.get_in_edition(parent["edition"], code)
    if existing is not None:
        if existing["stored_name"] == body.name:
            return _unit(existing), False
        raise UnitExists(code)
    try:
        async with session.begin_nested():
            await repo.insert_village(
                parent=parent,
                code=code,
                name=body.name,
                short_name=body.name,
                search_key=fold(body.name),
                valid_from=valid_from,
            )
    except IntegrityError as exc:
        # a concurrent request created it first: the same village is a replay, not a conflict
        raced = await repo.get_in_edition(parent["edition"], code)
        if raced is not None and raced["stored_name"] == body.name:
            return _unit(raced), False
        raise UnitExists(code) from exc
    created = await repo.get_in_edition(parent["edition"], code)
    assert created is not None
    return _unit(created), True


async def load_reference_data(
    session: AsyncSession, *, force: bool = False
) -> schemas.ReferenceLoadOut:
    """Load the national administrative units if this version is not loaded yet."""
    repo = UnitRepository(session)
    await repo.lock_reference()
    checksum = national_checksum()
    if not force and await repo.loaded_checksum() == checksum:
        log.info("national administrative units already loaded", extra={"checksum": checksum})
        return schemas.ReferenceLoadOut(dataset=DATASET, checksum=checksum, rows=0, loaded=False)
    data = build_national_units()
    rows = await repo.load_national_units(data)
    log.info("national administrative units loaded", extra={"rows": rows})
    return schemas.ReferenceLoadOut(dataset=DATASET, checksum=checksum, rows=rows, loaded=True)


# --- criteria sets ------------------------------------------------------------------------


def _set_out(row: RowMapping) -> schemas.CriteriaSetOut:
    definition = row["definition"]
    return schemas.CriteriaSetOut.model_validate(
        {
            **{k: v for k, v in row.items() if k != "definition"},
            "groups": definition.get("groups", []),
            "criteria": definition["criteria"],
            "notes": definition.get("notes"),
        }
    )


async def list_criteria_sets(
    session: AsyncSession, *, level: UnitLevel | None, active_on: date | None
) -> list[schemas.CriteriaSetSummary]:
    rows = await CriteriaSetRepository(session).list_sets(
        level=level.value if level else None, active_on=active_on
    )
    return [schemas.CriteriaSetSummary.model_validate(r) for r in rows]


async def lookup_criteria_sets(
    session: AsyncSession, codes: Sequence[str]
) -> list[schemas.CriteriaSetOut | None]:
    rows = await CriteriaSetRepository(session).get_many(codes)
    return [_set_out(r) if r is not None else None for r in rows]


async def get_criteria_set(session: AsyncSession, code: str) -> schemas.CriteriaSetOut:
    [found] = await lookup_criteria_sets(session, [code])
    if found is None:
        raise CriteriaSetNotFound(code)
    return found


async def load_catalog_data(session: AsyncSession, *, force: bool = False) -> int:
    """Load the shipped criteria sets if the files changed since the last load."""
    repo = CriteriaSetRepository(session)
    await UnitRepository(session).lock_reference(CATALOG_DATASET)
    checksum = catalog_checksum()
    if not force and await repo.loaded_checksum(CATALOG_DATASET) == checksum:
        return 0
    sets = load_catalog()
    count = await repo.upsert(sets)
    await repo.record_load(CATALOG_DATASET, checksum, count)
    log.info("criteria catalog loaded", extra={"sets": [s.code for s in sets]})
    return count


async def put_variant(
    session: AsyncSession, base_code: str, province_code: str, spec: catalog.VariantSpec
) -> schemas.CriteriaSetOut:
    """Create or replace a province's variant of a national set (`<base>@<province>`)."""
    repo = CriteriaSetRepository(session)
    [base_row] = await repo.get_many([base_code])
    if base_row is None:
        raise CriteriaSetNotFound(base_code)
    if not await UnitRepository(session).is_province(province_code):
        raise InvalidInput(
            f"'{province_code}' không phải mã tỉnh.",
            f"'{province_code}' is not a province code.",
            code="variant.not_a_province",
            errors=[
                FieldError(
                    field="province",
                    code="variant.not_a_province",
                    message_vi="Mã tỉnh không hợp lệ.",
                    message_en="Not a province code.",
                )
            ],
        )
    base = catalog.CriteriaSet.model_validate(base_row["definition"])
    try:
        variant = catalog.derive_variant(base, province_code, spec)
    except catalog.VariantError as exc:
        raise InvalidInput(
            exc.message_vi,
            exc.message_en,
            code="variant.invalid",
            errors=[
                FieldError(
                    field=exc.field,
                    code="variant.invalid",
                    message_vi=exc.message_vi,
                    message_en=exc.message_en,
                )
            ],
        ) from exc
    await repo.upsert([variant])
    return await get_criteria_set(session, variant.code)
