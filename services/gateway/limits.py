"""What one client may ask of the GraphQL endpoint, checked before any upstream call.

Per request, in the router, before the body is parsed: a token bucket per client (429 with
`Retry-After`) and the body size (413), both problem+json (shared/limits.py, as for the
services' REST APIs). Per operation, in one schema
extension: persisted queries (Apollo's `extensions.persistedQuery.sha256Hash`, with an
allow-list mode), the parser's token limit, then depth, aliases, a static cost and
introspection over the parsed document with the request's variables applied, before
graphql-core's own validation (some of its rules are quadratic, so an abusive document is
refused before they run). Refusals are GraphQL errors with a stable `extensions.code` and
both messages."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
    parse,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from shared.settings import Settings
from shared.vn import format_vn_number

# queries clients register at run time (not in allow-list mode), in characters: the oldest go
APQ_CACHE_CHARS = 4 * 1024 * 1024
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


def refusal(code: str, message_vi: str, message_en: str, **extra: Any) -> GraphQLError:
    """A GraphQL error the client caused, with its stable code and both messages."""
    return GraphQLError(
        message_en,
        extensions={"code": code, "message_vi": message_vi, "message_en": message_en, **extra},
    )


# --- persisted queries ---------------------------------------------------------------------


def sha256_hex(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


class PersistedQueries:
    """Registered operations by the SHA-256 of their text, plus those clients register at run
    time (Apollo's automatic persisted queries) unless only registered ones may run."""

    def __init__(
        self,
        registry: Mapping[str, str],
        *,
        only_registered: bool,
        max_automatic_chars: int = APQ_CACHE_CHARS,
    ) -> None:
        self.registry = dict(registry)
        self.only_registered = only_registered
        self.automatic: OrderedDict[str, str] = OrderedDict()
        self.automatic_chars = 0
        self.max_automatic_chars = max_automatic_chars

    @classmethod
    def from_settings(cls, settings: Settings) -> PersistedQueries:
        path = settings.graphql_persisted_queries
        registry = load_registry(path) if path is not None else {}
        return cls(registry, only_registered=settings.graphql_persisted_only)

    def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> str | None:
        """The text to run: the client's own, or the one its hash names. Raises a refusal."""
        wanted = _persisted_hash(extensions)
        if wanted is None:
            if (
                query is not None
                and self.only_registered
                and sha256_hex(query) not in self.registry
            ):
                raise _not_allowed()
            return query
        if query is None:
            found = self.registry.get(wanted) or self._automatic(wanted)
            if found is None:
                raise GraphQLError(
                    "PersistedQueryNotFound",  # the message Apollo clients answer by resending
                    extensions={
                        "code": "PERSISTED_QUERY_NOT_FOUND",
                        "message_vi": "Không tìm thấy truy vấn đã lưu có mã băm này; hãy gửi"
                        " kèm nội dung truy vấn.",
                        "message_en": "No persisted query has this hash; send the query text"
                        " with it.",
                    },
                )
            return found
        if sha256_hex(query) != wanted:
            raise refusal(
                "PERSISTED_QUERY_HASH_MISMATCH",
                "Mã băm sha256Hash không khớp với nội dung truy vấn.",
                "provided sha does not match query",
            )
        if self.only_registered and wanted not in self.registry:
            raise _not_allowed()
        return query

    def remember(self, query: str, extensions: Mapping[str, Any] | None) -> None:
        """Keep an operation sent with its hash once it has passed the limits and validation,
        so that the client may send the hash alone from then on."""
        wanted = _persisted_hash(extensions)
        if (
            wanted is None
            or self.only_registered
            or wanted in self.registry
            or wanted in self.automatic
        ):
            return
        self.automatic[wanted] = query
        self.automatic_chars += len(query)
        while self.automatic_chars > self.max_automatic_chars:
            _, forgotten = self.automatic.popitem(last=False)
            self.automatic_chars -= len(forgotten)

    def _automatic(self, wanted: str) -> str | None:
        if self.only_registered:
            return None
        found = self.automatic.get(wanted)
        if found is not None:
            self.automatic.move_to_end(wanted)
        return found


def _persisted_hash(extensions: Mapping[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if not isinstance(persisted, dict):
        return None
    wanted = persisted.get("sha256Hash")
    if not isinstance(wanted, str) or persisted.get("version", 1) != 1:
        raise refusal(
            "PERSISTED_QUERY_INVALID",
            "extensions.persistedQuery cần version 1 và sha256Hash.",
            "extensions.persistedQuery needs version 1 and a sha256Hash.",
        )
    return wanted.lower()


def _not_allowed() -> GraphQLError:
    return refusal(
        "PERSISTED_QUERY_NOT_ALLOWED",
        "Máy chủ này chỉ chạy các truy vấn đã đăng ký; hãy gửi sha256Hash của một truy vấn đã"
        " đăng ký.",
        "This server runs registered operations only; send the sha256Hash of a registered one.",
    )


def load_registry(path: Path) -> dict[str, str]:
    """Operations by hash from a JSON file or a folder of them and of `.graphql` files (each
    file's text as it is, its hash computed). JSON: `{"<sha256>": "<query>"}`, or an Apollo
    persisted query manifest (`{"operations": [{"id": …, "body": …}]}`). Every hash is checked
    against its text, so a wrong entry stops the start-up rather than running another query."""
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    registry: dict[str, str] = {}
    for file in files:
        if file.suffix == ".graphql":
            text = file.read_text(encoding="utf-8")
            registry[sha256_hex(text)] = text
        elif file.suffix == ".json":
            data = orjson.loads(file.read_bytes())
            entries = (
                {op["id"]: op["body"] for op in data["operations"]}
                if isinstance(data, dict) and "operations" in data
                else data
            )
            for key, text in entries.items():
                if sha256_hex(text) != key.lower():
                    raise ValueError(f"{file}: {key} is not the SHA-256 of its query")
                registry[key.lower()] = text
    return registry


# --- the document: depth, aliases, cost, introspection --------------------------------------


@dataclass(frozen=True, slots=True)
class Measure:
    """What a selection set asks: nesting levels, aliases, estimated fields, introspection."""

    depth: int = 0
    aliases: int = 0
    cost: int = 0
    introspection: bool = False

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            max(self.depth, other.depth),
            self.aliases + other.aliases,
            self.cost + other.cost,
            self.introspection or other.introspection,
        )


class _Walk:
    """One pass over an operation, each fragment measured once per page size.

    The cost counts each field once per object it is asked on: a list field multiplies what
    is below it by its length, which is the `first` of the connection it belongs to (`edges`,
    `nodes`), its own `first`, or `list_size` when nothing says. `first` comes from the
    literal, the variable, or the argument's default in the schema."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        list_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.list_size = list_size
        self.memo: dict[tuple[str, int | None], Measure] = {}
        self.entered: set[str] = set()

    def selection_set(
        self, node: SelectionSetNode, parent: GraphQLNamedType | None, page: int | None
    ) -> Measure:
        total = Measure()
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(selection.selection_set, on, page)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, page)
        return total

    def fragment(self, name: str, page: int | None) -> Measure:
        key = (name, page)
        known = self.memo.get(key)
        if known is not None:
            return known
        definition = self.fragments.get(name)
        if definition is None or name in self.entered:
            return Measure()  # unknown or cyclic: graphql-core's validation says so
        self.entered.add(name)
        on = self.schema.get_type(definition.type_condition.name.value)
        measure = self.selection_set(definition.selection_set, on, page)
        self.entered.discard(name)
        self.memo[key] = measure
        return measure

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, page: int | None) -> Measure:
        name = node.name.value
        if name.startswith("__"):  # __typename is free; introspection is judged on its own
            return Measure(introspection=name in INTROSPECTION_FIELDS)
        aliases = 1 if node.alias is not None else 0
        definition = getattr(parent, "fields", {}).get(name)
        if definition is None:
            return Measure(aliases=aliases)  # an unknown field: validation reports it
        first = self._first(node, definition.args.get("first"))
        length = 1
        if is_list_type(get_nullable_type(definition.type)):
            length = page if page is not None else first if first is not None else self.list_size
        below = (
            self.selection_set(node.selection_set, get_named_type(definition.type), first)
            if node.selection_set is not None
            else Measure()
        )
        return Measure(
            1 + below.depth, aliases + below.aliases, length * (1 + below.cost), below.introspection
        )

    def _first(self, node: FieldNode, argument: Any) -> int | None:
        if argument is None:
            return None
        value: Any = argument.default_value
        for arg in node.arguments or ():
            if arg.name.value != "first":
                continue
            if isinstance(arg.value, IntValueNode):
                value = int(arg.value.value)
            elif isinstance(arg.value, VariableNode):
                value = self.variables.get(arg.value.name.value, value)
        if isinstance(value, bool) or not isinstance(value, int):
            return None  # an invalid value fails validation; a missing one has no bound here
        return max(value, 0)


def measure_operations(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any], list_size: int
) -> Iterator[tuple[OperationDefinitionNode, Measure]]:
    """Each operation of the document with what it asks (variables applied)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        defaults = {
            v.variable.name.value: int(v.default_value.value)
            for v in definition.variable_definitions or ()
            if isinstance(v.default_value, IntValueNode)
        }
        walk = _Walk(schema, fragments, {**defaults, **variables}, list_size)
        root = schema.get_root_type(definition.operation)
        yield definition, walk.selection_set(definition.selection_set, root, None)


@dataclass(frozen=True)
class DocumentLimits:
    max_depth: int
    max_aliases: int
    max_tokens: int
    max_cost: int
    list_size: int
    introspection: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentLimits:
        return cls(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_tokens=settings.graphql_max_tokens,
            max_cost=settings.graphql_max_cost,
            list_size=settings.graphql_list_size,
            introspection=settings.graphql_introspection_enabled,
        )

    def check(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> list[GraphQLError]:
        """The refusals of the document, empty when every operation is within the limits."""
        errors: list[GraphQLError] = []
        for operation, m in measure_operations(schema, document, variables, self.list_size):
            if m.introspection and not self.introspection:
                errors.append(introspection_disabled([operation]))
            for code, actual, limit in (
                ("QUERY_TOO_DEEP", m.depth, self.max_depth),
                ("TOO_MANY_ALIASES", m.aliases, self.max_aliases),
                ("QUERY_TOO_COSTLY", m.cost, self.max_cost),
            ):
                if actual > limit:
                    errors.append(_over_limit(code, actual, limit, operation))
        return errors


_OVER_LIMIT = {
    "QUERY_TOO_DEEP": (
        "Truy vấn lồng {actual} cấp; tối đa {limit} cấp.",
        "The query's depth is {actual} nested levels; at most {limit} are allowed.",
    ),
    "TOO_MANY_ALIASES": (
        "Truy vấn dùng {actual} bí danh (alias); tối đa {limit}.",
        "The operation uses {actual} aliases; at most {limit} are allowed.",
    ),
    "QUERY_TOO_COSTLY": (
        "Truy vấn quá lớn: chi phí ước tính {actual}, tối đa {limit}. Hãy giảm `first` hoặc"
        " chia nhỏ truy vấn.",
        "The query's estimated cost is {actual}; at most {limit} is allowed. Ask for fewer"
        " items (`first`) or split the query.",
    ),
}


def _over_limit(
    code: str, actual: int, limit: int, operation: OperationDefinitionNode
) -> GraphQLError:
    vi, en = _OVER_LIMIT[code]
    message_vi = vi.format(actual=format_vn_number(actual), limit=format_vn_number(limit))
    message_en = en.format(actual=f"{actual:,}", limit=f"{limit:,}")
    return GraphQLError(
        message_en,
        [operation],
        extensions={
            "code": code,
            "message_vi": message_vi,
            "message_en": message_en,
            "limit": limit,
            "actual": actual,
        },
    )


def introspection_disabled(nodes: list[OperationDefinitionNode] | None = None) -> GraphQLError:
    return GraphQLError(
        "Introspection is disabled on this server.",
        nodes,
        extensions={
            "code": "INTROSPECTION_DISABLED",
            "message_vi": "Máy chủ này không cho phép truy vấn cấu trúc lược đồ (introspection).",
            "message_en": "Introspection is disabled on this server.",
        },
    )


def too_many_tokens(max_tokens: int) -> GraphQLError:
    return refusal(
        "TOO_MANY_TOKENS",
        f"Truy vấn quá dài: hơn {max_tokens} token.",
        f"The document has more than {max_tokens} tokens.",
        limit=max_tokens,
    )


# The caches are keyed by the query's text: a DocumentNode hashes by walking its whole tree.


@lru_cache(maxsize=256)
def _parse(query: str, max_tokens: int) -> DocumentNode:
    return parse(query, max_tokens=max_tokens)


@lru_cache(maxsize=256)
def _refusals(
    limits: DocumentLimits,
    schema: GraphQLSchema,
    query: str,
    sizes: tuple[tuple[str, int], ...],
) -> tuple[GraphQLError, ...]:
    return tuple(limits.check(schema, _parse(query, limits.max_tokens), dict(sizes)))


@lru_cache(maxsize=256)
def _validate(
    schema: GraphQLSchema, query: str, max_tokens: int, rules: tuple[Any, ...]
) -> tuple[GraphQLError, ...]:
    return tuple(validate_document(schema, _parse(query, max_tokens), rules))


class OperationGuard(SchemaExtension):
    """One per operation. In place of strawberry's ParserCache and ValidationCache (caches
    shared by every request, as theirs), so that the limits are checked between the two."""

    def __init__(self, limits: DocumentLimits, persisted: PersistedQueries) -> None:
        super().__init__()
        self.limits = limits
        self.persisted = persisted

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        # a refusal raised here is the request's only error (strawberry catches it)
        context.query = self.persisted.resolve(context.query, context.operation_extensions)
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        assert context.query is not None  # strawberry refuses a request without one before
        try:
            context.graphql_document = _parse(context.query, self.limits.max_tokens)
        except GraphQLSyntaxError as exc:
            if "tokens" in exc.message and "Document contains more than" in exc.message:
                raise too_many_tokens(self.limits.max_tokens) from exc
            if "nested too deeply" in exc.message:
                raise refusal(
                    "QUERY_TOO_DEEP",
                    "Truy vấn lồng quá sâu.",
                    "The document is nested too deeply.",
                    limit=self.limits.max_depth,
                ) from exc
            raise
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.query is not None
        schema = context.schema._schema
        # only integers can be a `first`; the other variables do not change the measures
        variables = context.variables or {}
        sizes = tuple(sorted((k, v) for k, v in variables.items() if type(v) is int))
        refused = _refusals(self.limits, schema, context.query, sizes)
        errors = list(
            refused
            or _validate(
                schema, context.query, self.limits.max_tokens, tuple(context.validation_rules)
            )
        )
        context.pre_execution_errors = errors
        if not errors:
            self.persisted.remember(context.query, context.operation_extensions)
        yield
