"""Parsed, validated and costed documents, kept by their text in a cache bounded in bytes.

Parsing and validating a document costs far more than running it, and clients
send the same few documents over and over, so each distinct text is read once
per worker. The cache is bounded by an estimate of the memory its entries
hold, not by their number: one document of 2,000 tokens holds as much as a
few hundred small ones.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule

from .cost import MAX_ROOT_FIELDS, OperationCost, compile_costs
from .plans import Plan, compile_plan
from .results import without_suggestions
from .shape import TooComplex, prescan, read

#: An estimate of the bytes a cached entry holds: a parsed document keeps
#: every token (a `Token`, chained to its neighbours, for error locations), a
#: node for most of them, and each node its own `Location`; validation, the
#: cost plans and each operation's compiled plan (made on its first run) add
#: a part. Measured with tracemalloc, documents from `{ version }` to 2,000
#: tokens held 20 KB plus 200 to 600 bytes per token, plans compiled; this
#: estimate is at or above every one of them (tests/test_api_limits.py checks
#: it against tracemalloc, plans included), and the key's own size is added to it.
BYTES_PER_ENTRY = 40 * 1024
BYTES_PER_TOKEN = 640
BYTES_PER_CHARACTER = 2

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
TOO_COMPLEX = "QUERY_TOO_COMPLEX"


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    #: The bound, in estimated bytes.
    maxsize: int
    #: Entries held now.
    currsize: int
    #: Estimated bytes held now.
    bytes: int


@dataclass(frozen=True)
class Prepared:
    """A document that parsed and validated, with the cost of each of its operations
    and, once each has run, its plan."""

    document: DocumentNode
    costs: Mapping[str | None, OperationCost]
    #: Each operation's plan by the operation's name, None where graphql-core runs it.
    plans: dict[str | None, Plan | None] = field(default_factory=dict, compare=False)

    def plan(self, schema: GraphQLSchema, operation: OperationDefinitionNode) -> Plan | None:
        """The operation's plan, compiled on its first run; None when graphql-core must run it."""
        name = operation.name.value if operation.name else None
        try:
            return self.plans[name]
        except KeyError:
            # Two requests racing here compile the same plan twice; either one is kept.
            plan = self.plans[name] = compile_plan(schema, self.document, operation)
            return plan

    def check_limits(
        self, operation: OperationDefinitionNode, variables: Mapping[str, Any] | None, limit: int
    ) -> None:
        """Raise `TooComplex` when the operation is over the limits for these variables."""
        cost = self.costs.get(operation.name.value if operation.name else None)
        if cost is None:  # an operation type the schema lacks, refused before it runs
            return
        if cost.root_fields > MAX_ROOT_FIELDS:
            raise TooComplex(
                f"the operation has {cost.root_fields} root fields (aliases and fragments "
                f"counted); at most {MAX_ROOT_FIELDS} are allowed"
            )
        total = cost.cost(variables)
        if total > limit:
            raise TooComplex(
                f"the operation costs {total:,}, more than the limit of {limit:,} "
                "(each field costs 1; a list field costs its 'first' times its selection)"
            )


Entry = Prepared | tuple[GraphQLError, ...]


class DocumentCache:
    """Documents by their text, failures included, least recently used dropped first."""

    def __init__(
        self, schema: GraphQLSchema, introspection: bool, max_bytes: int = 32 * 1024 * 1024
    ) -> None:
        self._schema = schema
        self._introspection = introspection
        self._rules = tuple(specified_rules)
        if not introspection:
            self._rules += (NoSchemaIntrospectionCustomRule,)
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[Entry, int]] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = 0
        self._lock = threading.Lock()

    def get(self, query: str) -> Entry:
        with self._lock:
            found = self._entries.get(query)
            if found is not None:
                self._entries.move_to_end(query)
                self._hits += 1
                return found[0]
            self._misses += 1
        entry, size = self._load(query)
        if size:
            self._keep(query, entry, size)
        return entry

    def cache_info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(
                self._hits, self._misses, self.max_bytes, len(self._entries), self._bytes
            )

    def _keep(self, query: str, entry: Entry, size: int) -> None:
        if size > self.max_bytes:
            return
        with self._lock:
            if query in self._entries:
                return
            self._entries[query] = (entry, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def _load(self, query: str) -> tuple[Entry, int]:
        """The entry for a text and its estimated size; size 0 when not worth keeping."""
        try:
            prescan(query)
        except TooComplex as refusal:
            # Refused from counts alone: cheaper to count again than to keep.
            return (self._error(refusal.message, TOO_COMPLEX),), 0
        base = BYTES_PER_ENTRY + sys.getsizeof(query)
        try:
            document, tokens = read(query, scanned=True)
        except TooComplex as refusal:
            return (self._error(refusal.message, TOO_COMPLEX),), base
        except GraphQLError as error:
            return (self._coded(error, PARSE_FAILED),), base
        size = base + BYTES_PER_TOKEN * tokens + BYTES_PER_CHARACTER * len(query)
        errors = validate(self._schema, document, self._rules)
        if errors:
            # The errors point into the document, which they keep alive.
            return tuple(self._coded(error, VALIDATION_FAILED) for error in errors), size
        return Prepared(document, compile_costs(self._schema, document)), size

    def _error(self, message: str, code: str) -> GraphQLError:
        return GraphQLError(message, extensions={"code": code})

    def _coded(self, error: GraphQLError, code: str) -> GraphQLError:
        message = error.message if self._introspection else without_suggestions(error.message)
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=error.original_error,
            extensions={**(error.extensions or {}), "code": code},
        )
