"""The authorisation matrix (issue 6, acceptance): every caller × every REST route of the three
services and every GraphQL mutation × a unit inside and one outside the caller's scope.

Everything comes from ONE table, `EXPECT`: for each route what it is (public reference data,
a published aggregate, a scoped read, a write by some roles), which integrator scope admits an
integrator, and how to call it for a unit. The expected answer of each cell follows from the
entry and the caller (`expected`). The routes are the apps' own: a route without an entry (or
an entry for a route that does not exist) fails `test_the_table_covers_every_route`, so a new
endpoint cannot ship without a rule here and in its service's policy.py.

"Allowed" means authorisation let the call through: not a 401, not a 403 with an
authorisation code, and not a 500 (bodies are deliberately incomplete, so an allowed write
mostly answers 422 and changes nothing). A 403 the workflow gives (`dossier.locked`,
`workflow.forbidden`: the step belongs to another level) is allowed by this table: that
refusal is the workflow's, tested in tests/appraisal. "Refused" means the exact status and
code: 401 `auth.token_missing` without a token, 403 `auth.role_forbidden`,
`auth.scope_missing`, or the service's out-of-scope code."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.appraisal.storage import LocalStore
from services.gateway.app import create_app as create_gateway_app
from services.gateway.schema import build_schema
from shared.authz import route_keys
from shared.db import Database
from shared.jobs import ImportJobRepository
from shared.settings import Settings
from tests.conftest import auth_headers

INSIDE = "15592"  # Xã Xuân Minh (395, Thanh Hóa 38): inside every scoped caller's unit
OUTSIDE = "00004"  # Phường Trúc Bạch (Hà Nội): outside all of them
PROVINCE_OF = {INSIDE: "38", OUTSIDE: "01"}

ALL_ROLES = frozenset(
    {"commune_officer", "district_officer", "province_officer", "appraiser", "central_officer",
     "auditor", "integrator"}
)  # fmt: skip
READERS = ALL_ROLES - {"integrator"}
OFFICERS = frozenset({"commune_officer", "district_officer", "province_officer",
                      "central_officer"})  # fmt: skip
ABOVE_COMMUNE = OFFICERS - {"commune_officer"}
PROVINCIAL = frozenset({"province_officer", "central_officer"})
WORKFLOW = OFFICERS | {"appraiser"}
AUTHZ_CODES = {"auth.role_forbidden", "auth.scope_missing", "auth.out_of_scope",
               "dossier.out_of_scope"}  # fmt: skip
SCOPES = ("write:indicator-values", "import:indicator-values", "events:titles",
          "write:transfers", "import:transfers", "read:transfers", "read:dossiers")  # fmt: skip


# --------------------------------------------------------------------------- callers


@dataclass(frozen=True)
class Caller:
    name: str
    role: str | None  # None: anonymous
    unit: str | None = None
    scopes: tuple[str, ...] = ()

    def headers(self) -> dict[str, str]:
        if self.role is None:
            return {}
        return auth_headers(
            self.role, self.unit, scopes=self.scopes,
            sectors=["transport"] if self.role == "appraiser" else (),
        )  # fmt: skip


CALLERS = [
    Caller("anonymous", None),
    Caller("commune_officer@15592", "commune_officer", INSIDE),
    Caller("district_officer@395", "district_officer", "395"),
    Caller("province_officer@38", "province_officer", "38"),
    Caller("appraiser@38", "appraiser", "38"),
    Caller("central_officer", "central_officer", None),
    Caller("auditor@38", "auditor", "38"),
    Caller("integrator@38 (all scopes)", "integrator", "38", SCOPES),
    Caller("integrator@38 (no scope)", "integrator", "38"),
]


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Side:
    """The resources of one unit the calls name."""

    unit: str
    dossier: str
    transfer: str
    external_id: str
    work: int
    sha256: str
    jobs: dict[str, str]  # schema -> an import job a commune officer of the unit submitted

    def path(self) -> dict[str, str]:
        return {
            "code": self.unit, "province": PROVINCE_OF[self.unit], "dossier_id": self.dossier,
            "transfer_id": self.transfer, "external_id": self.external_id,
            "work_id": str(self.work), "obligation_id": "1", "sha256": self.sha256,
            "job_id": str(uuid.uuid4()), "decision_id": str(uuid.uuid4()), "piece": "nope",
            "kind": "land", "year": "2023", "indicator": "2.1",
        }  # fmt: skip


@dataclass(frozen=True)
class Call:
    path: dict[str, str] = field(default_factory=dict)  # overrides of Side.path()
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


Recipe = Callable[[Side], Call]
JUNK = "not an object"  # a body that fails validation: an allowed write changes nothing
NDJSON = {"Content-Type": "application/x-ndjson"}
SET_YEAR = {"set": "xa-ntm-2021", "year": 2023, "as_of": "2023-05-19"}


def plain(side: Side) -> Call:
    return Call()


def junk(side: Side) -> Call:
    return Call(json=JUNK)


def query(**params: Any) -> Recipe:
    return lambda side: Call(params={k: (side.unit if v is UNIT else v) for k, v in params.items()})


def body(make: Callable[[str], Any]) -> Recipe:
    return lambda side: Call(json=make(side.unit))


UNIT = object()  # stands for the side's unit in `query(...)`


@dataclass(frozen=True)
class Expect:
    kind: str  # public | aggregate | read | write
    recipe: Recipe = plain
    roles: frozenset[str] = READERS
    scope: str | None = None  # the integrator scope that admits an integrator
    scoped: bool = True  # whether the request's unit must be in the caller's scope


def public(recipe: Recipe = plain) -> Expect:
    return Expect("public", recipe)


def aggregate(recipe: Recipe = plain) -> Expect:
    return Expect("aggregate", recipe)


def read(recipe: Recipe = plain, *, scope: str | None = None, scoped: bool = True,
         roles: frozenset[str] = READERS) -> Expect:  # fmt: skip
    return Expect("read", recipe, roles, scope, scoped)


def write(roles: frozenset[str], recipe: Recipe = junk, *, scope: str | None = None,
          scoped: bool = True) -> Expect:  # fmt: skip
    return Expect("write", recipe, roles, scope, scoped)


SET_CODE: Recipe = lambda side: Call(path={"code": "xa-ntm-2021"})  # noqa: E731
EMPTY_IMPORT: Recipe = lambda side: Call(content=b"", headers=NDJSON)  # noqa: E731
JOB_READERS = OFFICERS | {"auditor"}
HEALTH = {"GET /healthz": public(), "GET /readyz": public()}


def imports(kind: str, schema: str) -> dict[str, Expect]:
    """A bulk import: its rows' units are checked row by row (tests/auth/test_authorisation),
    so the request itself names no unit. Its job is read within the submitter's unit."""
    scope = f"import:{kind}"
    job: Recipe = lambda side: Call(path={"job_id": side.jobs[schema]})  # noqa: E731
    return {
        f"POST /v1/imports/{kind}": write(OFFICERS, EMPTY_IMPORT, scope=scope, scoped=False),
        "GET /v1/imports/jobs/{job_id}": read(job, roles=JOB_READERS, scope=scope),
        "POST /v1/imports/{kind}": write(OFFICERS, EMPTY_IMPORT, scope=scope, scoped=False),
    }


