"""Compiled plans for cached documents: the fast path around graphql-core's `execute`.

A document is parsed and validated once per worker (`documents.DocumentCache`);
each of its operations is then compiled once, on its first run, into a `Plan`
that calls the same resolvers graphql-core would, with the same `info`,
arguments and error handling, and skips what graphql-core works out again per
request: collecting each selection set, looking up each field's definition,
coercing literal arguments, dispatching completion on the field's type.
A plan's answer is the body graphql-core's path answers, error for error
(tests/test_plan_differential.py runs both).

Plans cover queries and mutations over object, list, non-null, scalar and
enum types: fields, aliases, `__typename`, arguments as literals or
variables, fragments (spread or inline, which collect the same fields on every
request once no directive can drop one). `compile_plan` returns None, and
graphql-core runs the operation, for:

- subscriptions (served as streams, never by this path);
- a directive on any selection (@skip, @include: the fields depend on variables);
- the introspection fields `__schema` and `__type` (`__typename` is covered);
- interfaces and unions, and object types that check values (`is_type_of`);
- selections nested deeper than the compiler's stack.

Every resolver must return its value, never an awaitable: objmgr executes
synchronously (`results.execute_synchronously`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, OperationDefinitionNode
from graphql.execution.execute import CollectedErrors
from graphql.execution.values import get_variable_values

from .body import body_of, refused_body
from .compile import Compiled, NotCompiled, compile_operation
from .run import Run, execute_fields

if TYPE_CHECKING:
    from ..context import RequestContext

__all__ = ["NotCompiled", "Plan", "PlanAnswer", "compile_plan", "why_not_compiled"]

#: graphql-core's `max_coercion_errors`: the most variable errors one answer lists.
MAX_COERCION_ERRORS = 50


@dataclass(frozen=True)
class PlanAnswer:
    """What a plan answers: the HTTP status and the JSON body."""

    #: 200, or 400 when the variables did not fit the operation (nothing ran).
    status: int
    #: What `results.result_body` makes of graphql-core's result for the same request.
    body: dict[str, Any]


class Plan:
    """One operation of a document, compiled to run without graphql-core's executor."""

    def __init__(
        self, schema: GraphQLSchema, operation: OperationDefinitionNode, compiled: Compiled
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.compiled = compiled
        self.variable_definitions = tuple(operation.variable_definitions or ())

    def run(
        self,
        context: RequestContext,
        variables: dict[str, Any] | None,
        suggestions: bool = True,
    ) -> PlanAnswer:
        """Run the operation for one request; `suggestions` as `results.result_body` takes it."""
        coerced: dict[str, Any] = {}
        if self.variable_definitions:
            values = get_variable_values(
                self.schema,
                self.variable_definitions,
                variables or {},
                max_errors=MAX_COERCION_ERRORS,
            )
            if isinstance(values, list):
                return PlanAnswer(400, refused_body(values, suggestions))
            coerced = values
        compiled = self.compiled
        run = Run(
            self.schema, compiled.fragments, self.operation, coerced, context, CollectedErrors()
        )
        data: dict[str, Any] | None
        try:
            data = execute_fields(compiled.root_type, None, None, compiled.steps, run)
        except GraphQLError as error:  # a non-null root field's error nulls all the data
            run.errors.add(error, None)
            data = None
        return PlanAnswer(200, body_of(data, run.errors.errors, suggestions))


def compile_plan(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> Plan | None:
    """The plan of `operation`, a validated operation of `document`, or None when
    graphql-core must run it (the package's docstring lists when)."""
    try:
        return Plan(schema, operation, compile_operation(schema, document, operation))
    except NotCompiled:
        return None


def why_not_compiled(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> str | None:
    """Why `compile_plan` returns None for this operation; None when it compiles."""
    try:
        compile_operation(schema, document, operation)
    except NotCompiled as refusal:
        return refusal.reason
    return None
