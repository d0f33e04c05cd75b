"""The services' OpenAPI documents what the error handlers send: every error response is
application/problem+json with the Problem schema (FastAPI's own 422 body is never sent)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from services.appraisal.app import create_app as create_appraisal_app
from services.criteria.app import create_app as create_criteria_app
from services.funding.app import create_app as create_funding_app
from shared.errors import PROBLEM_JSON
from shared.settings import Settings

PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


class TestProblemDocumentation:
    @pytest.mark.parametrize(
        "create_app", [create_criteria_app, create_funding_app, create_appraisal_app]
    )
    def test_every_error_response_is_problem_json(
        self, create_app: Callable[[Settings], FastAPI]
    ) -> None:
        document: dict[str, Any] = create_app(Settings(env="test")).openapi()
        errors = {
            f"{method.upper()} {path} {status}": response["content"]
            for path, item in document["paths"].items()
            for method, operation in item.items()
            for status, response in operation["responses"].items()
            if status[0] in "45"
        }
        assert len(errors) > 20
        assert {where: PROBLEM for where in errors} == errors
        assert "Problem" in document["components"]["schemas"]
        assert "HTTPValidationError" not in document["components"]["schemas"]
