"""Authorisation: which role may call which route, for which units (issue 6, point 3).

Every service declares one rule per route in `services/<svc>/policy.py`, keyed by method and
path template; `shared.service.build_service_app` installs `authorize` as a dependency of
every route and refuses to build an app with a route that has no rule (or a rule for a route
that does not exist). The rule is enforced here and nowhere else:

- `public`: anyone, no token read (health, reference catalogs);
- `aggregate`: published aggregates (reports, evaluations): every role, for every unit, and
  anonymous callers when `NTM_AUTH_ANONYMOUS_AGGREGATES=true`;
- `read` / `write`: the rule's roles (an integrator only with the rule's scope), and every unit
  the request names must be in the caller's scope.

A role bound to a unit applies to that unit and everything below it, through the 2025
reorganisation too: a unit is in scope when the caller's unit is the unit, one of its
ancestors, or an ancestor of one of its predecessors or successors (`ScopeIndex`). A code
names up to two units (pre- and post-2025 editions); both count. A village
(`<commune>-<local>`) is in scope wherever its commune is. A code no unit has is left to the
route (it answers `unit.not_found` to anyone).

Where the units come from: a path or query parameter, a JSON body field (`*` walks a list),
or an async resolver that reads the resource's unit (a dossier's, a transfer's). A resolver
answering None means there is nothing to check (the resource does not exist or the id is
malformed): the route then answers 404 or 422 itself.

Bulk imports check each row's unit against the caller's scope (`row_scope`): rows outside are
rejected rows with code `auth.out_of_scope`, like any other rejection. An import job is read
by its submitter and by callers whose scope covers the submitter's unit (shared.jobs).
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import ROLES, Authenticator, Principal, TokenMissing, forward_authorization
from shared.bulk import RowError
from shared.db import database_of
from shared.errors import PROBLEM_JSON, ProblemError

# --------------------------------------------------------------------------- rules


class Access(StrEnum):
    public = "public"
    aggregate = "aggregate"
    read = "read"
    write = "write"


Resolver = Callable[[Request], Awaitable[Sequence[str] | None]]
T = TypeVar("T")


@dataclass(frozen=True)
class UnitSource:
    """Where a route's unit codes come from."""

    kind: str  # "path" | "query" | "body" | "resolve"
    name: tuple[str, ...] = ()
    resolver: Resolver | None = None
    # a list route without the parameter lists the whole country: national callers only
    national_when_absent: bool = False
    # any one unit in scope is enough (a file cited by several dossiers); default: all
    any_of: bool = False


def path(name: str) -> UnitSource:
    return UnitSource("path", (name,))


def query(name: str, *, national_when_absent: bool = False) -> UnitSource:
    return UnitSource("query", (name,), national_when_absent=national_when_absent)


def body(*field_path: str) -> UnitSource:
    """A JSON body field; `*` stands for every item of a list: `body("values", "*", "unit")`."""
    return UnitSource("body", field_path)


def resolved(
    resolver: Resolver, *, any_of: bool = False, national_when_absent: bool = False
) -> UnitSource:
    """Units an async resolver reads; with `national_when_absent`, an empty answer means the
    resource belongs to the whole country (national callers only)."""
    return UnitSource(
        "resolve", resolver=resolver, any_of=any_of, national_when_absent=national_when_absent
    )


Fetched = RowMapping | Sequence[RowMapping] | None


def looked_up(
    param: str,
    parse: Callable[[str], T],
    fetch: Callable[[AsyncSession, T], Awaitable[Fetched]],
    *,
    any_of: bool = False,
) -> UnitSource:
    """The units of the resource a path parameter names: the `unit_code` of the row(s)
    `fetch(session, parse(value))` reads, in a short session of its own. A malformed id, or no
    row, is nothing to check (the route answers 422 or 404)."""

    async def resolver(request: Request) -> Sequence[str] | None:
        raw = request.path_params.get(param)
        try:
            key = parse(str(raw))
        except (TypeError, ValueError):
            return None
        async for session in database_of(request).session_scope():
            found = await fetch(session, key)
            rows = [found] if isinstance(found, RowMapping) else list(found or ())
            return [row["unit_code"] for row in rows] or None
        return None  # pragma: no cover - session_scope yields once

    return resolved(resolver, any_of=any_of)


OFFICERS = frozenset({"commune_officer", "district_officer", "province_officer", "central_officer"})
READERS = frozenset(ROLES) - {"integrator"}  # integrators read with an explicit scope only


@dataclass(frozen=True)
class Rule:
    access: Access
    roles: frozenset[str] = frozenset()
    scope: str | None = None  # the integrator scope that admits an integrator
    units: UnitSource | None = None


