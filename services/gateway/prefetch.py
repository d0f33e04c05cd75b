"""Prefetching the per-unit fields of a page of units, so that a page's nodes answer them
without an awaitable each.

A dashboard asks `evaluation(…)` and `funding(…)` of each of a thousand units of a page. As
async resolvers each costs the executor a coroutine, a task and a gather: about 70 ms a
thousand units, more than the upstream work the DataLoader batches (measured on the bench's
1,073 communes, see bench/dashboard.py). So the field returning the page (`children`,
`units`) reads off the query which of those fields its nodes select and with which
arguments, loads them for every node at once through the same DataLoaders (one batched call
per service, the services asked concurrently), and keeps each node's answer — or the error
that fails only that node's field — on the node. The node's resolver then answers from it
synchronously, and falls back to the loader when nothing was prefetched (a unit reached
otherwise, or arguments only known at run time)."""

from __future__ import annotations

import asyncio
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.execution.values import get_argument_values
from strawberry.types import Info

from services.gateway.clients import EvaluationKey, FundingKey
from services.gateway.context import Context

if TYPE_CHECKING:
    from services.gateway.types import Unit

# the fields of FundingSummary that only the full summary holds (the rest: its totals)
FUNDING_DETAIL: tuple[str, ...] = ("bySource", "byGroup", "inKind", "summaryVi", "summaryParts")
EVALUATION_DETAIL: tuple[str, ...] = ("criteria",)
YEARS = range(2010, 2036)  # the years an evaluation may be asked for (else: the field's error)
PREFETCHED = ("evaluation", "funding")


