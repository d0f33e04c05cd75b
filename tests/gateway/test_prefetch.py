"""What a page of units may answer without waiting on a service: the fields of Unit that have
no resolver (read off the served schema, not a hand-kept list)."""

from __future__ import annotations

from graphql import GraphQLObjectType

from services.gateway.prefetch import _plain
from services.gateway.schema import build_schema
from shared.settings import Settings


def test_plain_fields_are_those_without_a_resolver() -> None:
    unit = build_schema(Settings(env="test"))._schema.get_type("Unit")
    assert isinstance(unit, GraphQLObjectType)
    plain = {name for name in unit.fields if _plain(unit, name)}
    assert {"code", "name", "level", "validFrom"} <= plain
    assert not plain & {"children", "parent", "evaluation", "funding", "dossiers", "targets"}
    assert _plain(unit, "__typename")
    assert not _plain(unit, "noSuchField")