EXPECT: dict[str, dict[str, Expect]] = {
    "criteria": {
        **HEALTH,
        "GET /v1/units/{code}": public(),
        "GET /v1/units": public(query(parent_code=UNIT)),
        "GET /v1/units/{code}/children": public(),
        "GET /v1/units/{code}/lineage": public(),
        "POST /v1/units/{code}/villages": write(OFFICERS),
        "POST /v1/units/lookup": public(body(lambda u: {"keys": [{"code": u}]})),
        "POST /v1/units/children/lookup": public(junk),
        "POST /v1/units/lineage/lookup": public(junk),
        "GET /v1/criteria-sets": public(),
        "GET /v1/criteria-sets/{code}": public(SET_CODE),
        "POST /v1/criteria-sets/lookup": public(body(lambda u: {"codes": ["xa-ntm-2021"]})),
        "PUT /v1/criteria-sets/{code}/variants/{province}": write(
            PROVINCIAL, lambda side: Call(path={"code": "xa-ntm-2021"}, json=JUNK)
        ),
        "POST /v1/indicator-values": write(
            OFFICERS, body(lambda u: {"values": [{"unit": u}]}), scope="write:indicator-values"
        ),
        "GET /v1/units/{code}/indicator-values": read(
            query(**SET_YEAR), scope="write:indicator-values"
        ),
        "GET /v1/units/{code}/indicator-values/{indicator}/history": read(
            query(**SET_YEAR), scope="write:indicator-values"
        ),
        "GET /v1/units/{code}/profile": aggregate(),
        "PUT /v1/units/{code}/profile": write(ABOVE_COMMUNE),
        "GET /v1/units/{code}/evaluation": aggregate(query(**SET_YEAR)),
        "POST /v1/evaluations/lookup": aggregate(junk),
        "GET /v1/units/{code}/criteria-report": aggregate(query(**SET_YEAR)),
        "GET /v1/units/{code}/criteria-report.xlsx": aggregate(query(**SET_YEAR)),
        "POST /v1/events/titles": write(
            frozenset({"central_officer"}), scope="events:titles", scoped=False
        ),
        "GET /v1/units/{code}/titles": aggregate(),
        "POST /v1/titles/lookup": aggregate(junk),
        "GET /v1/units/{code}/targets/{year}": aggregate(),
        "PUT /v1/units/{code}/targets/{year}": write(ABOVE_COMMUNE),
        "POST /v1/targets/lookup": aggregate(junk),
        **imports("indicator-values", "criteria"),
    },
    "funding": {
        **HEALTH,
        "GET /v1/sources": public(),
        "GET /v1/in-kind-kinds": public(),
        "GET /v1/work-kinds": public(),
        "GET /v1/valuation-rates": public(),
        "PUT /v1/valuation-rates/{province}/{kind}": write(PROVINCIAL),
        "POST /v1/transfers": write(OFFICERS, body(lambda u: {"unit": u}), scope="write:transfers"),
        "GET /v1/transfers": read(query(unit=UNIT), scope="read:transfers"),
        "GET /v1/transfers/by-external-id/{external_id}": read(scope="read:transfers"),
        "GET /v1/transfers/{transfer_id}": read(scope="read:transfers"),
        "POST /v1/transfers/{transfer_id}/reversal": write(OFFICERS, scope="write:transfers"),
        "GET /v1/units/{code}/accounts": read(scope="read:transfers"),
        "GET /v1/units/{code}/report": aggregate(query(year=2023)),
        "GET /v1/units/{code}/report.xlsx": aggregate(query(year=2023)),
        "POST /v1/summaries/lookup": aggregate(junk),
        "POST /v1/units/{code}/works": write(OFFICERS),
        "GET /v1/units/{code}/works": read(scope="read:transfers"),
        "GET /v1/works/{work_id}": read(scope="read:transfers"),
        "GET /v1/works/{work_id}/obligations": read(scope="read:transfers"),
        "POST /v1/works/{work_id}/obligations": write(OFFICERS),
        "POST /v1/works/{work_id}/obligations/{obligation_id}/reversal": write(OFFICERS),
        "GET /v1/units/{code}/construction-debt": read(scope="read:transfers"),
        **imports("transfers", "funding"),
    },
    "appraisal": {
        **HEALTH,
        "POST /v1/dossiers": write(OFFICERS, body(lambda u: {"unit": u})),
        "GET /v1/dossiers": read(query(unit=UNIT), scope="read:dossiers"),
        "POST /v1/dossiers/lookup": read(body(lambda u: {"units": [u]}), scope="read:dossiers"),
        "GET /v1/dossiers/{dossier_id}": read(scope="read:dossiers"),
        "PUT /v1/dossiers/{dossier_id}/content/{piece}": write(
            WORKFLOW, lambda side: Call(json={})
        ),
        "POST /v1/dossiers/{dossier_id}/actions": write(WORKFLOW),
        "POST /v1/dossiers/{dossier_id}/comments": write(WORKFLOW),
        "GET /v1/dossiers/{dossier_id}/comments": read(scope="read:dossiers"),
        "GET /v1/dossiers/{dossier_id}/timeline": read(scope="read:dossiers"),
        "GET /v1/dossiers/{dossier_id}/timeline/verify": read(scope="read:dossiers"),
        "GET /v1/tasks": read(query(role="commune_officer", level="commune", unit=UNIT)),
        "POST /v1/units/{code}/revocations": write(ABOVE_COMMUNE),
        "GET /v1/decisions/public-key": public(),
        "GET /v1/decisions/{decision_id}": aggregate(),
        "POST /v1/dossiers/{dossier_id}/evidence": write(WORKFLOW, plain),
        "GET /v1/dossiers/{dossier_id}/evidence": read(scope="read:dossiers"),
        "GET /v1/evidence/{sha256}": read(scope="read:dossiers"),
    },
}
OUT_OF_SCOPE_CODE = {"criteria": "auth.out_of_scope", "funding": "auth.out_of_scope",
                     "appraisal": "dossier.out_of_scope"}  # fmt: skip

