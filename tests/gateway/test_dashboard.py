"""The provincial dashboard through the gateway: every commune of a province with its evaluation
and its funding total, at most one upstream call per service per nesting level, the services
asked concurrently, and the same numbers as the services' own REST endpoints.

Upstream calls are counted by httpx event hooks on the gateway's own upstream clients (the
requests it really sends), not by a stand-in transport."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from services.gateway.app import create_app as create_gateway_app
from shared.settings import Settings
from tests.conftest import DEFAULT_HEADERS

SET = "xa-ntm-2021"
YEAR = 2023
AS_OF = "2023-05-19"
PROVINCE = "38"  # Thanh Hóa, legacy edition: 26 districts, 547 communes on AS_OF
DISTRICT = "395"  # 30 communes
EVAL_FIELDS = "criteriaMet criteriaTotal indicatorsMet indicatorsTotal meetsStandard"

DASHBOARD = f"""{{ unit(code:"{PROVINCE}", asOf:"{AS_OF}") {{ name
  children(level: COMMUNE, first: 1000) {{ totalCount nodes {{ code name
    evaluation(criteriaSet:"{SET}", year:{YEAR}) {{ {EVAL_FIELDS} }}
    funding(year:{YEAR}) {{ total }} }} }} }} }}"""

DISTRICT_DASHBOARD = f"""{{ unit(code:"{DISTRICT}", asOf:"{AS_OF}") {{ name
  children(first: 1000) {{ totalCount nodes {{ code
    evaluation(criteriaSet:"{SET}", year:{YEAR}) {{ {EVAL_FIELDS} }}
    funding(year:{YEAR}) {{ total }} }} }} }} }}"""

# pages no larger than the province needs: the gateway prices a query by its pages multiplied
PROVINCE_DISTRICTS_COMMUNES = f"""{{ unit(code:"{PROVINCE}", asOf:"{AS_OF}") {{ name
  funding(year:{YEAR}) {{ total }}
  children(level: DISTRICT, first: 30) {{ totalCount nodes {{ code name
    funding(year:{YEAR}) {{ total }}
    children(level: COMMUNE, first: 100) {{ totalCount nodes {{ code
      evaluation(criteriaSet:"{SET}", year:{YEAR}) {{ {EVAL_FIELDS} }}
      funding(year:{YEAR}) {{ total }} }} }} }} }} }} }}"""

# a unit, its children and their evaluations and funding: one call per service and level
ONE_UNIT_AND_ITS_CHILDREN = [
    "criteria POST /v1/evaluations/lookup",
    "criteria POST /v1/units/children/lookup",
    "criteria POST /v1/units/lookup",
    "funding POST /v1/summaries/lookup",
]


@dataclass
class Call:
    service: str
    method: str
    path: str
    started: float
    body: Any = None  # the JSON body sent, if any
    ended: float = float("inf")

    @property
    def name(self) -> str:
        return f"{self.service} {self.method} {self.path}"

    def overlaps(self, other: Call) -> bool:
        return self.started < other.ended and other.started < self.ended


@dataclass
class Recorder:
    """The upstream requests of one GraphQL request, with when each was sent and answered."""

    calls: list[Call] = field(default_factory=list)
    open: dict[int, Call] = field(default_factory=dict)

    def attach(self, service: str, client: httpx.AsyncClient) -> None:
        async def on_request(request: httpx.Request) -> None:
            body = orjson.loads(request.content) if request.content else None
            call = Call(service, request.method, request.url.path, time.perf_counter(), body)
            self.calls.append(call)
            self.open[id(request)] = call

        async def on_response(response: httpx.Response) -> None:
            self.open.pop(id(response.request)).ended = time.perf_counter()

        client.event_hooks["request"].append(on_request)
        client.event_hooks["response"].append(on_response)

    def names(self) -> list[str]:
        return sorted(c.name for c in self.calls)

    def all(self, name: str) -> list[Call]:
        """The calls to one endpoint, first sent first."""
        return sorted((c for c in self.calls if c.name == name), key=lambda c: c.started)

    def one(self, name: str) -> Call:
        (call,) = self.all(name)
        return call


@dataclass
class Gateway:
    http: httpx.AsyncClient
    upstream: Recorder

    async def data(self, query: str) -> dict[str, Any]:
        self.upstream.calls.clear()
        response = await self.http.post("/graphql", json={"query": query})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body["errors"]
        assert not self.upstream.open
        result: dict[str, Any] = body["data"]
        return result


@pytest.fixture
async def gateway(
    settings: Settings, criteria_app: FastAPI, funding_app: FastAPI
) -> AsyncIterator[Gateway]:
    app = create_gateway_app(
        settings,
        transports={
            "criteria": httpx.ASGITransport(app=criteria_app),
            "funding": httpx.ASGITransport(app=funding_app),
        },
    )
    recorder = Recorder()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw", headers=DEFAULT_HEADERS
        ) as client,
    ):
        recorder.attach("criteria", app.state.upstreams.criteria.http)
        recorder.attach("funding", app.state.upstreams.funding.http)
        yield Gateway(client, recorder)


# --- the data, recorded through the services' REST APIs --------------------------------------


def _meeting(indicator: dict[str, Any]) -> Any:
    """A value that meets every threshold of the indicator, whatever the commune's region."""
    if indicator["kind"] == "boolean":
        return indicator["thresholds"][0]["value"]
    values = [Decimal(str(t["value"])) for t in indicator["thresholds"]]
    comparator = indicator["comparator"]
    if comparator in ("ge", "gt"):
        return float(max(values) + (1 if comparator == "gt" else 0))
    if comparator in ("le", "lt"):
        return float(max(Decimal(0), min(values) - (1 if comparator == "lt" else 0)))
    return float(values[0])


