"""Schemathesis over each service's own OpenAPI: every operation of criteria, funding and
appraisal gets a bounded number of generated requests, sent through the ASGI app on the real
migrated database with the national data.

Valid requests (by the schema) must not fail on the server and must be answered as documented:
status, content type, headers and body schema. Invalid ones must never get a 5xx.

The cases come from schemathesis's two generators: its coverage phase (deterministic valid,
boundary and type-violating values of every parameter; an even sample of them) and Hypothesis
fuzzing of valid requests (derandomized: the same cases on every run) naming resources the test
made first, so they get past the 404 into the code behind. Requests go through httpx's ASGI
transport in the test's own event loop: schemathesis's `case.call` for ASGI runs the app on
another loop in a thread, where the session's database pool cannot be used. One test per
service rather than per operation: the conftest's reset of the written rows after each test
costs more than an operation's requests.

NTM_FUZZ_EXAMPLES and NTM_FUZZ_COVERAGE raise the budget for a deeper run, e.g.
`NTM_FUZZ_EXAMPLES=30 NTM_FUZZ_COVERAGE=100000 pytest tests/contract` (a few minutes)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.errors import FailureGroup
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.appraisal.app import create_app as create_appraisal_app
from services.appraisal.storage import LocalStore
from services.criteria.app import create_app as create_criteria_app
from services.funding.app import create_app as create_funding_app
from shared.settings import Settings
from tests.conftest import auth_headers

Operation = APIOperation[Any, Any, Any, Any]

Case = schemathesis.Case[Any]

COMMUNE = "15592"  # Xã Xuân Minh, Thọ Xuân, Thanh Hóa

# The one place the requests of this test say who is calling: a national officer's token, so
# that no operation is refused for scope before its input is checked.
DEFAULT_HEADERS: dict[str, str] = auth_headers("central_officer", subject="schemathesis")

# Coverage cases and fuzzed valid requests per operation: for the ~74 operations the
# generation (schemathesis's strategies are slow to build, invalid ones the most) and the
# requests take about half a minute on a loaded 2-core machine.
COVERAGE = int(os.environ.get("NTM_FUZZ_COVERAGE", "4"))
EXAMPLES = int(os.environ.get("NTM_FUZZ_EXAMPLES", "3"))

MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS: dict[GenerationMode, list[CheckFunction]] = {
    GenerationMode.POSITIVE: [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ],
    # pydantic's lax parsing accepts some values the schema does not (a date given as a unix
    # time): an invalid request may succeed, it must not fail on the server
    GenerationMode.NEGATIVE: [not_a_server_error],
}

FACTORIES: dict[str, Callable[[Settings], FastAPI]] = {
    "criteria": create_criteria_app,
    "funding": create_funding_app,
    "appraisal": create_appraisal_app,
}

TRANSFER = {
    "external_id": "FUZZ-0001",
    "unit": COMMUNE,
    "source": "NSTW-DT",
    "amount": 1_000_000,
    "date": "2023-04-12",
}
WORK = {"code": "GT-01", "name": "Đường trục xã", "kind": "road", "started_on": "2023-01-05"}
OBLIGATION = {"basis": "contract", "amount": 500_000, "date": "2023-03-15", "document": "HĐ 1"}
DOSSIER = {"unit": COMMUNE, "title": "xa-ntm", "year": 2023}


def operations(service: str) -> list[Operation]:
    # The document does not depend on the database: read it from an app built without one.
    document = FACTORIES[service](Settings(env="test")).openapi()
    out = []
    for result in schemathesis.openapi.from_dict(document).get_all_operations():
        assert isinstance(result, Ok), f"{service}: an operation schemathesis cannot read"
        out.append(result.ok())
    return out


def coverage_cases(operation: Operation) -> list[Case]:
    """An even sample of COVERAGE of the operation's coverage-phase cases."""
    generator = CoverageGenerator(
        operation=operation,
        generation_modes=list(MODES),
        generation_config=operation.schema.config.generation_for(
            operation=operation, phase="coverage"
        ),
        auth_storage=None,
        override=Override(),
        feedback=FeedbackSources(),
    )
    cases = list(generator)
    if len(cases) <= COVERAGE:
        return cases
    step = len(cases) / COVERAGE
    return [cases[int(i * step)] for i in range(COVERAGE)]


