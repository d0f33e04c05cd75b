"""The per-request GraphQL context: the service clients and one DataLoader per access pattern."""

from __future__ import annotations

from datetime import date

from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from services.gateway.clients import JSON, ChildrenKey, FundingKey, Upstreams

UnitKey = tuple[str, date]
ACTOR_HEADERS = ("X-Role", "X-Unit", "X-Level", "X-Recorded-By")


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
        self.evaluation: DataLoader[tuple[str, date, str, int], JSON | None] = DataLoader(
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

    def __init__(self, upstreams: Upstreams) -> None:
        super().__init__()
        self.upstreams = upstreams
        self.loaders = Loaders(upstreams)

    def actor_headers(self) -> dict[str, str]:
        """The acting person's headers as the gateway received them, to forward to appraisal
        (until auth lands, appraisal learns who acts from these)."""
        request = self.request
        if request is None:
            return {}
        return {h: v for h in ACTOR_HEADERS if (v := request.headers.get(h)) is not None}