PUBLIC = Rule(Access.public, frozenset(ROLES))
AGGREGATE = Rule(Access.aggregate, frozenset(ROLES))


def read(units: UnitSource | None = None, *, roles: Iterable[str] = READERS,
         scope: str | None = None) -> Rule:  # fmt: skip
    return Rule(Access.read, frozenset(roles), scope, units)


def write(roles: Iterable[str], units: UnitSource | None = None, *,
          scope: str | None = None) -> Rule:  # fmt: skip
    unknown = set(roles) - set(ROLES)
    if unknown or "auditor" in roles:  # the auditor reads, never writes
        raise ValueError(f"not a writing role: {sorted(unknown | ({'auditor'} & set(roles)))}")
    return Rule(Access.write, frozenset(roles), scope, units)


@dataclass(frozen=True)
class Policy:
    """One service's rules: `"METHOD /path/{template}" -> Rule`."""

    rules: Mapping[str, Rule]
    # the code of a refusal for scope; appraisal keeps its own (`dossier.out_of_scope`)
    out_of_scope_code: str = "auth.out_of_scope"

    def keyed(self) -> dict[tuple[str, str], Rule]:
        out: dict[tuple[str, str], Rule] = {}
        for key, rule in self.rules.items():
            method, _, template = key.partition(" ")
            out[(method.upper(), template)] = rule
        return out


HEALTH_RULES: dict[str, Rule] = {"GET /healthz": PUBLIC, "GET /readyz": PUBLIC}


# --------------------------------------------------------------------------- refusals


class RoleForbidden(ProblemError):
    status = 403
    code = "auth.role_forbidden"

    def __init__(self, role: str, access: Access) -> None:
        what_vi = "ghi dữ liệu này" if access is Access.write else "xem dữ liệu này"
        what_en = "write this" if access is Access.write else "read this"
        super().__init__(
            f"Vai trò {role} không được phép {what_vi}.", f"Role {role} may not {what_en}."
        )


class ScopeMissing(ProblemError):
    status = 403
    code = "auth.scope_missing"

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"Ứng dụng tích hợp cần quyền '{scope}' để gọi chức năng này.",
            f"The integrator needs the scope '{scope}' for this call.",
        )


class OutOfScope(ProblemError):
    status = 403
    code = "auth.out_of_scope"

    def __init__(self, principal: Principal, unit: str | None, code: str) -> None:
        where_vi = f"đơn vị {unit}" if unit else "toàn quốc"
        where_en = f"unit {unit}" if unit else "the whole country"
        super().__init__(
            f"Vai trò {principal.role} của đơn vị {principal.unit} không có quyền với {where_vi}.",
            f"Role {principal.role} of unit {principal.unit} has no authority over {where_en}.",
            code=code,
        )


def out_of_scope_row(line: int, unit: str, principal: Principal) -> RowError:
    """The rejection of an import row whose unit is outside the caller's scope."""
    return RowError(
        line=line,
        field="unit",
        code="auth.out_of_scope",
        message_vi=f"Dòng {line}: đơn vị {unit} nằm ngoài phạm vi của {principal.unit}.",
        message_en=f"Line {line}: unit {unit} is outside the scope of {principal.unit}.",
    )


# --------------------------------------------------------------------------- the scope index


class ScopeIndex:
    """For every unit code, the codes whose holders it is in scope of (`reach`). A code the
    national list does not know names no unit anyone holds: it is left to the route, which
    answers `unit.not_found` as it would for anyone."""

    def __init__(self, reach: dict[str, frozenset[str]]) -> None:
        self.reach = reach

    def reach_of(self, code: str) -> frozenset[str] | None:
        found = self.reach.get(code)
        if found is not None:
            return found
        commune, dash, _ = code.partition("-")
        if dash:  # a village: its commune's holders, and the village itself
            above = self.reach_of(commune)
            return None if above is None else above | {code}
        return None

    def covers(self, holder: str | None, code: str) -> bool:
        """Whether a role bound to `holder` (None: the whole country) covers unit `code`."""
        if holder is None:
            return True
        reach = self.reach_of(code)
        return reach is None or holder in reach

    @classmethod
    def build(
        cls,
        paths: Iterable[tuple[str, str, Sequence[str]]],
        lineage: Iterable[tuple[str, str]],
        *,
        legacy: str = "legacy",
        current: str = "2025",
    ) -> ScopeIndex:
        """`paths`: (code, edition, codes from the province down to the unit); `lineage`:
        (predecessor code in the `legacy` edition, successor code in the `current` one)."""
        by_code: dict[str, set[str]] = defaultdict(set)
        by_edition: dict[tuple[str, str], tuple[str, ...]] = {}
        for code, edition, codes in paths:
            by_code[code].update(codes)
            by_edition[(code, edition)] = tuple(codes)
        predecessors: dict[str, list[str]] = defaultdict(list)
        successors: dict[str, list[str]] = defaultdict(list)
        for old, new in lineage:
            predecessors[new].append(old)
            successors[old].append(new)
        reach: dict[str, frozenset[str]] = {}
        for code, own in by_code.items():
            out = set(own)
            for old in predecessors.get(code, ()):
                out.update(by_edition.get((old, legacy), (old,)))
            for new in successors.get(code, ()):
                out.update(by_edition.get((new, current), (new,)))
            reach[code] = frozenset(out)
        return cls(reach)


