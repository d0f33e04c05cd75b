"""The per-request GraphQL context: the service clients and one DataLoader per access pattern."""

from __future__ import annotations

from datetime import date
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from services.gateway.clients import JSON, ChildrenKey, EvaluationKey, FundingKey, Upstreams
from shared.auth import Principal

UnitKey = tuple[str, date]


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