def fields_named(
    selection_set: SelectionSetNode | None,
    names: Container[str] | None,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> Iterator[FieldNode]:
    """The field nodes of `selection_set` with one of `names` (None: all), through fragments."""
    if selection_set is None:
        return
    for node in selection_set.selections:
        if isinstance(node, FieldNode):
            if names is None or node.name.value in names:
                yield node
        elif isinstance(node, InlineFragmentNode):
            yield from fields_named(node.selection_set, names, fragments)
        elif isinstance(node, FragmentSpreadNode):
            fragment = fragments.get(node.name.value)
            if fragment is not None:
                yield from fields_named(fragment.selection_set, names, fragments)


def selects(
    selection_set: SelectionSetNode | None,
    names: Container[str],
    fragments: Mapping[str, FragmentDefinitionNode],
) -> bool:
    return next(fields_named(selection_set, names, fragments), None) is not None


@dataclass(frozen=True, slots=True)
class Wanted:
    """One per-unit field the nodes select, by its arguments: `key` is what the node's
    resolver looks up (see `evaluation_key` and `funding_key`), `full` whether some selection
    of it wants the details."""

    field: str
    key: tuple[Any, ...]
    full: bool


def evaluation_key(criteria_set: str, year: int) -> tuple[Any, ...]:
    return ("evaluation", criteria_set, year)


def funding_key(year: int | None, date_from: Any, date_to: Any) -> tuple[Any, ...]:
    return ("funding", year, date_from, date_to)


def _plain(unit_type: GraphQLObjectType, name: str) -> bool:
    """Whether the field is answered from the node itself, without a resolver (and so
    without a call to a service)."""
    if name == "__typename":
        return True
    field = unit_type.fields.get(name)
    definition = field.extensions.get("strawberry-definition") if field else None
    return definition is not None and definition.base_resolver is None


@dataclass(frozen=True, slots=True)
class Plan:
    """What the nodes of a page select: the fields to prefetch, and whether they select
    nothing else that calls a service (then the page waits for its prefetch)."""

    wanted: tuple[Wanted, ...]
    only_these: bool


def _plan(info: Info[Context, None]) -> Plan:
    """What the nodes of the page being resolved select, remembered per field node."""
    raw = info._raw_info
    memo = info.context.selection_memo
    memo_key = (tuple(id(node) for node in raw.field_nodes), ("prefetch",))
    plan = memo.get(memo_key)
    if plan is None:
        plan = memo[memo_key] = _read_plan(info)
    assert isinstance(plan, Plan)
    return plan


def _read_plan(info: Info[Context, None]) -> Plan:
    raw = info._raw_info
    fragments = raw.fragments
    unit_type = raw.schema.get_type("Unit")
    assert isinstance(unit_type, GraphQLObjectType)
    # the unit selections: `nodes { … }` and `edges { node { … } }` of the connection
    units: list[FieldNode] = []
    for connection in raw.field_nodes:
        units += fields_named(connection.selection_set, ("nodes",), fragments)
        for edge in fields_named(connection.selection_set, ("edges",), fragments):
            units += fields_named(edge.selection_set, ("node",), fragments)
    wanted: dict[tuple[Any, ...], bool] = {}
    only_these = True
    for unit in units:
        for node in fields_named(unit.selection_set, None, fragments):
            name = node.name.value
            if name not in PREFETCHED:
                only_these = only_these and _plain(unit_type, name)
                continue
            definition = unit_type.fields[name]
            try:
                args = get_argument_values(definition, node, raw.variable_values)
            except Exception:
                continue
            if name == "evaluation":
                if args.get("year") not in YEARS:
                    continue  # the resolver answers the error
                key = evaluation_key(args["criteriaSet"], args["year"])
                detail = EVALUATION_DETAIL
            else:
                key = funding_key(args.get("year"), args.get("from"), args.get("to"))
                detail = FUNDING_DETAIL
            full = selects(node.selection_set, detail, fragments)
            wanted[key] = wanted.get(key, False) or full
    return Plan(tuple(Wanted(key[0], key, full) for key, full in wanted.items()), only_these)


class Pending:
    """One node's answer within its page's batch: the page's future and the node's place."""

    __slots__ = ("future", "index")

    def __init__(self, future: asyncio.Future[list[Any]], index: int) -> None:
        self.future = future
        self.index = index

    def done(self) -> bool:
        return self.future.done()

    def result(self) -> Any:
        """The node's answer, raising its error (the page's, or its own key's)."""
        answer = self.future.result()[self.index]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def wait(self) -> Any:
        await self.future  # raises the page's error
        return self.result()


async def prefetch(info: Info[Context, None], units: list[Unit]) -> None:
    """Ask for what the page's nodes select of `evaluation` and `funding`, for all of them at
    once, and keep each node's pending answer on it.

    A page is one key of the page loaders (`Loaders.evaluation_pages`, `funding_pages`): the
    pages of one level (a province's districts' communes) still go in one upstream call per
    service, and a page costs one future, not one a node.

    When the nodes select nothing else that calls a service, wait for the answers here: the
    nodes then resolve synchronously. Otherwise do not wait, so that what the nodes ask of
    other services (their children, their dossiers…) goes out at the same time; a node's
    resolver then awaits its answer."""
    plan = _plan(info)
    if not plan.wanted or not units:
        return
    loaders = info.context.loaders
    pending: list[Any] = []  # the loaders' futures (typed as awaitables)
    for wanted in plan.wanted:
        if wanted.field == "evaluation":
            _, criteria_set, year = wanted.key
            page: Any = loaders.evaluation_pages.load(
                tuple(
                    EvaluationKey(u.code, u.ref_date, criteria_set, year, wanted.full)
                    for u in units
                )
            )
        else:
            _, year, date_from, date_to = wanted.key
            page = loaders.funding_pages.load(
                tuple(
                    FundingKey(u.code, u.ref_date, year, date_from, date_to, wanted.full)
                    for u in units
                )
            )
        for index, unit in enumerate(units):
            if unit.prefetched is None:
                unit.prefetched = {}
            unit.prefetched[wanted.key] = Pending(page, index)
        pending.append(page)
    if plan.only_these:
        await asyncio.wait(pending)
