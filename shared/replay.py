"""Keyed writes whose first answer is kept and replayed (the second way of `shared.idempotency`).

A service using it has a table `<schema>.idempotency_keys` (key, request_hash, status_code,
response, created_at) and wraps the work of each keyed route in `replay_or_run`. The key is
claimed by inserting its row in the write's own transaction, so:
- a concurrent request with the same key waits on that row until the first commits, then
  replays its answer;
- a write that fails rolls its key back with everything else: a retry is judged afresh (only
  successes are replayed, and the refusal of a retry says what holds now);
- the answer is stored before the commit, so a replay never sees half a write.

The fingerprint covers the route, its path parameters and whatever the caller adds (the body,
the actor, `If-Match`): the same key sent by another actor or to another route is another
request, hence a 409. A replay answers the first status and body, with `Idempotent-Replayed:
true`."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Header, Request, Response
from pydantic import BaseModel
from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import Conflict, FieldError
from shared.idempotency import KEY_PATTERN, fingerprint

REPLAYED_HEADER = "Idempotent-Replayed"
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]*$")

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="The same key and body again answer the first result; another body is a 409",
    ),
]

M = TypeVar("M", bound=BaseModel)


class IdempotencyConflict(Conflict):
    code = "idempotency.conflict"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Khóa Idempotency-Key {key} đã được dùng cho một yêu cầu khác.",
            f"Idempotency-Key {key} was already used for another request.",
            errors=[
                FieldError(
                    field="Idempotency-Key",
                    code=self.code,
                    message_vi="Cùng khóa, khác yêu cầu (nội dung, đường dẫn hoặc người gửi):"
                    " không thực hiện lần hai.",
                    message_en="Same key, another request (body, path or sender): nothing was"
                    " done.",
                )
            ],
        )


class ReplayRepository:
    """Rows of `<schema>.idempotency_keys`, in the request's transaction."""

    def __init__(self, session: AsyncSession, schema: str) -> None:
        if _SCHEMA.fullmatch(schema) is None:  # pragma: no cover - a wiring error
            raise ValueError(f"not a schema name: {schema!r}")
        self.session = session
        self.table = f"{schema}.idempotency_keys"

    async def claim(self, key: str, request_hash: bytes) -> RowMapping | None:
        """Take the key for this transaction (None), or the committed first use of it."""
        taken = await self.session.execute(
            text(
                f"INSERT INTO {self.table} (key, request_hash) VALUES (:k, :h)"
                " ON CONFLICT (key) DO NOTHING RETURNING key"
            ),
            {"k": key, "h": request_hash},
        )
        if taken.first() is not None:
            return None
        first = await self.session.execute(
            text(f"SELECT request_hash, status_code, response FROM {self.table} WHERE key = :k"),
            {"k": key},
        )
        return first.mappings().one()

    async def record(self, key: str, status_code: int, response: Any) -> None:
        await self.session.execute(
            text(
                f"UPDATE {self.table} SET status_code = :s, response = CAST(:r AS jsonb)"
                " WHERE key = :k"
            ),
            {"k": key, "s": status_code, "r": json.dumps(response, ensure_ascii=False)},
        )


async def replay_or_run(
    session: AsyncSession,
    schema: str,
    key: str | None,
    request: Request,
    response: Response,
    run: Callable[[], Awaitable[M]],
    *,
    model: type[M],
    parts: Mapping[str, Any],
) -> M:
    """`run()` once per key: its answer, or the first answer given for the same request.

    Without a key every call runs. `parts` is what makes the request this one besides its
    route and path parameters (the body, the actor, If-Match)."""
    if key is None:
        return await run()
    route = request.scope.get("route")
    request_hash = fingerprint(
        {
            "route": f"{request.method} {getattr(route, 'path', request.url.path)}",
            "path_params": dict(request.path_params),
            **parts,
        }
    )
    repo = ReplayRepository(session, schema)
    first = await repo.claim(key, request_hash)
    if first is not None:
        if bytes(first["request_hash"]) != request_hash:
            raise IdempotencyConflict(key)
        response.status_code = first["status_code"]
        response.headers[REPLAYED_HEADER] = "true"
        return model.model_validate(first["response"])
    out = await run()
    status_code = response.status_code or getattr(route, "status_code", None) or 200
    await repo.record(key, status_code, out.model_dump(mode="json", by_alias=True))
    return out
