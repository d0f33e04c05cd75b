"""The checked-in schema.graphql is the schema the gateway serves: a change to the schema
fails here until it is exported deliberately (`ntm schema > schema.graphql`)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from fastapi import FastAPI
from graphql import (
    build_client_schema,
    get_introspection_query,
    lexicographic_sort_schema,
    print_schema,
)
from graphql import build_schema as build_sdl_schema

from services.cli import build_parser
from shared.settings import Settings
from tests.gateway.served import gateway

CHECKED_IN = Path(__file__).resolve().parents[2] / "schema.graphql"
HOW_TO_UPDATE = (
    "schema.graphql differs from the schema the gateway serves. If the change is deliberate"
    " (clients are built against this file: add, deprecate, never rename), run"
    " `.venv/bin/ntm schema > schema.graphql` and commit it.\n"
)


def drift(expected: str, actual: str) -> str:
    diff = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), "schema.graphql", "served", lineterm="", n=1
    )
    return HOW_TO_UPDATE + "\n".join(list(diff)[:60])


class TestSchemaExport:
    def test_ntm_schema_prints_the_checked_in_file(
        self, settings: Settings, capsys: pytest.CaptureFixture[str]
    ) -> None:
        args = build_parser().parse_args(["schema"])
        args.func(args, settings)
        printed = capsys.readouterr().out
        checked_in = CHECKED_IN.read_text(encoding="utf-8")
        assert printed == checked_in, drift(checked_in, printed)

    async def test_the_schema_served_over_graphql_is_the_checked_in_one(
        self, settings: Settings, criteria_app: FastAPI
    ) -> None:
        async with gateway(settings, criteria_app) as gw:
            response = await gw.post(get_introspection_query())
            assert gw.upstream_calls == []
        # both sorted: introspection lists the types in another order than the file
        served = print_schema(
            lexicographic_sort_schema(build_client_schema(response.json()["data"]))
        )
        checked_in = print_schema(
            lexicographic_sort_schema(build_sdl_schema(CHECKED_IN.read_text(encoding="utf-8")))
        )
        assert served == checked_in, drift(checked_in, served)
