"""GraphQL types of the public contract (contract.md), resolved through the DataLoaders."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import strawberry
from strawberry.types import Info

from services.gateway.clients import JSON, ChildrenKey, EvaluationKey, FundingKey
from services.gateway.context import Context
from services.gateway.errors import bad_input
from services.gateway.prefetch import (
    EVALUATION_DETAIL,
    FUNDING_DETAIL,
    Pending,
    evaluation_key,
    funding_key,
    prefetch,
    selects,
)

if TYPE_CHECKING:
    from services.gateway.appraisal_types import Dossier, Recognition
    from services.gateway.criteria_types import CriteriaReport, Evaluation, Target
    from services.gateway.funding_types import FundingSummary

MAX_FIRST = 1000
DEFAULT_FIRST = 50  # contract.md: `first: Int` (nullable); null asks for the default page
UNIT_CODE = re.compile(r"^(\d{2}|\d{3}|\d{5}|\d{5}-[A-Za-z0-9]{1,20})$")


@strawberry.enum(description="Cấp hành chính — administrative level")
class UnitLevel(Enum):
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"
    VILLAGE = "village"


def asks_for(info: Info[Context, None], *names: str) -> bool:
    """Whether the query selects one of `names` directly under the field being resolved
    (through fragments too), so that a resolver fetches the details only when wanted.

    Read off the query's syntax tree and remembered per field node: a dashboard resolves the
    same field for a thousand units (`info.selected_fields` would convert the tree for each)."""
    raw = info._raw_info
    memo = info.context.selection_memo
    key = (tuple(id(node) for node in raw.field_nodes), names)
    found = memo.get(key)
    if found is None:
        found = memo[key] = any(
            selects(node.selection_set, names, raw.fragments) for node in raw.field_nodes
        )
    return bool(found)


T = TypeVar("T")
_NOTHING: Any = object()  # nothing prefetched for a key (None is an answer: no evaluation)


async def _later(answer: Pending, convert: Callable[[Any], T]) -> T:
    return convert(await answer.wait())


def _evaluation_of(item: JSON | None) -> Evaluation | None:
    from services.gateway.criteria_types import Evaluation

    return Evaluation.from_json(item) if item is not None else None


# by upstream value: a dict lookup is thirty times cheaper than UnitLevel(value), once per node
LEVELS = {level.value: level for level in UnitLevel}


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class UnitEdge:
    cursor: str
    node: Unit


@strawberry.type
class UnitConnection:
    edges: list[UnitEdge]
    page_info: PageInfo
    total_count: int

    @strawberry.field(description="The nodes of `edges`, for clients that do not need cursors")
    def nodes(self) -> list[Unit]:
        return [e.node for e in self.edges]

    @classmethod
    def from_page(cls, page: JSON, as_of: date, *, after: str | None) -> UnitConnection:
        edges = [
            UnitEdge(cursor=cursor, node=Unit.from_json(item, as_of))
            for item, cursor in zip(page["items"], page["cursors"], strict=True)
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page["next_cursor"] is not None,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page["total_count"],
        )


def _clamp(as_of: date, valid_from: date | None, valid_to: date | None) -> date:
    """A date on which the unit is valid: the asked one when it is, else the nearest bound."""
    if valid_from is not None and as_of < valid_from:
        return valid_from
    if valid_to is not None and as_of > valid_to:
        return valid_to
    return as_of


def check_code(code: str, field: str = "code") -> str:
    if not UNIT_CODE.match(code):
        raise bad_input(
            field,
            f"Mã đơn vị '{code}' không hợp lệ (tỉnh 2 chữ số, huyện 3, xã 5).",
            f"Unit code '{code}' is malformed (province 2 digits, district 3, commune 5).",
        )
    return code


def check_first(first: int | None) -> int:
    if first is None:
        return DEFAULT_FIRST
    if not 0 <= first <= MAX_FIRST:
        raise bad_input(
            "first",
            f"'first' phải từ 0 đến {MAX_FIRST}.",
            f"'first' must be between 0 and {MAX_FIRST}.",
        )
    return first


@strawberry.type(description="Đơn vị hành chính — an administrative unit as valid on a date")
class Unit:
    code: str
    name: str
    short_name: str
    type_name: str = strawberry.field(description="Tỉnh, Thành phố, Huyện, Xã, Phường…")
    level: UnitLevel
    edition: str = strawberry.field(description="`legacy` (until 2025-06-30) or `2025`")
    valid_from: date | None
    valid_to: date | None
    ref_date: strawberry.Private[date]
    parent_code: strawberry.Private[str | None]
    # answers loaded for the whole page this unit came in (services.gateway.prefetch)
    prefetched: strawberry.Private[dict[tuple[Any, ...], Any] | None] = None

    @classmethod
    def from_json(cls, item: JSON, as_of: date) -> Unit:
        valid_from = date.fromisoformat(item["valid_from"]) if item["valid_from"] else None
        valid_to = date.fromisoformat(item["valid_to"]) if item["valid_to"] else None
        return cls(
            code=item["code"],
            name=item["name"],
            short_name=item["short_name"],
            type_name=item["type_name"],
            level=LEVELS[item["level"]],
            edition=item["edition"],
            valid_from=valid_from,
            valid_to=valid_to,
            ref_date=_clamp(as_of, valid_from, valid_to),
            parent_code=item["parent_code"],
        )

    @strawberry.field
    async def parent(self, info: Info[Context, None]) -> Unit | None:
        if self.parent_code is None:
            return None
        item = await info.context.loaders.unit.load((self.parent_code, self.ref_date))
        return Unit.from_json(item, self.ref_date) if item is not None else None

    @strawberry.field(
        description="Units below this one: the next level down, or every unit of `level` below"
    )
    async def children(
        self,
        info: Info[Context, None],
        level: UnitLevel | None = None,
        first: int | None = DEFAULT_FIRST,
        after: str | None = None,
    ) -> UnitConnection:
        key = ChildrenKey(
            code=self.code,
            as_of=self.ref_date,
            level=level.value if level else None,
            limit=check_first(first),
            cursor=after,
        )
        page = await info.context.loaders.children.load(key)
        if page is None:  # the unit itself vanished between the two calls
            page = {"items": [], "cursors": [], "next_cursor": None, "total_count": 0}
        connection = UnitConnection.from_page(page, self.ref_date, after=after)
        await prefetch(info, [edge.node for edge in connection.edges])
        return connection

    async def _lineage(self, info: Info[Context, None], direction: str) -> list[Unit]:
        lineage = await info.context.loaders.lineage.load((self.code, self.ref_date))
        if lineage is None:
            return []
        return [Unit.from_json(link["unit"], self.ref_date) for link in lineage[direction]]

    def _prefetched(self, key: tuple[Any, ...]) -> Any:
        """The answer loaded with the page for `key` (raising its error), its `Pending` while
        it is on its way, or `_NOTHING` when nothing was prefetched for it."""
        answer = _NOTHING if self.prefetched is None else self.prefetched.get(key, _NOTHING)
        if isinstance(answer, Pending) and answer.done():
            return answer.result()
        return answer

    # Sync resolvers: the answer prefetched with the page, or the loader's awaitable (which
    # the executor awaits) when none was; see services.gateway.prefetch.
    @strawberry.field(description="This unit against a criteria set for a year, explained")
    def evaluation(
        self, info: Info[Context, None], criteria_set: str, year: int
    ) -> Annotated[Evaluation, strawberry.lazy("services.gateway.criteria_types")] | None:
        item = self._prefetched(evaluation_key(criteria_set, year))
        if item is _NOTHING:
            return cast("Evaluation | None", self._load_evaluation(info, criteria_set, year))
        if isinstance(item, Pending):
            return cast("Evaluation | None", _later(item, _evaluation_of))
        return _evaluation_of(item)

    async def _load_evaluation(
        self, info: Info[Context, None], criteria_set: str, year: int
    ) -> Evaluation | None:
        if not 2010 <= year <= 2035:
            raise bad_input("year", "Năm phải từ 2010 đến 2035.", "year must be 2010–2035.")
        full = asks_for(info, *EVALUATION_DETAIL)
        key = EvaluationKey(self.code, self.ref_date, criteria_set, year, full)
        return _evaluation_of(await info.context.loaders.evaluation.load(key))

    @strawberry.field(description="All units below this one against a set: the district report")
    async def criteria_report(
        self, info: Info[Context, None], criteria_set: str, year: int
    ) -> Annotated[CriteriaReport, strawberry.lazy("services.gateway.criteria_types")]:
        from services.gateway.criteria_types import CriteriaReport

        if not 2010 <= year <= 2035:
            raise bad_input("year", "Năm phải từ 2010 đến 2035.", "year must be 2010–2035.")
        item = await info.context.loaders.criteria_report.load(
            (self.code, self.ref_date, criteria_set, year)
        )
        return CriteriaReport.from_json(item)  # a failed report raised in `load`

    @strawberry.field(description="Yearly targets of the unit with their progress")
    async def targets(
        self, info: Info[Context, None], year: int
    ) -> list[Annotated[Target, strawberry.lazy("services.gateway.criteria_types")]]:
        from services.gateway.criteria_types import Target

        if not 2010 <= year <= 2035:
            raise bad_input("year", "Năm phải từ 2010 đến 2035.", "year must be 2010–2035.")
        items = await info.context.loaders.targets.load((self.code, self.ref_date, year))
        return [Target.from_json(t) for t in items or []]

    @strawberry.field(
        description="Funding mobilised by this unit and everything below it: in `year`, or from "
        "`from` (a month's first day) to `to` (a month's last), or since 2021 when none is given. "
        "Null only with an error at this path (e.g. the funding service is unavailable), so the "
        "rest of the unit still answers"
    )
    def funding(
        self,
        info: Info[Context, None],
        year: int | None = None,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        to: date | None = None,
    ) -> Annotated[FundingSummary, strawberry.lazy("services.gateway.funding_types")] | None:
        from services.gateway.funding_types import FundingSummary

        item = self._prefetched(funding_key(year, from_, to))
        if item is _NOTHING:
            return cast("FundingSummary | None", self._load_funding(info, year, from_, to))
        if isinstance(item, Pending):
            return cast("FundingSummary | None", _later(item, FundingSummary.from_json))
        return FundingSummary.from_json(item)

    async def _load_funding(
        self, info: Info[Context, None], year: int | None, from_: date | None, to: date | None
    ) -> FundingSummary:
        from services.gateway.funding_types import FundingSummary

        full = asks_for(info, *FUNDING_DETAIL)
        key = FundingKey(self.code, self.ref_date, year, from_, to, full)
        return FundingSummary.from_json(await info.context.loaders.funding.load(key))

    @strawberry.field(
        description="Recognition dossiers opened on this unit, oldest first. Null only with an "
        "error at this path (e.g. the appraisal service is unavailable)"
    )
    async def dossiers(
        self, info: Info[Context, None]
    ) -> list[Annotated[Dossier, strawberry.lazy("services.gateway.appraisal_types")]] | None:
        from services.gateway.appraisal_types import unit_dossiers

        return await unit_dossiers(info, self)

    @strawberry.field(description="Granted and revoked titles, with their decisions")
    async def recognitions(
        self, info: Info[Context, None]
    ) -> list[Annotated[Recognition, strawberry.lazy("services.gateway.appraisal_types")]]:
        from services.gateway.appraisal_types import unit_recognitions

        return await unit_recognitions(info, self)

    @strawberry.field(description="The units this one was formed from (2025 reorganisation)")
    async def predecessors(self, info: Info[Context, None]) -> list[Unit]:
        return await self._lineage(info, "predecessors")

    @strawberry.field(description="The units this one became (2025 reorganisation)")
    async def successors(self, info: Info[Context, None]) -> list[Unit]:
        return await self._lineage(info, "successors")


DateArg = Annotated[
    date | None, strawberry.argument(description="The date the unit must be valid on (today)")
]