# GraphQL mutations: the REST route each one calls, whose entry judges it
MUTATIONS = {
    "recordTransfer": ("funding", "POST /v1/transfers"),
    "reverseTransfer": ("funding", "POST /v1/transfers/{transfer_id}/reversal"),
    "createDossier": ("appraisal", "POST /v1/dossiers"),
    "dossierAction": ("appraisal", "POST /v1/dossiers/{dossier_id}/actions"),
}


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    status: int = 0
    code: str = ""

    def __str__(self) -> str:
        return "allowed" if self.allowed else f"{self.status} {self.code}"


ALLOWED = Outcome(True)


def expected(entry: Expect, caller: Caller, side: str, out_of_scope: str) -> Outcome:
    """What the table says of one cell."""
    if entry.kind == "public":
        return ALLOWED
    if caller.role is None:
        return Outcome(False, 401, "auth.token_missing")
    if entry.kind == "aggregate":
        return ALLOWED
    if caller.role == "integrator":
        if entry.scope is None:
            return Outcome(False, 403, "auth.role_forbidden")
        if entry.scope not in caller.scopes:
            return Outcome(False, 403, "auth.scope_missing")
    elif caller.role not in entry.roles:
        return Outcome(False, 403, "auth.role_forbidden")
    if entry.scoped and side == OUTSIDE and caller.unit is not None:
        return Outcome(False, 403, out_of_scope)
    return ALLOWED


