"""What an operation costs, worked out before it runs.

Every field selected costs 1. A list field with a `first` argument costs its
`first` (the value given, from a literal or a variable, else the argument's
default in the schema) times the cost of its selection, so that
`pools { leases { obj } }` costs what the rows it may read cost; a list of
the schema's with no `first` (a payload's leases) costs the most it can hold
(`UNPAGED_LISTS`). Fragments
count where they are spread; inline fragments and `@skip`/`@include` count as
if they applied (the cost is an upper bound). Root fields are counted the same
way, fragments on the root expanded, aliases each counting.

A document is compiled once, when it enters the document cache, into plans
that mirror its selections; a plan whose multipliers are all written in the
document has its cost worked out then, and one with `first: $variable` is
evaluated for each request's variables, a walk over the plan (never the
document) with each fragment evaluated once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
)
from graphql.type import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef

from ..pool import limits
from .payloads import MAX_REVOKED_LISTED

#: List fields with no `first`, by (type, field): each costs the most items it can
#: hold, times its selection. Every other list without `first` (introspection's)
#: counts as one item.
UNPAGED_LISTS: Mapping[tuple[str, str], int] = {
    ("AcquireObjectsPayload", "leases"): limits.MAX_COUNT,
    ("RevokeLeasesPayload", "revoked"): MAX_REVOKED_LISTED,
}
#: At most this many root fields in one operation.
MAX_ROOT_FIELDS = 20
#: What a list field with a `first` that has no default counts for.
UNKNOWN_PAGE = 1000
# Costs stop growing here: a limit is far below it, and the numbers stay small
# however the fragments multiply.
CEILING = 2**62


@dataclass(frozen=True)
class First:
    """A `first` given as a variable: its value, else `fallback`."""

    variable: str
    fallback: int


@dataclass
class Plan:
    """One selection set: its fields, and the fragments spread in it."""

    fields: list[tuple[int | First, Plan | None]] = field(default_factory=list)
    spreads: list[str] = field(default_factory=list)
    inline: list[Plan] = field(default_factory=list)


@dataclass(frozen=True)
class OperationCost:
    root_fields: int
    plan: Plan
    fragments: Mapping[str, Plan]
    #: The cost when no `first` comes from a variable; else None.
    fixed: int | None

    def cost(self, variables: Mapping[str, Any] | None) -> int:
        if self.fixed is not None:
            return self.fixed
        return _evaluate(self.plan, self.fragments, variables or {}, {})


def compile_costs(schema: GraphQLSchema, document: DocumentNode) -> dict[str | None, OperationCost]:
    """The cost of each operation of a validated document, by operation name."""
    fragment_nodes = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    compiler = _Compiler(schema, fragment_nodes)
    costs: dict[str | None, OperationCost] = {}
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        root = schema.get_root_type(definition.operation)
        if root is None:
            continue
        defaults = {
            variable.variable.name.value: int(variable.default_value.value)
            for variable in definition.variable_definitions
            if isinstance(variable.default_value, IntValueNode)
        }
        compiler.variable_defaults = defaults
        compiler.fragments = {}
        plan = compiler.selection_set(root, definition.selection_set)
        fragments = compiler.fragments
        fixed = None
        if not compiler.uses_variables(plan):
            fixed = _evaluate(plan, fragments, {}, {})
        costs[definition.name.value if definition.name else None] = OperationCost(
            root_fields=_root_fields(plan, fragments, {}),
            plan=plan,
            fragments=fragments,
            fixed=fixed,
        )
    return costs


class _Compiler:
    def __init__(
        self, schema: GraphQLSchema, fragment_nodes: Mapping[str, FragmentDefinitionNode]
    ) -> None:
        self.schema = schema
        self.fragment_nodes = fragment_nodes
        self.variable_defaults: dict[str, int] = {}
        self.fragments: dict[str, Plan] = {}
        self._with_variables: dict[int, bool] = {}

    def selection_set(self, parent: GraphQLNamedType, selection_set: SelectionSetNode) -> Plan:
        plan = Plan()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                plan.fields.append(self.field(parent, selection))
            elif isinstance(selection, FragmentSpreadNode):
                self.fragment(selection.name.value)
                plan.spreads.append(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                condition = parent
                if selection.type_condition is not None:
                    condition = self.schema.get_type(selection.type_condition.name.value) or parent
                plan.inline.append(self.selection_set(condition, selection.selection_set))
        return plan

    def fragment(self, name: str) -> None:
        if name in self.fragments:
            return
        node = self.fragment_nodes[name]
        condition = self.schema.get_type(node.type_condition.name.value)
        assert condition is not None  # the document passed validation
        self.fragments[name] = Plan()  # spreads of spreads find it while it is built
        self.fragments[name] = self.selection_set(condition, node.selection_set)

    def field(self, parent: GraphQLNamedType, node: FieldNode) -> tuple[int | First, Plan | None]:
        definition = _field_definition(self.schema, parent, node.name.value)
        child = None
        if node.selection_set is not None and definition is not None:
            child = self.selection_set(get_named_type(definition.type), node.selection_set)
        return self.multiplier(parent, definition, node), child

    def multiplier(
        self, parent: GraphQLNamedType, definition: GraphQLField | None, node: FieldNode
    ) -> int | First:
        if definition is None:
            return 1
        if "first" not in definition.args:
            return UNPAGED_LISTS.get((parent.name, node.name.value), 1)
        if not isinstance(get_nullable_type(definition.type), GraphQLList):  # type: ignore[arg-type]
            return 1
        default = definition.args["first"].default_value
        fallback = default if isinstance(default, int) else UNKNOWN_PAGE
        for argument in node.arguments:
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(0, int(value.value))
            if isinstance(value, VariableNode):
                name = value.name.value
                return First(name, self.variable_defaults.get(name, fallback))
        return fallback

    def uses_variables(self, plan: Plan) -> bool:
        known = self._with_variables.get(id(plan))
        if known is not None:
            return known
        self._with_variables[id(plan)] = False  # a cycle adds nothing
        found = (
            any(isinstance(multiplier, First) for multiplier, _ in plan.fields)
            or any(child is not None and self.uses_variables(child) for _, child in plan.fields)
            or any(self.uses_variables(self.fragments[name]) for name in plan.spreads)
            or any(self.uses_variables(inline) for inline in plan.inline)
        )
        self._with_variables[id(plan)] = found
        return found


def _field_definition(
    schema: GraphQLSchema, parent: GraphQLNamedType, name: str
) -> GraphQLField | None:
    if name == "__typename":
        return TypeNameMetaFieldDef
    if parent is schema.query_type:
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
    # Objects and interfaces have fields; a union has only __typename.
    fields: Mapping[str, GraphQLField] | None = getattr(parent, "fields", None)
    return fields.get(name) if fields else None


def _first(multiplier: int | First, variables: Mapping[str, Any]) -> int:
    if isinstance(multiplier, int):
        return multiplier
    value = variables.get(multiplier.variable)
    if isinstance(value, int) and not isinstance(value, bool):
        return max(0, value)
    return multiplier.fallback


def _evaluate(
    plan: Plan,
    fragments: Mapping[str, Plan],
    variables: Mapping[str, Any],
    done: dict[str, int],
) -> int:
    total = 0
    for multiplier, child in plan.fields:
        total += 1
        if child is not None:
            total += _first(multiplier, variables) * _evaluate(child, fragments, variables, done)
    for name in plan.spreads:
        if name not in done:
            done[name] = 0  # a cycle adds nothing (validation refuses cycles)
            done[name] = _evaluate(fragments[name], fragments, variables, done)
        total += done[name]
    for inline in plan.inline:
        total += _evaluate(inline, fragments, variables, done)
    return min(total, CEILING)


def _root_fields(plan: Plan, fragments: Mapping[str, Plan], done: dict[str, int]) -> int:
    total = len(plan.fields)
    for name in plan.spreads:
        if name not in done:
            done[name] = 0
            done[name] = _root_fields(fragments[name], fragments, done)
        total += done[name]
    for inline in plan.inline:
        total += _root_fields(inline, fragments, done)
    return min(total, CEILING)