_index: ScopeIndex | None = None
_index_lock = threading.Lock()


def _national_index() -> ScopeIndex:
    global _index
    with _index_lock:
        if _index is None:
            # The official lists the packages carry, as criteria and funding load them; read
            # here so that every service (appraisal has no unit table) judges scope alike.
            from services.criteria.models import Edition
            from services.criteria.reference.admin_units import build_national_units

            units = build_national_units()
            _index = ScopeIndex.build(
                ((u.code, u.edition.value, u.path.split(".")) for u in units.units),
                ((r.predecessor_code, r.successor_code) for r in units.lineage),
                legacy=Edition.legacy.value,
                current=Edition.v2025.value,
            )
        return _index


async def scope_index() -> ScopeIndex:
    """The national index, built once per process (a few seconds, off the event loop)."""
    if _index is not None:
        return _index
    return await asyncio.to_thread(_national_index)


async def warm_up(app: FastAPI) -> None:
    """Start-up hook: build the index in a worker thread without waiting for it, so that the
    first scoped request does not pay for it."""
    if _index is None:
        asyncio.get_running_loop().run_in_executor(None, _national_index)


def covers_unit(holder: str | None, code: str) -> bool:
    """Whether a role bound to `holder` (None: the whole country) covers `code`. Synchronous:
    builds the index on first use if `authorize` has not (it has, for any scoped request)."""
    return holder is None or _national_index().covers(holder, code)


# --------------------------------------------------------------------------- the dependency


@dataclass(frozen=True)
class BoundPolicy:
    """A policy checked against an app's routes: the rule of each (route, method)."""

    rules: dict[tuple[int, str], Rule]
    out_of_scope_code: str

    def rule_for(self, request: Request) -> Rule:
        route = request.scope.get("route")
        rule = self.rules.get((id(route), request.method))
        if rule is None:  # pragma: no cover - bind_policy saw every route
            raise RuntimeError(f"no authorisation rule for {request.method} {request.url.path}")
        return rule