def judged(want: Outcome, status: int, code: str | None) -> bool:
    if want.allowed:
        return status != 401 and status < 500 and not (status == 403 and code in AUTHZ_CODES)
    return (status, code) == (want.status, want.code)


# --------------------------------------------------------------------------- the test


@dataclass
class Apps:
    apps: dict[str, FastAPI]
    clients: dict[str, httpx.AsyncClient]
    gateway: httpx.AsyncClient


@pytest.fixture
async def apps(
    settings: Settings,
    criteria_app: FastAPI,
    funding_app: FastAPI,
    appraisal_app: FastAPI,
    tmp_path: Path,
) -> AsyncIterator[Apps]:
    """The three apps and the gateway over them, each with a client that sends no token of
    its own."""
    appraisal_app.state.evidence_store = LocalStore(tmp_path / "evidence")
    found = {"criteria": criteria_app, "funding": funding_app, "appraisal": appraisal_app}
    transports = {name: httpx.ASGITransport(app=app) for name, app in found.items()}
    gateway = create_gateway_app(settings, transports={**transports})
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(gateway.router.lifespan_context(gateway))
        clients = {
            name: await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=f"http://{name}")
            )
            for name, transport in transports.items()
        }
        graphql = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw")
        )
        yield Apps(found, clients, graphql)


