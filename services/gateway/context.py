"""The per-request GraphQL context: the service clients and one DataLoader per access pattern."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from services.gateway.clients import JSON, ChildrenKey, EvaluationKey, FundingKey, Upstreams
from services.gateway.errors import GatewayError
from shared.auth import Principal

UnitKey = tuple[str, date]


K = TypeVar("K")
V = TypeVar("V")


def by_pages(
    load: Callable[[list[K]], Awaitable[list[V]]],
) -> Callable[[list[tuple[K, ...]]], Awaitable[list[list[V]]]]:
    """A batch function over pages of keys: every page of the batch in one call of `load`,
    answered page by page."""

    async def load_pages(pages: list[tuple[K, ...]]) -> list[list[V]]:
        answers = await load([key for page in pages for key in page])
        out: list[list[V]] = []
        start = 0
        for page in pages:
            out.append(answers[start : start + len(page)])
            start += len(page)
        return out

    return load_pages


class Loaders:
    """Batches every `load` of one tick into one upstream call, answering in key order."""

    def __init__(self, upstreams: Upstreams) -> None:
        criteria = upstreams.criteria
        self.unit: DataLoader[UnitKey, JSON | None] = DataLoader(load_fn=criteria.lookup_units)
        self.children: DataLoader[ChildrenKey, JSON | None] = DataLoader(
            load_fn=criteria.lookup_children
        )
        self.lineage: DataLoader[UnitKey, JSON | None] = DataLoader(load_fn=criteria.lookup_lineage)
        self.criteria_set: DataLoader[str, JSON | None] = DataLoader(
            load_fn=criteria.lookup_criteria_sets
        )
        self.targets: DataLoader[tuple[str, date, int], list[JSON] | None] = DataLoader(
            load_fn=criteria.lookup_targets
        )
        self.criteria_report: DataLoader[tuple[str, date, str, int], JSON] = DataLoader(
            load_fn=criteria.criteria_reports  # a GatewayError in the list fails only its key
        )
        self.evaluation: DataLoader[EvaluationKey, JSON | None] = DataLoader(
            load_fn=criteria.lookup_evaluations
        )
        self.funding: DataLoader[FundingKey, JSON] = DataLoader(
            load_fn=upstreams.funding.lookup_summaries  # a GatewayError fails only its key
        )
        # whole pages of units at once (services.gateway.prefetch): a key is a page's keys
        self.evaluation_pages: DataLoader[tuple[EvaluationKey, ...], list[JSON | None]] = (
            DataLoader(load_fn=by_pages(criteria.lookup_evaluations))
        )
        self.funding_pages: DataLoader[tuple[FundingKey, ...], list[JSON | GatewayError]] = (
            DataLoader(load_fn=by_pages(upstreams.funding.lookup_summaries))
        )
        self.unit_dossiers: DataLoader[str, list[JSON]] = DataLoader(
            load_fn=upstreams.appraisal.lookup_unit_dossiers
        )
        self.recognitions: DataLoader[UnitKey, list[JSON]] = DataLoader(
            load_fn=criteria.unit_titles  # a GatewayError fails only its key
        )


class Context(BaseContext):
    """What every resolver receives as `info.context`."""

    def __init__(self, upstreams: Upstreams, principal: Principal | None = None) -> None:
        super().__init__()
        self.upstreams = upstreams
        self.loaders = Loaders(upstreams)
        self.principal = principal  # None: anonymous (services.gateway.auth)
        # what a field node selects, read once per request (types.asks_for, prefetch)
        self.selection_memo: dict[tuple[tuple[int, ...], tuple[str, ...]], Any] = {}

    def actor_headers(self) -> dict[str, str]:
        """The caller's `Authorization`, for a write made on its behalf (every upstream call
        carries it anyway: `shared.auth.propagate_authorization`)."""
        request = self.request
        value = request.headers.get("authorization") if request is not None else None
        return {"Authorization": value} if value and self.principal is not None else {}
