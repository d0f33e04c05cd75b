"""Who calls the gateway: the bearer token, verified as the services verify it (shared.auth).

A missing, invalid or expired token is an HTTP 401 problem+json with `WWW-Authenticate:
Bearer` before any resolver runs (GraphQL clients see a transport-level refusal, not a partial
result). Without a token the caller is anonymous only when published aggregates are open
(`NTM_AUTH_ANONYMOUS_AGGREGATES=true`); the services then answer what anonymous callers may
read and refuse the rest field by field. The GraphiQL page itself (a GET without a query)
needs no token: it is a static page, and the IDE sends the token with each query.

The token is forwarded on every upstream call of the request (`propagate_authorization` in
the clients), so each service applies its own rules to the caller."""

from __future__ import annotations

from fastapi import Request

from shared.auth import Principal, TokenMissing, forward_authorization
from shared.authz import authenticator_of


async def authenticate_graphql(request: Request) -> Principal | None:
    forward_authorization(None)
    if request.method == "GET" and "query" not in request.query_params:
        return None  # the GraphiQL page
    authenticator = authenticator_of(request)
    header = request.headers.get("authorization")
    principal = await authenticator.authenticate(header)
    if principal is None and not authenticator.anonymous_aggregates:
        raise TokenMissing()
    forward_authorization(header if principal is not None else None)
    return principal
