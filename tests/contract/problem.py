"""The check every input-validation regression test makes of a refusal."""

from __future__ import annotations

from typing import Any

import httpx

from shared.errors import PROBLEM_JSON


def assert_refused(
    response: httpx.Response, field: str, *, code: str | None = None, status: int = 422
) -> dict[str, Any]:
    """A 4xx problem+json in both languages whose errors name `field` (and carry `code`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["message_vi"]
    assert body["message_en"]
    if code is not None:
        assert body["code"] == code, body
    assert field in [e.get("field") for e in body["errors"]], body
    return body