def route_keys(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """(method, path template, route) of every API route of the app."""
    out = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            for method in sorted(context.methods or ()):
                out.append((method, context.path_format or route.path_format, route))
    return out


class PolicyMismatch(RuntimeError):
    pass


def bind_policy(app: FastAPI, policy: Policy) -> None:
    """Attach the rules to the app's routes; a route without a rule, or a rule without a
    route, stops the app from being built."""
    keyed = {**Policy(HEALTH_RULES).keyed(), **policy.keyed()}
    bound: dict[tuple[int, str], Rule] = {}
    missing = []
    for method, template, route in route_keys(app):
        rule = keyed.pop((method, template), None)
        if rule is None:
            missing.append(f"{method} {template}")
        else:
            bound[(id(route), method)] = rule
    stale = [f"{m} {t}" for m, t in keyed]
    if missing or stale:
        raise PolicyMismatch(
            f"{app.title}: routes without an authorisation rule: {missing or 'none'};"
            f" rules for no route: {stale or 'none'}"
        )
    app.state.authz = BoundPolicy(bound, policy.out_of_scope_code)


BEARER_SCHEME = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
_AUTH_RESPONSES = {
    "401": "No valid bearer token (`auth.token_missing`, `auth.token_invalid`, "
    "`auth.token_expired`)",
    "403": "Refused: the role, the integrator's scope or a unit outside the caller's scope",
}


def operation_security(rule: Rule, anonymous_aggregates: bool) -> list[dict[str, list[str]]]:
    """The OpenAPI `security` of a route under its rule: none for public routes; a bearer
    token for reads and writes; for published aggregates, a token or none when anonymous
    callers are allowed."""
    if rule.access is Access.public:
        return []
    if rule.access is Access.aggregate and anonymous_aggregates:
        return [{"bearerAuth": []}, {}]
    return [{"bearerAuth": []}]


def document_security(app: FastAPI) -> None:
    """Make the app's OpenAPI declare bearer auth from its bound policy: the scheme in
    `components.securitySchemes`, and on each operation its rule's `security` with the 401
    and 403 problem+json answers `authorize` gives (public operations carry neither)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        bound: BoundPolicy = app.state.authz
        anonymous = authenticator_of_app(app).anonymous_aggregates
        document.setdefault("components", {}).setdefault("securitySchemes", {}).update(
            BEARER_SCHEME
        )
        paths = document.get("paths", {})
        for method, template, route in route_keys(app):
            operation = paths.get(template, {}).get(method.lower())
            if operation is None:  # not in the schema (include_in_schema=False)
                continue
            security = operation_security(bound.rules[(id(route), method)], anonymous)
            if not security:
                continue
            operation["security"] = security
            responses = operation.setdefault("responses", {})
            for status, description in _AUTH_RESPONSES.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {
                            PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                        },
                    },
                )
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def authenticator_of_app(app: FastAPI) -> Authenticator:
    found = getattr(app.state, "authenticator", None)
    if not isinstance(found, Authenticator):  # pragma: no cover - a wiring error
        raise RuntimeError("app.state.authenticator is not set")
    return found


def authenticator_of(request: Request) -> Authenticator:
    return authenticator_of_app(request.app)


def principal_of(request: Request) -> Principal | None:
    """The caller `authorize` admitted (None: anonymous, on a public or aggregate route)."""
    found = getattr(request.state, "principal", None)
    return found if isinstance(found, Principal) else None


def require_principal(request: Request) -> Principal:
    principal = principal_of(request)
    if principal is None:
        raise TokenMissing()
    return principal


async def recorder(request: Request) -> str:
    """Who records a write, for the audit fields (`recorded_by`): the subject of the token
    `authorize` verified. Never a header: a caller could name anyone there."""
    return require_principal(request).subject


RecordedBy = Annotated[str, Depends(recorder)]


async def authorize(request: Request) -> None:
    """The one check of every service route: the caller, its role, and its units' scope."""
    bound: BoundPolicy = request.app.state.authz
    rule = bound.rule_for(request)
    request.state.principal = None
    if rule.access is Access.public:
        return
    authenticator = authenticator_of(request)
    header = request.headers.get("authorization")
    principal = await authenticator.authenticate(header)
    if principal is None:
        if rule.access is Access.aggregate and authenticator.anonymous_aggregates:
            return
        raise TokenMissing()
    request.state.principal = principal
    # Set only here, never cleared: a service reached in-process (httpx.ASGITransport, the
    # embedded mode) runs in its caller's context, and clearing it there would strip the
    # caller's token from the caller's next upstream call.
    forward_authorization(header)
    if principal.role not in rule.roles:
        if principal.role == "integrator" and rule.scope is not None:
            if rule.scope not in principal.scopes:
                raise ScopeMissing(rule.scope)
        else:
            raise RoleForbidden(principal.role, rule.access)
    if rule.access is Access.aggregate or rule.units is None or principal.national:
        return
    units = await _units(request, rule.units)
    if units is None:
        return
    if not units:
        if rule.units.national_when_absent:
            raise OutOfScope(principal, None, bound.out_of_scope_code)
        return
    index = await scope_index()
    inside = [u for u in units if index.covers(principal.unit, u)]
    if rule.units.any_of and inside:
        return
    for unit in units:
        if unit not in inside:
            raise OutOfScope(principal, unit, bound.out_of_scope_code)


async def _units(request: Request, source: UnitSource) -> list[str] | None:
    """The unit codes the request names (None: nothing to check)."""
    if source.kind == "path":
        value = request.path_params.get(source.name[0])
        return [value] if isinstance(value, str) else []
    if source.kind == "query":
        return [v for v in request.query_params.getlist(source.name[0]) if v]
    if source.kind == "body":
        try:
            document = await request.json()
        except ValueError:
            return None  # not JSON: the route answers 422
        return list(_walk(document, source.name))
    assert source.resolver is not None
    found = await source.resolver(request)
    return None if found is None else list(found)


def _walk(value: Any, steps: Sequence[str]) -> Iterable[str]:
    if not steps:
        if isinstance(value, str):
            yield value
        return
    head, rest = steps[0], steps[1:]
    if head == "*":
        if isinstance(value, list):
            for item in value:
                yield from _walk(item, rest)
    elif isinstance(value, dict) and head in value:
        yield from _walk(value[head], rest)


async def row_scope(request: Request) -> Callable[[int, str], RowError | None] | None:
    """For bulk imports: a check of one row's unit (its rejection, or None when in scope);
    None when the caller's scope is the whole country."""
    principal = principal_of(request)
    if principal is None or principal.national:
        return None
    index = await scope_index()
    holder = principal.unit

    def check(line: int, unit: str) -> RowError | None:
        return None if index.covers(holder, unit) else out_of_scope_row(line, unit, principal)

    return check
