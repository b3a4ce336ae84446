"""Compiling one operation of a validated document into the steps a plan runs.

What graphql-core decides per request and per field that no request can
change is decided here once: which fields each selection set collects under
which response keys (graphql-core's own `collect_fields`, which without
directives reads no variable), each field's definition and resolver, the
completion of its type, and the arguments written as literals.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from graphene.types.resolver import dict_or_attr_resolver
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    TypeNameMetaFieldDef,
    ValueNode,
    VariableNode,
    default_field_resolver,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import collect_fields, collect_sub_fields
from graphql.execution.values import get_argument_values

from .run import (
    Complete,
    FieldStep,
    complete_leaf,
    complete_list,
    complete_non_null,
    complete_object,
)

#: Argument values a resolver cannot change under the next request's feet.
IMMUTABLE = (str, int, float, bool, type(None), enum.Enum)


class NotCompiled(Exception):
    """The operation uses something plans do not cover; `reason` says what."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, eq=False)
class Compiled:
    root_type: GraphQLObjectType
    steps: tuple[FieldStep, ...]
    fragments: dict[str, FragmentDefinitionNode]


def compile_operation(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> Compiled:
    """The steps of `operation`; raise `NotCompiled` when graphql-core must run it."""
    if operation.operation not in (OperationType.QUERY, OperationType.MUTATION):
        raise NotCompiled(f"a {operation.operation.value} operation")
    root_type = schema.get_root_type(operation.operation)
    if root_type is None:
        raise NotCompiled(f"the schema has no {operation.operation.value} type")
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    _refuse_directives(operation.selection_set, fragments, set())
    compiler = _Compiler(schema, fragments)
    try:
        fields = collect_fields(schema, fragments, {}, root_type, operation.selection_set)
        steps = compiler.steps(root_type, fields)
    except RecursionError:
        raise NotCompiled("selections nested deeper than the compiler's stack") from None
    return Compiled(root_type, steps, fragments)


def _refuse_directives(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: set[str]
) -> None:
    """Raise `NotCompiled` at a directive on any selection the operation reaches:
    @skip and @include make the collected fields depend on the variables."""
    for selection in selection_set.selections:
        if selection.directives:
            raise NotCompiled("a directive on a selection")
        if isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name not in seen and name in fragments:
                seen.add(name)
                _refuse_directives(fragments[name].selection_set, fragments, seen)
        elif isinstance(selection, InlineFragmentNode | FieldNode) and selection.selection_set:
            _refuse_directives(selection.selection_set, fragments, seen)


class _Compiler:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments

    def steps(
        self, parent_type: GraphQLObjectType, fields: dict[str, list[FieldNode]]
    ) -> tuple[FieldStep, ...]:
        return tuple(self.step(parent_type, name, nodes) for name, nodes in fields.items())

    def step(self, parent_type: GraphQLObjectType, name: str, nodes: list[FieldNode]) -> FieldStep:
        field_name = nodes[0].name.value
        if field_name in ("__schema", "__type"):
            raise NotCompiled(f"the introspection field {field_name}")
        if field_name == "__typename":
            return FieldStep(
                response_name=name,
                field_name=field_name,
                nodes=nodes,
                field=TypeNameMetaFieldDef,
                resolve=default_field_resolver,
                arguments={},
                non_null=True,
                complete=_never,
                parent_name=parent_type.name,
                typename=parent_type.name,
            )
        field = parent_type.fields.get(field_name)
        if field is None:
            raise NotCompiled(f"no field {parent_type.name}.{field_name}")
        return FieldStep(
            response_name=name,
            field_name=field_name,
            nodes=nodes,
            field=field,
            resolve=field.resolve or default_field_resolver,
            arguments=_fixed_arguments(field, nodes[0]),
            non_null=is_non_null_type(field.type),
            complete=self.completion(field.type, nodes),
            parent_name=parent_type.name,
            attribute=_attribute(field),
        )

    def completion(self, output_type: GraphQLOutputType, nodes: list[FieldNode]) -> Complete:
        if is_non_null_type(output_type):
            assert isinstance(output_type, GraphQLNonNull)
            return complete_non_null(self.completion(output_type.of_type, nodes))
        if is_list_type(output_type):
            assert isinstance(output_type, GraphQLList)
            item_type = output_type.of_type
            return complete_list(self.completion(item_type, nodes), is_non_null_type(item_type))
        if is_leaf_type(output_type):
            return complete_leaf(output_type)  # type: ignore[arg-type]
        if is_object_type(output_type):
            assert isinstance(output_type, GraphQLObjectType)
            if output_type.is_type_of is not None:
                raise NotCompiled(f"{output_type.name} checks its values (is_type_of)")
            fields = collect_sub_fields(self.schema, self.fragments, {}, output_type, nodes)
            return complete_object(output_type, self.steps(output_type, fields))
        raise NotCompiled(f"the abstract type {output_type}")


def _never(*_: Any) -> Any:
    raise AssertionError("__typename is answered without completion")


def _attribute(field: GraphQLField) -> tuple[str, Any] | None:
    """The key and default graphene's default resolver reads for `field`, when the
    field takes no argument (so no request's arguments can fail); else None."""
    resolve = field.resolve
    if field.args or not isinstance(resolve, functools.partial):
        return None
    if resolve.func is not dict_or_attr_resolver or resolve.keywords or len(resolve.args) != 2:
        return None
    name, default = resolve.args
    return (name, default) if isinstance(name, str) else None


def _fixed_arguments(field: GraphQLField, node: FieldNode) -> dict[str, Any] | None:
    """The field's coerced arguments when no request can change them, else None."""
    if any(_holds_variable(argument.value) for argument in node.arguments):
        return None
    try:
        arguments = get_argument_values(field, node, {})
    except Exception:  # graphql-core's error, raised again by each request that runs it
        return None
    if not all(isinstance(value, IMMUTABLE) for value in arguments.values()):
        return None
    return arguments


def _holds_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    inner: Iterable[ValueNode] = ()
    if isinstance(value, ListValueNode):
        inner = value.values
    elif isinstance(value, ObjectValueNode):
        inner = (field.value for field in value.fields)
    return any(_holds_variable(item) for item in inner)