def fuzzed_cases(operation: Operation, known: dict[str, Any]) -> list[Case]:
    """EXAMPLES valid requests drawn by Hypothesis, at the resources in `known`."""
    if not EXAMPLES:
        return []
    path = {
        p.name: value
        for p in operation.path_parameters
        if (value := known_value(operation, p.name, known)) is not None
    }
    out: list[Case] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(path_parameters=path))
    def collect(case: Case) -> None:
        out.append(case)

    collect()
    return out


def known_value(operation: Operation, name: str, known: dict[str, Any]) -> Any:
    # `criteria-sets/{code}` before `code`: one name can mean a unit or a set
    before = operation.path.split("/{" + name + "}")[0].rsplit("/", 1)[-1]
    return known.get(f"{before}/{{{name}}}", known.get(name))


def all_cases(service: str, known: dict[str, Any]) -> Iterator[Case]:
    for operation in operations(service):
        yield from coverage_cases(operation)
        yield from fuzzed_cases(operation, known)


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out


async def seed(service: str, client: httpx.AsyncClient) -> dict[str, Any]:
    """Make one of each resource the service's paths name: path parameter → value."""
    unit = {"code": COMMUNE, "province": "38", "year": 2023}
    if service == "criteria":
        return {**unit, "criteria-sets/{code}": "xa-ntm-2021", "indicator": "2.1"}
    if service == "funding":
        transfer = created(await client.post("/v1/transfers", json=TRANSFER))
        work = created(await client.post(f"/v1/units/{COMMUNE}/works", json=WORK))
        url = f"/v1/works/{work['id']}/obligations"
        obligation = created(await client.post(url, json=OBLIGATION))
        return {
            **unit,
            "transfer_id": transfer["id"],
            "external_id": transfer["external_id"],
            "work_id": work["id"],
            "obligation_id": obligation["id"],
            "kind": "land",
        }
    dossier = created(await client.post("/v1/dossiers", json=DOSSIER))
    return {**unit, "dossier_id": dossier["id"], "piece": "request_letter"}


async def send(client: httpx.AsyncClient, case: Case) -> httpx.Response:
    """Send a case serialised as schemathesis would (JSON, form, multipart, raw bytes)."""
    kwargs: dict[str, Any] = case.as_transport_kwargs(
        base_url=str(client.base_url), headers=DEFAULT_HEADERS
    )
    wanted = ("method", "url", "headers", "params", "cookies", "json", "data", "files")
    prepared = requests.Request(**{k: v for k, v in kwargs.items() if k in wanted}).prepare()
    body = prepared.body
    assert body is None or isinstance(body, bytes | str)
    headers = {
        name: value.decode("latin-1") if isinstance(value, bytes) else value
        for name, value in prepared.headers.items()
    }
    return await client.request(
        str(prepared.method), str(prepared.url), headers=headers, content=body
    )


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: Path) -> FastAPI:
    """The service's app as the conftest builds it (from a sync fixture: the conftest's async
    fixtures cannot be set up from inside the running test)."""
    service: str = request.param
    out: FastAPI = request.getfixturevalue(f"{service}_app")
    out.state.evidence_store = LocalStore(tmp_path / "evidence")  # uploads stay in tmp_path
    return out


@pytest.mark.parametrize(("app", "service"), [(s, s) for s in FACTORIES], indirect=["app"])
async def test_every_operation_answers_generated_requests_as_documented(
    app: FastAPI, service: str
) -> None:
    failures: list[str] = []
    # a 500 is an answer to check, not an exception to stop at
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url=f"http://{service}", headers=DEFAULT_HEADERS
    ) as client:
        known = await seed(service, client)
        sent = 0
        for case in all_cases(service, known):
            response = await send(client, case)
            sent += 1
            mode = case.meta.generation.mode if case.meta else GenerationMode.POSITIVE
            try:
                case.validate_response(response, checks=CHECKS[mode])
            except FailureGroup as group:
                failures.append(f"{case.operation.label} ({mode.value}):\n{group}")
    assert sent > 0
    assert not failures, f"{len(failures)} of {sent} cases failed:\n\n" + "\n\n".join(failures)