async def submitted_job(app: FastAPI, schema: str, unit: str) -> str:
    """An import job as a commune officer of `unit` leaves it (someone no caller is)."""
    job_id = uuid.uuid4()
    async for session in database_of_app(app).session_scope():
        await ImportJobRepository(session, schema).create(
            job_id, kind="matrix", dry_run=True, mode="atomic", total=0,
            recorded_by="matrix-submitter", submitter_unit=unit, request_id=None,
        )  # fmt: skip
    return str(job_id)


def database_of_app(app: FastAPI) -> Database:
    db = app.state.db
    assert isinstance(db, Database)
    return db


async def make_side(apps: Apps, unit: str) -> Side:
    """A dossier (with an evidence file), a transfer, a work and import jobs of `unit`."""
    central = auth_headers("central_officer")
    appraisal, funding = apps.clients["appraisal"], apps.clients["funding"]
    created = await appraisal.post(
        "/v1/dossiers", json={"unit": unit, "title": "xa-ntm", "year": 2023}, headers=central
    )
    assert created.status_code == 201, created.text
    dossier = created.json()["id"]
    pdf = b"%PDF-1.4\n% " + os.urandom(16).hex().encode() + b"\n%%EOF\n"
    evidence = await appraisal.post(
        f"/v1/dossiers/{dossier}/evidence",
        files={"file": ("bien-ban.pdf", pdf, "application/pdf")},
        headers=auth_headers("commune_officer", unit),
    )
    assert evidence.status_code == 201, evidence.text
    external_id = f"MATRIX-{unit}"
    transfer = await funding.post(
        "/v1/transfers",
        json={"external_id": external_id, "unit": unit, "source": "NSTW-DT",
              "amount": 1_000_000, "date": "2023-04-12"},
        headers=central,
    )  # fmt: skip
    assert transfer.status_code == 201, transfer.text
    work = await funding.post(
        f"/v1/units/{unit}/works",
        json={"code": "GT-01", "name": "Đường trục xã", "kind": "road", "planned_vnd": 10**9},
        headers=central,
    )
    assert work.status_code == 201, work.text
    return Side(
        unit=unit,
        dossier=dossier,
        transfer=transfer.json()["id"],
        external_id=external_id,
        work=work.json()["id"],
        sha256=evidence.json()["sha256"],
        jobs={
            schema: await submitted_job(apps.apps[schema], schema, unit)
            for schema in ("criteria", "funding")
        },
    )


def problem_code(response: httpx.Response) -> str | None:
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        code = response.json().get("code")
        return str(code) if code is not None else None
    return None


def mutation(name: str, side: Side, n: int) -> tuple[str, dict[str, Any]]:
    """A call of mutation `name` naming `side`'s unit or resources; `n` keeps keys unique."""
    key = f"MX-{n}"
    if name == "recordTransfer":
        return (
            "mutation($u: String!, $k: String) { m: recordTransfer(idempotencyKey: $k, input: {"
            ' unit: $u, source: "KHONG-CO", amount: 1000, date: "2023-04-12"})'
            " { __typename ... on UserError { code } } }",
            {"u": side.unit, "k": key},
        )
    if name == "reverseTransfer":
        return (
            'mutation($id: ID!, $k: String) { m: reverseTransfer(id: $id, reason: "ma trận",'
            " idempotencyKey: $k) { __typename ... on UserError { code } } }",
            {"id": side.transfer, "k": key},
        )
    if name == "createDossier":
        return (
            'mutation($u: String!) { m: createDossier(input: {unit: $u, title: "huyen-ntm",'
            " year: 2023}) { __typename ... on UserError { code } } }",
            {"u": side.unit},
        )
    assert name == "dossierAction"
    return (
        "mutation($id: ID!) { m: dossierAction(id: $id, action: SUBMIT, expectedVersion: 99999)"
        " { __typename ... on UserError { code } } }",
        {"id": side.dossier},
    )


