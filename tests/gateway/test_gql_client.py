"""A real third-party client (the `gql` package over httpx) against the gateway served by
uvicorn on a local port, over the real criteria and funding apps: the district dashboard
query, then a mutation. gql fetches the schema by introspection and validates its documents
against it before sending them, as a client generated from schema.graphql would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport

from shared.settings import Settings
from tests.conftest import DEFAULT_HEADERS
from tests.gateway.served import gateway_app, over_http

DISTRICT = "395"
COMMUNE = "15592"
NEIGHBOUR = "15583"

DASHBOARD = """
query DistrictDashboard($district: String!, $asOf: Date!, $set: String!, $year: Int!) {
  unit(code: $district, asOf: $asOf) {
    code
    name
    children(level: COMMUNE, first: 100) {
      totalCount
      nodes {
        code
        name
        evaluation(criteriaSet: $set, year: $year) {
          criteriaMet
          criteriaTotal
          indicatorsMet
          meetsStandard
        }
        funding(year: $year) { total }
      }
    }
  }
}
"""

RECORD_TRANSFER = """
mutation Record($input: TransferInput!, $key: String) {
  recordTransfer(input: $input, idempotencyKey: $key) {
    __typename
    ... on TransferRecorded { replayed transfer { externalId unit source amount } }
    ... on UserError { code messageVi messageEn }
  }
}
"""

VARIABLES = {"district": DISTRICT, "asOf": "2023-05-19", "set": "xa-ntm-2021", "year": 2023}


@pytest.fixture
async def served(
    settings: Settings, criteria_app: FastAPI, funding_app: FastAPI
) -> AsyncIterator[str]:
    """The gateway's base URL, served over HTTP by uvicorn, over in-process services."""
    async with over_http(gateway_app(settings, criteria_app, funding_app)) as url:
        yield url


@pytest.fixture
def client(served: str) -> Client:
    """A gql client of the served gateway; each `async with client` opens its connection."""
    transport = HTTPXAsyncTransport(url=f"{served}/graphql", timeout=30, headers=DEFAULT_HEADERS)
    return Client(transport=transport, fetch_schema_from_transport=True)


async def seed(criteria: httpx.AsyncClient, funding: httpx.AsyncClient) -> None:
    """Two indicators met by one commune, and money for two communes, through REST."""
    values = [
        {"unit": COMMUNE, "set": "xa-ntm-2021", "year": 2023, "indicator": indicator,
         "value": value, "as_of": "2023-05-19"}
        for indicator, value in (("3.1", 90), ("3.2", True))
    ]  # fmt: skip
    recorded = await criteria.post("/v1/indicator-values", json={"values": values})
    assert recorded.status_code == 201, recorded.text
    for external_id, unit, amount in (("D-1", COMMUNE, 1_200_000_000), ("D-2", NEIGHBOUR, 300)):
        posted = await funding.post(
            "/v1/transfers",
            json={"external_id": external_id, "unit": unit, "source": "NST", "amount": amount,
                  "date": "2023-04-12"},
        )  # fmt: skip
        assert posted.status_code == 201, posted.text


class TestThirdPartyClient:
    async def test_gql_runs_the_district_dashboard_over_http(
        self, client: Client, criteria: httpx.AsyncClient, funding: httpx.AsyncClient
    ) -> None:
        await seed(criteria, funding)
        async with client as session:
            result = await session.execute(GraphQLRequest(DASHBOARD, variable_values=VARIABLES))
        unit = result["unit"]
        assert (unit["code"], unit["name"]) == (DISTRICT, "Huyện Thọ Xuân")
        communes = {n["code"]: n for n in unit["children"]["nodes"]}
        assert len(communes) == unit["children"]["totalCount"] == 30
        mine = communes[COMMUNE]
        assert mine["evaluation"]["criteriaTotal"] == 19
        assert mine["evaluation"]["indicatorsMet"] == 2
        assert mine["evaluation"]["meetsStandard"] is False
        assert mine["funding"]["total"] == 1_200_000_000
        assert communes[NEIGHBOUR]["funding"]["total"] == 300
        quiet = [n for code, n in communes.items() if code not in (COMMUNE, NEIGHBOUR)]
        assert all(n["funding"]["total"] == 0 for n in quiet)

    async def test_gql_records_a_transfer_and_sees_it_in_the_dashboard(
        self, client: Client
    ) -> None:
        transfer: dict[str, Any] = {"unit": COMMUNE, "source": "CD-TM", "amount": 5_000_000,
                                    "date": "2023-06-01"}  # fmt: skip
        record = GraphQLRequest(
            RECORD_TRANSFER, variable_values={"input": transfer, "key": "GQL-CLIENT-1"}
        )
        async with client as session:
            first = await session.execute(record)
            again = await session.execute(record)
            dashboard = await session.execute(GraphQLRequest(DASHBOARD, variable_values=VARIABLES))
        assert first["recordTransfer"]["__typename"] == "TransferRecorded"
        assert first["recordTransfer"]["replayed"] is False
        assert first["recordTransfer"]["transfer"] == {
            "externalId": "GQL-CLIENT-1", "unit": COMMUNE, "source": "CD-TM", "amount": 5_000_000
        }  # fmt: skip
        assert again["recordTransfer"]["replayed"] is True
        communes = {n["code"]: n for n in dashboard["unit"]["children"]["nodes"]}
        assert communes[COMMUNE]["funding"]["total"] == 5_000_000

    async def test_a_refusal_reaches_gql_with_its_code(self, client: Client) -> None:
        nested = "parent { " * 15 + "code" + " }" * 15
        async with client as session:
            with pytest.raises(TransportQueryError) as refused:
                await session.execute(GraphQLRequest(f'{{ unit(code: "15592") {{ {nested} }} }}'))
        [error] = refused.value.errors or []
        assert error["extensions"]["code"] == "QUERY_TOO_DEEP"