def _failing(indicator: dict[str, Any], value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if indicator["comparator"] in ("ge", "gt"):
        return 0.0
    return value + 1_000_000.0


async def record_values(criteria: httpx.AsyncClient, communes: list[str]) -> None:
    """Every indicator of the set for each commune: the first meets all of them, each next one
    fails one more criterion and leaves one more indicator unrecorded."""
    response = await criteria.get(f"/v1/criteria-sets/{SET}")
    assert response.status_code == 200, response.text
    indicators = [
        (c["number"], i)
        for c in response.json()["criteria"]
        for i in c["indicators"]
        if i["kind"] != "derived"
    ]
    rows = []
    for n, commune in enumerate(communes):
        recorded = indicators[: len(indicators) - n]
        for number, indicator in recorded:
            value = _meeting(indicator)
            if number <= n:
                value = _failing(indicator, value)
            rows.append({"unit": commune, "set": SET, "year": YEAR, "indicator": indicator["code"],
                         "value": value, "as_of": AS_OF})  # fmt: skip
    response = await criteria.post("/v1/indicator-values", json={"values": rows})
    assert response.status_code == 201, response.text


async def record_transfers(funding: httpx.AsyncClient, units: list[str]) -> None:
    """Receipts over several sources for each unit, a pledge, an in-kind gift and a receipt of
    another year (which the year's total leaves out)."""
    sources = ["NSTW-DT", "NST", "NSX", "DN", "CD-TM"]
    for n, unit in enumerate(units):
        for k in range(n % 3 + 1):
            amount = 100_000_000 * (n + 1) + k * 7_000
            await _post(funding, f"D-{unit}-{k}", unit, sources[(n + k) % 5], amount,
                        date=f"2023-0{k + 1}-15")  # fmt: skip
        await _post(funding, f"D-{unit}-old", unit, "NSH", 9_000_000, date="2022-06-01")
    await _post(funding, "D-pledge", units[0], "DN", 50_000_000, type="pledge")
    await _post(funding, "D-land", units[1], "CD-HV", 36_000_000,
                kind="land", quantity="120", quantity_unit="m2", households=3)  # fmt: skip


async def _post(
    funding: httpx.AsyncClient, external_id: str, unit: str, source: str, amount: int, **more: Any
) -> None:
    body = {"external_id": external_id, "unit": unit, "source": source, "amount": amount,
            "date": "2023-04-01", **more}  # fmt: skip
    response = await funding.post("/v1/transfers", json=body)
    assert response.status_code == 201, response.text


async def communes_of(criteria: httpx.AsyncClient, parent: str) -> list[dict[str, Any]]:
    response = await criteria.get(
        "/v1/units",
        params={"parent_code": parent, "level": "commune", "as_of": AS_OF, "limit": 1000},
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture
async def recorded(criteria: httpx.AsyncClient, funding: httpx.AsyncClient) -> list[str]:
    """Values for six communes of two districts, transfers for them, two more communes and the
    district; returns the communes with values (the first of DISTRICT meets the standard)."""
    own = [u["code"] for u in await communes_of(criteria, DISTRICT)]
    other = next(u for u in await communes_of(criteria, PROVINCE) if u["code"] not in own)
    valued = [*own[:5], other["code"]]
    await record_values(criteria, valued)
    await record_transfers(funding, [*valued, own[10], own[20], DISTRICT])
    return valued


# --- what the services answer directly -----------------------------------------------------


async def rest_evaluation(criteria: httpx.AsyncClient, code: str) -> dict[str, Any]:
    response = await criteria.get(
        f"/v1/units/{code}/evaluation", params={"set": SET, "year": YEAR, "as_of": AS_OF}
    )
    assert response.status_code == 200, response.text
    e = response.json()
    return {"criteriaMet": e["criteria_met"], "criteriaTotal": e["criteria_total"],
            "indicatorsMet": e["indicators_met"], "indicatorsTotal": e["indicators_total"],
            "meetsStandard": e["meets_standard"]}  # fmt: skip


async def rest_total(funding: httpx.AsyncClient, code: str) -> int:
    response = await funding.get(f"/v1/units/{code}/report", params={"year": YEAR, "as_of": AS_OF})
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


# --- the tests -----------------------------------------------------------------------------


class TestProvincialDashboard:
    async def test_every_commune_of_the_province_costs_one_call_per_service_per_level(
        self, gateway: Gateway, recorded: list[str]
    ) -> None:
        data = await gateway.data(DASHBOARD)
        children = data["unit"]["children"]
        assert children["totalCount"] == len(children["nodes"]) == 547
        assert gateway.upstream.names() == ONE_UNIT_AND_ITS_CHILDREN
        # the communes' evaluations and funding are asked at once, not one after the other
        evaluations = gateway.upstream.one("criteria POST /v1/evaluations/lookup")
        summaries = gateway.upstream.one("funding POST /v1/summaries/lookup")
        assert evaluations.overlaps(summaries)
        # counts only: the criteria service is not asked to explain 547 evaluations
        assert evaluations.body["detail"] == "summary"
        assert len(evaluations.body["keys"]) == 547
        assert summaries.body["detail"] == "totals"  # nor the funding service for breakdowns

    async def test_the_explanation_is_fetched_only_when_asked_in_the_same_one_call(
        self, gateway: Gateway, recorded: list[str], criteria: httpx.AsyncClient
    ) -> None:
        explained = f"""{{ unit(code:"{DISTRICT}", asOf:"{AS_OF}") {{
          children(first: 1000) {{ nodes {{ code
            counted: evaluation(criteriaSet:"{SET}", year:{YEAR}) {{ {EVAL_FIELDS} }}
            evaluation(criteriaSet:"{SET}", year:{YEAR}) {{ criteriaMet ...Explained }}
            total: funding(year:{YEAR}) {{ total }}
            funding(year:{YEAR}) {{ ... on FundingSummary {{ bySource {{ source amount }} }} }}
          }} }} }} }}
          fragment Explained on Evaluation {{ criteria {{ number met indicatorsMet }} }}"""
        data = await gateway.data(explained)
        call = gateway.upstream.one("criteria POST /v1/evaluations/lookup")
        assert call.body["detail"] == "full"  # one call for both fields, explained
        call = gateway.upstream.one("funding POST /v1/summaries/lookup")
        assert call.body["detail"] == "full"  # one call for both, with the breakdown
        nodes = {n["code"]: n for n in data["unit"]["children"]["nodes"]}
        for code in recorded[:5]:
            node = nodes[code]
            assert node["counted"] == await rest_evaluation(criteria, code)
            criteria_met = sum(1 for c in node["evaluation"]["criteria"] if c["met"])
            assert (
                criteria_met == node["evaluation"]["criteriaMet"] == node["counted"]["criteriaMet"]
            )
            by_source = sum(s["amount"] for s in node["funding"]["bySource"])
            assert by_source == node["total"]["total"] > 0

    async def test_arguments_in_variables_and_fragments_answer_the_same_in_the_same_calls(
        self, gateway: Gateway, recorded: list[str]
    ) -> None:
        # the page's nodes are answered from what the page prefetched: the arguments are read
        # off the query wherever they are written
        with_variables = f"""query($unit: String!, $set: String!, $year: Int!) {{
          unit(code: $unit, asOf:"{AS_OF}") {{ name children(first: 1000) {{ totalCount
            edges {{ node {{ ...Row }} }} }} }} }}
          fragment Row on Unit {{ code
            evaluation(criteriaSet: $set, year: $year) {{ {EVAL_FIELDS} }}
            ... on Unit {{ funding(year: $year) {{ total }} }} }}"""
        response = await gateway.http.post(
            "/graphql",
            json={
                "query": with_variables,
                "variables": {"unit": DISTRICT, "set": SET, "year": YEAR},
            },
        )
        assert "errors" not in response.json(), response.json()
        edges = response.json()["data"]["unit"]["children"]["edges"]
        assert gateway.upstream.names() == ONE_UNIT_AND_ITS_CHILDREN
        written = await gateway.data(DISTRICT_DASHBOARD)
        assert [e["node"] for e in edges] == [
            {k: v for k, v in n.items()} for n in written["unit"]["children"]["nodes"]
        ]

    async def test_nodes_asking_other_services_too_keep_the_calls_concurrent(
        self, gateway: Gateway, recorded: list[str], criteria: httpx.AsyncClient
    ) -> None:
        # `predecessors` is one more criteria call at the nodes' level: the page does not wait
        # for the evaluations and funding before it goes out
        query = f"""{{ unit(code:"{DISTRICT}", asOf:"{AS_OF}") {{ children(first: 1000) {{
          nodes {{ code predecessors {{ code }}
            evaluation(criteriaSet:"{SET}", year:{YEAR}) {{ {EVAL_FIELDS} }}
            funding(year:{YEAR}) {{ total }} }} }} }} }}"""
        data = await gateway.data(query)
        nodes = data["unit"]["children"]["nodes"]
        assert len(nodes) == 30
        calls = gateway.upstream
        [extra] = [c for c in calls.calls if c.name not in ONE_UNIT_AND_ITS_CHILDREN]
        assert len(calls.calls) == len(ONE_UNIT_AND_ITS_CHILDREN) + 1
        assert extra.service == "criteria"
        assert extra.overlaps(calls.one("funding POST /v1/summaries/lookup"))
        for node in nodes[:3]:
            assert node["evaluation"] == await rest_evaluation(criteria, node["code"])

    async def test_numbers_equal_the_services_own_endpoints(
        self,
        gateway: Gateway,
        recorded: list[str],
        criteria: httpx.AsyncClient,
        funding: httpx.AsyncClient,
    ) -> None:
        data = await gateway.data(DASHBOARD)
        nodes = {n["code"]: n for n in data["unit"]["children"]["nodes"]}
        funded = [c for c, n in nodes.items() if n["funding"]["total"]]
        assert set(recorded) < set(funded)
        for code in [*funded, *list(nodes)[:3]]:
            assert nodes[code]["evaluation"] == await rest_evaluation(criteria, code), code
            assert nodes[code]["funding"]["total"] == await rest_total(funding, code), code
        evaluations = [nodes[c]["evaluation"] for c in recorded]
        assert evaluations[0]["meetsStandard"] is True
        assert len({e["criteriaMet"] for e in evaluations}) == len(recorded)
        # the communes' totals and what the district received itself add up to the province's
        district_communes = {u["code"] for u in await communes_of(criteria, DISTRICT)}
        district_own = await rest_total(funding, DISTRICT) - sum(
            nodes[c]["funding"]["total"] for c in district_communes
        )
        assert district_own > 0
        communes = sum(n["funding"]["total"] for n in nodes.values())
        assert communes + district_own == await rest_total(funding, PROVINCE)

    async def test_district_with_its_communes_costs_one_call_per_service_per_level(
        self,
        gateway: Gateway,
        recorded: list[str],
        criteria: httpx.AsyncClient,
        funding: httpx.AsyncClient,
    ) -> None:
        data = await gateway.data(DISTRICT_DASHBOARD)
        nodes = data["unit"]["children"]["nodes"]
        assert len(nodes) == 30
        assert gateway.upstream.names() == ONE_UNIT_AND_ITS_CHILDREN
        for node in nodes[:6]:
            assert node["evaluation"] == await rest_evaluation(criteria, node["code"])
            assert node["funding"]["total"] == await rest_total(funding, node["code"])

    async def test_province_districts_communes_cost_one_call_per_service_per_level(
        self, gateway: Gateway, recorded: list[str], funding: httpx.AsyncClient
    ) -> None:
        data = await gateway.data(PROVINCE_DISTRICTS_COMMUNES)
        districts = data["unit"]["children"]["nodes"]
        assert len(districts) == data["unit"]["children"]["totalCount"] == 26
        assert sum(len(d["children"]["nodes"]) for d in districts) == 547
        calls = gateway.upstream
        assert calls.names() == [
            "criteria POST /v1/evaluations/lookup",  # communes
            "criteria POST /v1/units/children/lookup",  # the province's districts
            "criteria POST /v1/units/children/lookup",  # the districts' communes
            "criteria POST /v1/units/lookup",  # the province
            "funding POST /v1/summaries/lookup",  # the province
            "funding POST /v1/summaries/lookup",  # the districts
            "funding POST /v1/summaries/lookup",  # the communes
        ]
        # at each level below the province, its criteria call and its funding call overlap
        children = calls.all("criteria POST /v1/units/children/lookup")
        summaries = calls.all("funding POST /v1/summaries/lookup")
        evaluations = calls.one("criteria POST /v1/evaluations/lookup")
        for criteria_call, funding_call in zip([*children, evaluations], summaries, strict=True):
            assert criteria_call.overlaps(funding_call)
        # every level's total is the funding service's own, and a district holds its communes'
        assert data["unit"]["funding"]["total"] == await rest_total(funding, PROVINCE)
        for district in districts:
            assert district["funding"]["total"] >= sum(
                c["funding"]["total"] for c in district["children"]["nodes"]
            )
        ours = next(d for d in districts if d["code"] == DISTRICT)
        assert ours["funding"]["total"] == await rest_total(funding, DISTRICT)
        assert ours["funding"]["total"] > sum(
            c["funding"]["total"] for c in ours["children"]["nodes"]
        )

    async def test_more_units_than_a_funding_lookup_takes_go_in_concurrent_bodies(
        self, gateway: Gateway, criteria: httpx.AsyncClient, funding: httpx.AsyncClient
    ) -> None:
        # provinces 38 and 01: 1,073 communes at one level, funding takes 1,000 keys a body
        last = (await communes_of(criteria, "01"))[-1]["code"]
        await _post(funding, "D-last", last, "NST", 123_000_000)
        query = "{ " + " ".join(
            f'p{code}: unit(code:"{code}", asOf:"{AS_OF}") {{ children(level: COMMUNE, '
            f"first: 1000) {{ nodes {{ code funding(year:{YEAR}) {{ total }} }} }} }}"
            for code in (PROVINCE, "01")
        ) + " }"  # fmt: skip
        data = await gateway.data(query)
        nodes = [n for p in data.values() for n in p["children"]["nodes"]]
        assert len(nodes) == 1073
        assert gateway.upstream.names() == [
            "criteria POST /v1/units/children/lookup",
            "criteria POST /v1/units/lookup",
            "funding POST /v1/summaries/lookup",
            "funding POST /v1/summaries/lookup",
        ]
        first, second = gateway.upstream.all("funding POST /v1/summaries/lookup")
        assert first.overlaps(second)
        totals = {n["code"]: n["funding"]["total"] for n in nodes}
        assert totals[last] == await rest_total(funding, last) == 123_000_000
        assert sum(totals.values()) == 123_000_000
