"""Running a plan: resolvers called, values completed and errors collected as
graphql-core's executor does it, less the decisions settled when compiling.

Each function here mirrors one of graphql-core 3.2's `ExecutionContext`
methods (`execute_fields`, `execute_field`, `handle_field_error`,
`complete_value` and its leaf, list and object cases): the same exceptions are
caught at the same places and located on the same nodes and paths, so the
errors, their order and the null propagation come out the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLFieldResolver,
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    OperationDefinitionNode,
    Undefined,
    located_error,
)
from graphql.execution.execute import CollectedErrors
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, inspect, is_iterable

from ..results import synchronous

if TYPE_CHECKING:
    from graphql.language import FragmentDefinitionNode

    from ..context import RequestContext


@dataclass(eq=False, slots=True)
class Run:
    """One request's run of a plan: what every resolver's `info` carries, and the errors."""

    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    operation: OperationDefinitionNode
    variables: dict[str, Any]
    context: RequestContext
    errors: CollectedErrors


#: Completes a resolver's value for one output type: (value, step, path, run) -> JSON value.
Complete = Callable[[Any, "FieldStep", Path, Run], Any]


@dataclass(frozen=True, eq=False, slots=True)
class FieldStep:
    """One response key of a selection set, with everything about it that no request changes."""

    response_name: str
    field_name: str
    #: The field's nodes of the selection set, merged under the response name.
    nodes: list[FieldNode]
    field: GraphQLField
    resolve: GraphQLFieldResolver
    #: The coerced arguments when they hold no variable, else None: coerced per request.
    arguments: dict[str, Any] | None
    non_null: bool
    complete: Complete
    #: The name of the type the field is a field of, for the errors of its values.
    parent_name: str
    #: graphene's default resolver's key and default, for a field without arguments
    #: that reads its source's attribute or key: read without building the `info`
    #: graphene's resolver never reads. None for every other field.
    attribute: tuple[str, Any] | None = None
    #: `__typename`'s answer, which needs no resolver; None for every other field.
    typename: str | None = None


def execute_fields(
    parent_type: GraphQLObjectType,
    source: Any,
    path: Path | None,
    steps: tuple[FieldStep, ...],
    run: Run,
) -> dict[str, Any]:
    # Serial and parallel execution are one loop when no resolver is awaited,
    # so mutations' root fields run in order here too.
    results: dict[str, Any] = {}
    for step in steps:
        if step.typename is not None:
            results[step.response_name] = step.typename
        else:
            results[step.response_name] = execute_field(step, parent_type, source, path, run)
    return results


def execute_field(
    step: FieldStep, parent_type: GraphQLObjectType, source: Any, parent: Path | None, run: Run
) -> Any:
    path = Path(parent, step.response_name, step.parent_name)
    attribute = step.attribute
    if attribute is not None:
        try:
            if isinstance(source, dict):
                value = source.get(attribute[0], attribute[1])
            else:
                value = getattr(source, attribute[0], attribute[1])
            return step.complete(value, step, path, run)
        except Exception as raw_error:
            return _field_error(raw_error, step, path, run)
    info = GraphQLResolveInfo(
        step.field_name,
        step.nodes,
        step.field.type,
        parent_type,
        path,
        run.schema,
        run.fragments,
        None,
        run.operation,
        run.variables,
        run.context,
        synchronous,
    )
    try:
        arguments = step.arguments
        if arguments is None:
            arguments = get_argument_values(step.field, step.nodes[0], run.variables)
        return step.complete(step.resolve(source, info, **arguments), step, path, run)
    except Exception as raw_error:
        return _field_error(raw_error, step, path, run)


def _field_error(raw_error: Exception, step: FieldStep, path: Path, run: Run) -> None:
    """graphql-core's `handle_field_error`: a nullable field answers null, a non-null
    one hands the error to its parent."""
    error = located_error(raw_error, step.nodes, path.as_list())
    if step.non_null:
        raise error from None
    run.errors.add(error, path)
    return None


def complete_non_null(inner: Complete) -> Complete:
    def complete(result: Any, step: FieldStep, path: Path, run: Run) -> Any:
        if isinstance(result, Exception):
            raise result
        completed = inner(result, step, path, run)
        if completed is None:
            raise TypeError(
                f"Cannot return null for non-nullable field {step.parent_name}.{step.field_name}."
            )
        return completed

    return complete


def complete_leaf(leaf_type: GraphQLLeafType) -> Complete:
    serialize = leaf_type.serialize

    def complete(result: Any, step: FieldStep, path: Path, run: Run) -> Any:
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            return None
        serialized = serialize(result)
        if serialized is Undefined or serialized is None:
            raise TypeError(
                f"Expected `{inspect(leaf_type)}.serialize({inspect(result)})`"
                f" to return non-nullable value, returned: {inspect(serialized)}"
            )
        return serialized

    return complete


def complete_list(item: Complete, item_non_null: bool) -> Complete:
    def complete(result: Any, step: FieldStep, path: Path, run: Run) -> Any:
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            return None
        if not is_iterable(result):
            raise GraphQLError(
                "Expected Iterable, but did not find one for field"
                f" '{step.parent_name}.{step.field_name}'."
            )
        completed: list[Any] = []
        for index, value in enumerate(result):
            item_path = path.add_key(index, None)
            try:
                completed.append(item(value, step, item_path, run))
            except Exception as raw_error:
                error = located_error(raw_error, step.nodes, item_path.as_list())
                if item_non_null:
                    raise error from None
                run.errors.add(error, item_path)
                completed.append(None)
        return completed

    return complete


def complete_object(object_type: GraphQLObjectType, steps: tuple[FieldStep, ...]) -> Complete:
    def complete(result: Any, step: FieldStep, path: Path, run: Run) -> Any:
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            return None
        return execute_fields(object_type, result, path, steps, run)

    return complete
