"""Each service's OpenAPI declares bearer auth (issue 6): the JWT scheme, and on every
operation the security its rule in services/<svc>/policy.py asks for, none on public ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from services.appraisal.app import create_app as create_appraisal_app
from services.appraisal.policy import POLICY as APPRAISAL
from services.criteria.app import create_app as create_criteria_app
from services.criteria.policy import POLICY as CRITERIA
from services.funding.app import create_app as create_funding_app
from services.funding.policy import POLICY as FUNDING
from shared.authz import HEALTH_RULES, Policy
from shared.settings import Settings

SERVICES: dict[str, tuple[Callable[[Settings], FastAPI], Policy]] = {
    "criteria": (create_criteria_app, CRITERIA),
    "funding": (create_funding_app, FUNDING),
    "appraisal": (create_appraisal_app, APPRAISAL),
}
TOKEN: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def wanted(access: str, anonymous_aggregates: bool) -> list[dict[str, list[str]]] | None:
    """The security an operation of this kind must declare (None: no `security` at all)."""
    if access == "public":
        return None
    if access == "aggregate" and anonymous_aggregates:
        return [*TOKEN, {}]  # a token, or none
    return TOKEN


class TestOpenApiSecurity:
    @pytest.mark.parametrize("anonymous", [False, True])
    @pytest.mark.parametrize("service", list(SERVICES))
    def test_every_operation_declares_the_security_of_its_rule(
        self, service: str, anonymous: bool
    ) -> None:
        create_app, policy = SERVICES[service]
        settings = Settings(env="test", auth_anonymous_aggregates=anonymous)
        document: dict[str, Any] = create_app(settings).openapi()
        assert document["components"]["securitySchemes"] == {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
        rules = {**HEALTH_RULES, **policy.rules}
        seen: dict[str, int] = {}
        wrong = []
        for path, item in document["paths"].items():
            for method, operation in item.items():
                key = f"{method.upper()} {path}"
                access = rules[key].access.value  # KeyError: an operation with no rule
                seen[access] = seen.get(access, 0) + 1
                want = wanted(access, anonymous)
                if operation.get("security") != want:
                    wrong.append(f"{key} ({access}): {operation.get('security')}, want {want}")
                if want is not None and not {"401", "403"} <= set(operation["responses"]):
                    wrong.append(f"{key}: 401 and 403 are not documented")
        assert not wrong, "\n".join(wrong)
        assert seen["public"] >= 2  # health at least
        assert seen["read"] + seen["write"] >= 5
