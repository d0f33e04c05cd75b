"""GraphQL types of the public contract (contract.md), resolved through the DataLoaders."""

from __future__ import annotations

import re
from datetime import date
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode
from strawberry.types import Info

from services.gateway.clients import JSON, ChildrenKey, EvaluationKey, FundingKey
from services.gateway.context import Context
from services.gateway.errors import bad_input

if TYPE_CHECKING:
    from services.gateway.appraisal_types import Dossier, Recognition
    from services.gateway.criteria_types import CriteriaReport, Evaluation, Target
    from services.gateway.funding_types import FundingSummary

MAX_FIRST = 1000
# the fields of FundingSummary that only the full summary holds (the rest: its totals)
FUNDING_DETAIL = ("bySource", "byGroup", "inKind", "summaryVi", "summaryParts")
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
        fragments = raw.fragments

        def within(selection_set: SelectionSetNode | None) -> bool:
            if selection_set is None:
                return False
            for node in selection_set.selections:
                if isinstance(node, FieldNode):
                    if node.name.value in names:
                        return True
                elif isinstance(node, InlineFragmentNode):
                    if within(node.selection_set):
                        return True
                elif isinstance(node, FragmentSpreadNode):
                    fragment = fragments.get(node.name.value)
                    if fragment is not None and within(fragment.selection_set):
                        return True
            return False

        found = memo[key] = any(within(node.selection_set) for node in raw.field_nodes)
    return found


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
        return UnitConnection.from_page(page, self.ref_date, after=after)

    async def _lineage(self, info: Info[Context, None], direction: str) -> list[Unit]:
        lineage = await info.context.loaders.lineage.load((self.code, self.ref_date))
        if lineage is None:
            return []
        return [Unit.from_json(link["unit"], self.ref_date) for link in lineage[direction]]

    @strawberry.field(description="This unit against a criteria set for a year, explained")
    async def evaluation(
        self, info: Info[Context, None], criteria_set: str, year: int
    ) -> Annotated[Evaluation, strawberry.lazy("services.gateway.criteria_types")] | None:
        from services.gateway.criteria_types import Evaluation

        if not 2010 <= year <= 2035:
            raise bad_input("year", "Năm phải từ 2010 đến 2035.", "year must be 2010–2035.")
        key = EvaluationKey(
            self.code, self.ref_date, criteria_set, year, asks_for(info, "criteria")
        )
        item = await info.context.loaders.evaluation.load(key)
        return Evaluation.from_json(item) if item is not None else None

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
    async def funding(
        self,
        info: Info[Context, None],
        year: int | None = None,
        from_: Annotated[date | None, strawberry.argument(name="from")] = None,
        to: date | None = None,
    ) -> Annotated[FundingSummary, strawberry.lazy("services.gateway.funding_types")] | None:
        from services.gateway.funding_types import FundingSummary

        item = await info.context.loaders.funding.load(
            FundingKey(self.code, self.ref_date, year, from_, to, asks_for(info, *FUNDING_DETAIL))
        )
        return FundingSummary.from_json(item)  # a failed summary raised in `load`

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
