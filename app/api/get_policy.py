"""What a GET may run: queries that change no state.

GET requests are cached, prefetched and retried by browsers and proxies, so
nothing that changes state is run for one. Mutations are refused by their
operation type; `getObject` is a query field that takes an object, so an
operation that would call it is refused too, before anything of it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution.collect_fields import collect_fields
from graphql.execution.values import get_variable_values

#: Root query fields that change state (by their name in the schema).
STATE_CHANGING_QUERY_FIELDS = frozenset({"getObject"})


def calls_state_changing_query_field(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
) -> bool:
    """Whether running `operation` with `variables` would call a state-changing query field.

    The root fields are collected as execution collects them: through fragments
    and inline fragments, under any alias, with `@skip` and `@include` decided
    by the variables. When the variables do not fit the operation nothing would
    run at all (execution answers their errors), so nothing is called.
    """
    if operation.operation is not OperationType.QUERY or schema.query_type is None:
        return False
    coerced = get_variable_values(
        schema, operation.variable_definitions or (), dict(variables or {})
    )
    if isinstance(coerced, list):
        return False
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    fields = collect_fields(schema, fragments, coerced, schema.query_type, operation.selection_set)
    return any(nodes[0].name.value in STATE_CHANGING_QUERY_FIELDS for nodes in fields.values())