class TestAuthorisationMatrix:
    def test_the_table_covers_every_route_and_mutation(self, apps: Apps) -> None:
        problems = []
        for service, app in apps.apps.items():
            routes = {f"{method} {template}" for method, template, _ in route_keys(app)}
            table = set(EXPECT[service])
            problems += [f"{service}: no entry for {r}" for r in sorted(routes - table)]
            problems += [f"{service}: entry for no route {r}" for r in sorted(table - routes)]
        schema = build_schema()
        mutation_type = schema._schema.mutation_type
        assert mutation_type is not None
        served = set(mutation_type.fields)
        problems += [f"graphql: no entry for mutation {m}" for m in sorted(served - set(MUTATIONS))]
        problems += [f"graphql: entry for no mutation {m}" for m in sorted(set(MUTATIONS) - served)]
        assert not problems, "\n".join(problems)

    async def test_every_caller_on_every_route_inside_and_outside_its_scope(
        self, apps: Apps
    ) -> None:
        sides = [await make_side(apps, INSIDE), await make_side(apps, OUTSIDE)]
        wrong: list[str] = []
        cells = 0
        for service, app in apps.apps.items():
            client = apps.clients[service]
            for method, template, _ in route_keys(app):
                entry = EXPECT[service][f"{method} {template}"]
                for side in sides:
                    call = entry.recipe(side)
                    url = template.format(**{**side.path(), **call.path})
                    for caller in CALLERS:
                        response = await client.request(
                            method, url, params=call.params, json=call.json,
                            content=call.content, headers={**call.headers, **caller.headers()},
                        )  # fmt: skip
                        cells += 1
                        want = expected(entry, caller, side.unit, OUT_OF_SCOPE_CODE[service])
                        code = problem_code(response)
                        if not judged(want, response.status_code, code):
                            wrong.append(
                                f"{service} {method} {template} · {caller.name} · {side.unit}:"
                                f" expected {want}, got {response.status_code} {code}"
                            )
        # the GraphQL mutations, after the REST calls (an allowed one may move a dossier on)
        n = 0
        for name, (service, key) in MUTATIONS.items():
            entry = EXPECT[service][key]
            for side in sides:
                for caller in CALLERS:
                    n += 1
                    cells += 1
                    query_text, variables = mutation(name, side, n)
                    response = await apps.gateway.post(
                        "/graphql", json={"query": query_text, "variables": variables},
                        headers=caller.headers(),
                    )  # fmt: skip
                    want = expected(entry, caller, side.unit, OUT_OF_SCOPE_CODE[service])
                    if response.status_code != 200:
                        status, code = response.status_code, problem_code(response)
                    else:
                        body = response.json()
                        payload = (body.get("data") or {}).get("m") or {}
                        denied = payload.get("__typename") == "AccessDenied"
                        status = 403 if denied else (500 if body.get("errors") else 200)
                        code = payload.get("code") if denied else None
                    if not judged(want, status, code):
                        wrong.append(
                            f"graphql {name} · {caller.name} · {side.unit}: expected {want},"
                            f" got {status} {code} ({response.text[:200]})"
                        )
        assert not wrong, f"{len(wrong)} of {cells} cells differ:\n" + "\n".join(wrong)
        assert cells > 1000  # every route, both sides, every caller
