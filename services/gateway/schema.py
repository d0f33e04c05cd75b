"""The GraphQL schema: queries of the public contract, error masking, parser caches."""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, Info

from services.gateway.appraisal_types import AppraisalMutation, AppraisalQuery
from services.gateway.context import Context
from services.gateway.criteria_types import CriteriaSet
from services.gateway.errors import GatewayError, bad_input
from services.gateway.funding_types import SCALAR_MAP, FundingMutation
from services.gateway.limits import DocumentLimits, OperationGuard, PersistedQueries
from services.gateway.prefetch import prefetch
from services.gateway.types import (
    DEFAULT_FIRST,
    DateArg,
    Unit,
    UnitConnection,
    UnitLevel,
    check_code,
    check_first,
)
from shared.clock import today
from shared.logging import current_request_id
from shared.settings import Settings

log = logging.getLogger("ntm.gateway")


@strawberry.type
class Query(AppraisalQuery):
    @strawberry.field(description="A unit by official code, as valid on `asOf` (default today)")
    async def unit(
        self, info: Info[Context, None], code: str, as_of: DateArg = None
    ) -> Unit | None:
        day = as_of or today()
        item = await info.context.loaders.unit.load((check_code(code), day))
        return Unit.from_json(item, day) if item is not None else None

    @strawberry.field(
        description="Units valid on `asOf`. With `parentCode`: its direct children, or with "
        "`level` every unit of that level below it. `search` ignores diacritics and case."
    )
    async def units(
        self,
        info: Info[Context, None],
        parent_code: str | None = None,
        level: UnitLevel | None = None,
        search: str | None = None,
        as_of: DateArg = None,
        first: int | None = DEFAULT_FIRST,
        after: str | None = None,
    ) -> UnitConnection:
        day = as_of or today()
        limit = check_first(first)
        if limit == 0:
            limit = 1  # the upstream's minimum page; the rows are dropped below
        page = await info.context.upstreams.criteria.list_units(
            {
                "parent_code": check_code(parent_code, "parentCode") if parent_code else None,
                "level": level.value if level else None,
                "search": search,
                "as_of": day.isoformat(),
                "cursor": after,
                "limit": limit,
            }
        )
        if first == 0:
            page = {**page, "items": [], "cursors": [], "next_cursor": page["next_cursor"]}
        connection = UnitConnection.from_page(page, day, after=after)
        await prefetch(info, [edge.node for edge in connection.edges])
        return connection

    @strawberry.field(description="A criteria set by code, e.g. `xa-ntm-2021`")
    async def criteria_set(self, info: Info[Context, None], code: str) -> CriteriaSet | None:
        if len(code) > 64:
            raise bad_input("code", "Mã bộ tiêu chí quá dài.", "The set code is too long.")
        item = await info.context.loaders.criteria_set.load(code)
        return CriteriaSet.from_json(item) if item is not None else None

    @strawberry.field(description="Criteria sets, of one level and in force on a date if given")
    async def criteria_sets(
        self,
        info: Info[Context, None],
        level: UnitLevel | None = None,
        active_on: date | None = None,
    ) -> list[CriteriaSet]:
        items = await info.context.upstreams.criteria.list_criteria_sets(
            level.value if level else None, active_on
        )
        return [CriteriaSet.from_json(item) for item in items]


@strawberry.type
class Mutation(FundingMutation, AppraisalMutation):
    """Every service's mutations, one base class each."""


class GatewaySchema(strawberry.Schema):
    """Logs only unexpected errors, each with the correlation id its masked copy will carry;
    expected ones (GatewayError, refused or invalid queries) are the client's business and
    already carry a code."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        correlation_id = None
        for error in errors:
            if not is_unexpected(error):
                continue
            # the request id when the app is served behind RequestContextMiddleware
            correlation_id = correlation_id or current_request_id() or uuid.uuid4().hex
            error.extensions = {**(error.extensions or {}), "request_id": correlation_id}
            cause = error.original_error
            log.error(
                "unexpected error in GraphQL field %s: %r",
                ".".join(str(p) for p in error.path or ()),
                cause,
                exc_info=(type(cause), cause, cause.__traceback__) if cause else None,
                extra={"request_id": correlation_id, "graphql_path": error.path},
            )


def is_unexpected(error: GraphQLError) -> bool:
    return error.original_error is not None and not isinstance(error.original_error, GatewayError)


def format_error(error: GraphQLError, request_id: str | None) -> dict[str, Any]:
    """The error as sent: unexpected ones masked behind the correlation id that their log
    record carries, others with a code."""
    formatted: dict[str, Any] = dict(error.formatted)
    extensions: dict[str, Any] = dict(formatted.get("extensions") or {})
    if is_unexpected(error):
        request_id = extensions.get("request_id", request_id)
        formatted["message"] = "Unexpected error."
        extensions = {
            "code": "INTERNAL_SERVER_ERROR",
            "message_vi": "Lỗi hệ thống. Vui lòng báo mã yêu cầu cho quản trị viên.",
            "message_en": "Internal error. Please report the request id to the administrator.",
        }
    elif "code" not in extensions:
        extensions["code"] = "GRAPHQL_VALIDATION_FAILED"  # syntax errors too
        extensions["message_vi"] = "Truy vấn GraphQL không hợp lệ: " + error.message
        extensions["message_en"] = error.message
    if request_id:
        extensions["request_id"] = request_id
    formatted["extensions"] = extensions
    return formatted


def build_schema(settings: Settings | None = None) -> GatewaySchema:
    """The schema with the limits of `settings` (its SDL does not depend on them)."""
    settings = settings or Settings()
    limits = DocumentLimits.from_settings(settings)
    persisted = PersistedQueries.from_settings(settings)
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        # A factory: one guard per operation. It parses and validates through module-level
        # caches shared by every request, and checks the limits in between.
        extensions=[lambda: OperationGuard(limits, persisted)],
    )
