"""Cursor pagination on every list (issue 6, point 1): every GraphQL field that returns a list
of unbounded size is a Relay connection with `first` / `after`, and paging one to its end with
small pages gives every item once."""

from __future__ import annotations

from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    get_nullable_type,
    is_list_type,
    is_object_type,
)

from services.gateway.schema import build_schema
from shared.settings import Settings
from tests.gateway.conftest import GraphQL

# List fields that are not connections, each with why its length is bounded. A new list
# field fails `test_every_unbounded_list_is_a_connection` until it is paginated or added here
# with its reason.
BOUNDED_LISTS: dict[str, str] = {
    # the criteria catalog: a set has at most ~20 criteria of a few indicators each
    "CriteriaSet.criteria": "the criteria of one set (QĐ 318: 19)",
    "Criterion.indicators": "the indicators of one criterion",
    "Indicator.thresholds": "one threshold per region / commune group / year of one indicator",
    "Evaluation.criteria": "the criteria of the set evaluated",
    "CriterionResult.indicators": "the indicators of one criterion",
    "Query.criteriaSets": "the catalog: six national sets and the provinces' variants of them",
    # a report over the units below one unit: at most the communes of a province
    "CriteriaReport.distribution": "one bucket per number of criteria met (0..criteria)",
    "CriteriaReport.criterionFailures": "one entry per criterion of the set",
    "CriteriaBucket.unitCodes": "codes of the units below one unit (≤ a province's communes)",
    "CriterionFailure.unitCodes": "codes of the units below one unit (≤ a province's communes)",
    # funding summaries: one entry per catalog code
    "FundingSummary.bySource": "one per funding source of the catalog (11)",
    "FundingSummary.byGroup": "one per source group (NSNN, LG, TD, XHH)",
    "FundingSummary.inKind": "one per in-kind kind (land, labour, materials, structures)",
    "FundingSummary.summaryParts": "the parts the summary paragraph names (≤ the groups)",
    "GroupAmount.sources": "the source codes of one group",
    "SummaryPart.sources": "the source codes of one part",
    # one unit's own records
    "Unit.predecessors": "the units merged into this one in 2025 (a handful)",
    "Unit.successors": "the units this one became in 2025 (a handful)",
    "Unit.targets": "one target per kind for one unit and year",
    "Unit.recognitions": "the titles of one unit: a few titles per year since 2021",
    # contract.md fixes it as a list: a unit has one live dossier per title and year; the
    # paginated way to list dossiers is Query.dossiers(unitCode:, first:, after:)
    "Unit.dossiers": "one live dossier per title and year of one unit (contract.md's type)",
    # errors: one entry per field of the input or gate of the workflow step
    "ValidationError.fieldErrors": "one per failing field of the input",
    "NotFound.fieldErrors": "one per field naming what was not found",
    "DossierConflict.fieldErrors": "one per field in conflict",
    "WorkflowRefused.failedGates": "the gates of one workflow step",
}


def served() -> GraphQLSchema:
    return build_schema(Settings(env="test"))._schema


def is_connection(type_: object) -> bool:
    """A Relay connection as contract.md shows it: edges, nodes, pageInfo and totalCount."""
    return isinstance(type_, GraphQLObjectType) and {
        "edges",
        "nodes",
        "pageInfo",
        "totalCount",
    } <= set(type_.fields)


def list_fields(schema: GraphQLSchema) -> dict[str, GraphQLField]:
    """Every list-typed field of the schema's object types, by `Type.field`."""
    out: dict[str, GraphQLField] = {}
    for name, type_ in schema.type_map.items():
        if name.startswith("__") or not is_object_type(type_):
            continue
        assert isinstance(type_, GraphQLObjectType)
        for field_name, field in type_.fields.items():
            if is_list_type(get_nullable_type(field.type)):
                out[f"{name}.{field_name}"] = field
    return out


class TestEveryListIsPaginated:
    def test_every_unbounded_list_is_a_connection(self) -> None:
        schema = served()
        unpaginated = [
            key
            for key in list_fields(schema)
            # a connection's own edges and nodes are one page (at most `first`)
            if not is_connection(schema.get_type(key.split(".")[0])) and key not in BOUNDED_LISTS
        ]
        assert unpaginated == [], (
            "list fields that are neither a connection (first/after) nor on BOUNDED_LISTS"
            f" with the reason they stay small: {unpaginated}"
        )

    def test_the_bounded_list_names_only_list_fields_that_exist(self) -> None:
        # a stale entry would let a field of the same name come back unpaginated
        stale = sorted(set(BOUNDED_LISTS) - set(list_fields(served())))
        assert stale == []

    def test_every_connection_takes_first_and_after(self) -> None:
        schema = served()
        connections = []
        for name, type_ in schema.type_map.items():
            if name.startswith("__") or not isinstance(type_, GraphQLObjectType):
                continue
            for field_name, field in type_.fields.items():
                if is_connection(get_named_type(field.type)):
                    connections.append(f"{name}.{field_name}")
                    assert {"first", "after"} <= set(field.args), f"{name}.{field_name}"
                    # contract.md: `first: Int` (null asks for the default page)
                    assert str(field.args["first"].type) == "Int"
                    assert str(field.args["after"].type) == "String"
        assert sorted(connections) == ["Query.dossiers", "Query.units", "Unit.children"]


PAGE = """
query Page($first: Int, $after: String) {
  units(parentCode: "38", level: COMMUNE, asOf: "2023-01-01", first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { code } }
  }
}"""


class TestPagingThroughAConnection:
    async def test_small_pages_give_every_commune_of_a_province_once(self, gql: GraphQL) -> None:
        everything = (await gql.data(PAGE, {"first": 1000}))["units"]
        expected = [e["node"]["code"] for e in everything["edges"]]
        assert len(expected) == everything["totalCount"] > 400  # Thanh Hóa, before 2025
        seen: list[str] = []
        after: str | None = None
        pages = 0
        while True:
            page = (await gql.data(PAGE, {"first": 97, "after": after}))["units"]
            pages += 1
            assert page["totalCount"] == everything["totalCount"]
            assert len(page["edges"]) <= 97
            assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
            seen += [e["node"]["code"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
            after = page["pageInfo"]["endCursor"]
        assert pages == -(-len(expected) // 97)
        assert len(seen) == len(set(seen))  # nothing twice
        assert seen == expected  # nothing lost, in the same order

    async def test_first_null_is_the_default_page(self, gql: GraphQL) -> None:
        page = (await gql.data(PAGE, {"first": None}))["units"]
        assert len(page["edges"]) == 50
        assert page["pageInfo"]["hasNextPage"] is True
