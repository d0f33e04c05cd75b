"""problem+json (RFC 9457) errors with a stable code and Vietnamese and English messages."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.logging import current_request_id

log = logging.getLogger("ntm.errors")

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    """One failing field (and row, for imports)."""

    field: str | None = None
    row: int | None = None
    code: str
    message_vi: str
    message_en: str


class Problem(BaseModel):
    """The body of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    code: str = Field(description="Stable machine code, e.g. `unit.not_found`")
    detail: str | None = None
    message_vi: str
    message_en: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ProblemError(Exception):
    """A domain error that knows its HTTP status, its stable code and both messages."""

    status: int = 400
    code: str = "bad_request"
    headers: dict[str, str] | None = None  # e.g. WWW-Authenticate on a 401

    def __init__(
        self,
        message_vi: str,
        message_en: str,
        *,
        code: str | None = None,
        status: int | None = None,
        errors: Sequence[FieldError] = (),
    ) -> None:
        super().__init__(message_en)
        self.message_vi = message_vi
        self.message_en = message_en
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.errors = list(errors)


class NotFound(ProblemError):
    status = 404
    code = "not_found"


class Conflict(ProblemError):
    status = 409
    code = "conflict"


class InvalidInput(ProblemError):
    status = 422
    code = "validation_failed"


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

_HTTP_MESSAGES_VI = {
    400: "Yêu cầu không hợp lệ.",
    401: "Chưa xác thực.",
    403: "Không có quyền thực hiện.",
    404: "Không tìm thấy tài nguyên.",
    405: "Phương thức không được hỗ trợ.",
    413: "Dữ liệu gửi lên quá lớn.",
    415: "Kiểu nội dung không được hỗ trợ.",
    429: "Quá nhiều yêu cầu, vui lòng thử lại sau.",
}


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    message_vi: str,
    message_en: str,
    errors: Sequence[FieldError] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Render one problem+json response."""
    body = Problem(
        title=_TITLES.get(status, "Error"),
        status=status,
        code=code,
        detail=message_en,
        message_vi=message_vi,
        message_en=message_en,
        instance=request.url.path,
        request_id=current_request_id(),
        errors=list(errors),
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _loc_to_field(loc: Sequence[int | str]) -> str:
    # the first element says where (body, query, path, header); a field may be named "body"
    parts = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    return ".".join(str(p) for p in parts) or ".".join(str(p) for p in loc)


def _validation_errors(exc: RequestValidationError) -> list[FieldError]:
    out: list[FieldError] = []
    for err in exc.errors():
        loc: Sequence[int | str] = err.get("loc", ())
        where = loc[0] if loc else "body"
        field = _loc_to_field(loc)
        msg = str(err.get("msg", "invalid"))
        out.append(
            FieldError(
                field=field,
                code=f"{where}.{err.get('type', 'invalid')}",
                message_vi=f"Trường '{field}' không hợp lệ: {msg}",
                message_en=f"Field '{field}' is invalid: {msg}",
            )
        )
    return out


def install_error_handlers(app: FastAPI) -> None:
    """One set of handlers per app: domain errors, validation, HTTP errors, and the last resort."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            request,
            status=exc.status,
            code=exc.code,
            message_vi=exc.message_vi,
            message_en=exc.message_en,
            errors=exc.errors,
            headers=exc.headers,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        fields = ", ".join(sorted({e.field or "?" for e in errors}))
        return problem_response(
            request,
            status=422,
            code="validation_failed",
            message_vi=f"Dữ liệu không hợp lệ ở trường: {fields}.",
            message_en=f"Invalid input in: {fields}.",
            errors=errors,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(status, "Error")
        return problem_response(
            request,
            status=status,
            code=f"http.{status}",
            message_vi=_HTTP_MESSAGES_VI.get(status, detail),
            message_en=detail,
            headers=dict(exc.headers) if exc.headers else None,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(
            request,
            status=500,
            code="internal_error",
            message_vi="Lỗi hệ thống. Vui lòng báo mã yêu cầu cho quản trị viên.",
            message_en="Internal error. Please report the request id to the administrator.",
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
    document_problems(app)


def document_problems(app: FastAPI) -> None:
    """Make the app's OpenAPI say what the handlers send: every 4xx/5xx response is
    `application/problem+json` with the `Problem` schema (FastAPI would document its own
    `HTTPValidationError` for 422, and put `responses=` models under application/json)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in _PROBLEM_SCHEMAS.items():
            schemas.setdefault(name, schema)
        problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
        for item in document.get("paths", {}).values():
            for operation in item.values():
                for status, response in operation.get("responses", {}).items():
                    if str(status)[0] in "45":
                        response["content"] = {PROBLEM_JSON: problem}
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


_PROBLEM_SCHEMAS: dict[str, Any] = models_json_schema(
    [(Problem, "serialization")], ref_template="#/components/schemas/{model}"
)[1]["$defs"]


def replay_response(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entry for the 200 an idempotent create answers to a repeat."""
    return {200: {"model": model, "description": "A repeat of an earlier request: its result"}}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entry documenting problem+json for the given statuses."""
    return {
        s: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": _TITLES.get(s, "Error")}
        for s in statuses
    }
