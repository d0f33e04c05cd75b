"""What one client may send: a token bucket per client (429 with `Retry-After`) and a limit on
the request body (413), both problem+json. The gateway applies them to /graphql
(services/gateway/app.py); `ClientLimits` applies them to every route of a service app
(shared/service.py), before routing (the rate) and before the body is read past its limit.

Calls between the apps of one process (the gateway's and appraisal's upstream calls in the
embedded mode) reach a service through `in_process(app)`: they are made on behalf of a request
the process has already counted, so the rate limit lets them through. Only code of the process
can mark a call so (an ASGI scope key, not a header)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Authenticator
from shared.errors import ProblemError, problem_response

RATE_LIMIT_CLIENTS = 10_000  # buckets kept; the least recently seen client is forgotten first
IN_PROCESS = "ntm.in_process"  # scope key of a call from another app of the same process


class RateLimiter:
    """A token bucket per client, in this process: `burst` requests at once, refilled at
    `per_minute`. Each replica limits on its own (N replicas let N times the rate through)."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def admit(self, client: str, now: float | None = None) -> float | None:
        """None when the request may go; otherwise the seconds until it could."""
        now = time.monotonic() if now is None else now
        tokens, seen = self.buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - seen) * self.rate)
        self.buckets[client] = (tokens - 1 if tokens >= 1 else tokens, now)
        self.buckets.move_to_end(client)
        if len(self.buckets) > RATE_LIMIT_CLIENTS:
            self.buckets.popitem(last=False)
        if tokens >= 1:
            return None
        return (1 - tokens) / self.rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


async def client_key(request: Request, authenticator: Authenticator) -> str:
    """Whom the rate limit counts: the subject of a valid bearer token (all of one subject's
    tokens share a bucket), else the client's address (behind a proxy, uvicorn's
    --proxy-headers gives the forwarded one). A token that does not verify counts as its
    address: the route answers it 401 anyway, and a forged subject takes no one's bucket.
    Verified tokens are cached, so the route's own check costs nothing more."""
    authorization = request.headers.get("authorization")
    if authorization:
        try:
            principal = await authenticator.authenticate(authorization)
        except ProblemError:  # invalid, expired, or the keys unreachable
            principal = None
        if principal is not None:
            return "sub:" + principal.subject
    return "ip:" + (request.client.host if request.client else "unknown")


def too_many_requests(request: Request, seconds: str) -> JSONResponse:
    return problem_response(
        request,
        status=429,
        code="rate_limited",
        message_vi=f"Quá nhiều yêu cầu; vui lòng thử lại sau {seconds} giây.",
        message_en=f"Too many requests; retry after {seconds} s.",
        headers={"Retry-After": seconds},
    )


# --- the body -----------------------------------------------------------------------------


class RequestBodyTooLarge(StarletteHTTPException):
    """More than `limit` bytes of body. An HTTPException, so that FastAPI's body parsing lets
    it through (any other error of `receive` becomes its 400 "error parsing the body")."""

    def __init__(self, limit: int) -> None:
        super().__init__(413)
        self.limit = limit


def body_too_large(request: Request, limit: int) -> JSONResponse:
    return problem_response(
        request,
        status=413,
        code="body_too_large",
        message_vi=f"Nội dung yêu cầu vượt quá {limit} byte.",
        message_en=f"The request body is over {limit} bytes.",
    )


async def on_body_too_large(request: Request, exc: Exception) -> JSONResponse:
    """The exception handler that renders RequestBodyTooLarge."""
    assert isinstance(exc, RequestBodyTooLarge)
    return body_too_large(request, exc.limit)


def declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isdigit() else None


def limited_receive(
    receive: Receive, limit: int | Callable[[], int], declared: int | None = None
) -> Receive:
    """`receive` that raises RequestBodyTooLarge before the first read when the declared
    Content-Length is over `limit`, and once more than `limit` bytes have come (a chunked body
    has no Content-Length to refuse it by). `limit` may be a function, asked at the first read
    (a service app's limit depends on the route, known only once the request is routed)."""
    received = 0
    resolved: int | None = limit if isinstance(limit, int) else None

    async def wrapped() -> Message:
        nonlocal received, resolved
        if resolved is None:
            assert callable(limit)
            resolved = limit()
        if declared is not None and declared > resolved:
            raise RequestBodyTooLarge(resolved)
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > resolved:
                raise RequestBodyTooLarge(resolved)
        return message

    return wrapped


# --- a service app ------------------------------------------------------------------------


class ClientLimits:
    """The rate (unless `rate` is None, or the call comes from another app of the process) and
    the body limit (`body_limit(scope)`: the routed request's limit) of every request to a
    service app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate: RateLimiter | None,
        body_limit: Callable[[Scope], int],
        authenticator: Authenticator,
    ) -> None:
        self.app = app
        self.rate = rate
        self.body_limit = body_limit
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.rate is not None and not scope.get(IN_PROCESS):
            wait = self.rate.admit(await client_key(request, self.authenticator))
            if wait is not None:
                await too_many_requests(request, retry_after(wait))(scope, receive, send)
                return
        limited = limited_receive(receive, lambda: self.body_limit(scope), declared_length(request))
        await self.app(scope, limited, send)


def in_process(app: ASGIApp) -> ASGIApp:
    """`app` as another app of the same process reaches it (an httpx.ASGITransport's app):
    its calls are not counted by the rate limit again."""

    async def marked(scope: Scope, receive: Receive, send: Send) -> None:
        scope[IN_PROCESS] = True
        await app(scope, receive, send)

    return marked
