"""Documents in the forms clients send them, made of the literal documents
hypothesis-graphql generates: arguments as variables (some declared nullable,
some with their literal as the variable's default), variables that do not fit,
selections dressed with aliases, fragments, `__typename`, `@include`/`@skip`,
repeated and split fields, and mutations with their payloads' `code`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    ArgumentNode,
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInputType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    is_list_type,
    is_non_null_type,
    print_ast,
    visit,
)
from graphql.language import ListTypeNode, TypeNode
from graphql.pyutils import Undefined
from hypothesis import strategies as st

from .plan_support import GRAPHQL_SCHEMA


def json_of(value: ValueNode) -> Any:
    """The JSON a client sends as a variable for a literal."""
    if isinstance(value, IntValueNode):
        return int(value.value)
    if isinstance(value, FloatValueNode):
        return float(value.value)
    if isinstance(value, (StringValueNode, EnumValueNode)):
        return value.value
    if isinstance(value, BooleanValueNode):
        return value.value
    if isinstance(value, NullValueNode):
        return None
    if isinstance(value, ListValueNode):
        return [json_of(item) for item in value.values]
    if isinstance(value, ObjectValueNode):
        return {field.name.value: json_of(field.value) for field in value.fields}
    raise TypeError(f"no JSON for {value!r}")


def type_node(type_: GraphQLInputType, nullable: bool = False) -> TypeNode:
    if is_non_null_type(type_):
        inner = type_node(get_nullable_type(type_))  # type: ignore[arg-type]
        return inner if nullable else NonNullTypeNode(type=inner)
    if is_list_type(type_):
        return ListTypeNode(type=type_node(type_.of_type))  # type: ignore[union-attr]
    return NamedTypeNode(name=NameNode(value=get_named_type(type_).name))


@dataclass(frozen=True)
class Site:
    """A literal argument of the document: where it is, its type, whether it has a default."""

    index: int
    type: GraphQLInputType
    has_default: bool
    value: ValueNode


class _Sites(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.found: list[Site] = []

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        argument = self.type_info.get_argument()
        if argument is None or isinstance(node.value, VariableNode):
            return
        has_default = argument.default_value is not Undefined
        self.found.append(Site(len(self.found), argument.type, has_default, node.value))


def argument_sites(document: DocumentNode) -> list[Site]:
    type_info = TypeInfo(GRAPHQL_SCHEMA)
    sites = _Sites(type_info)
    visit(document, TypeInfoVisitor(type_info, sites))
    return sites.found


@dataclass(frozen=True)
class Lift:
    """How one literal argument becomes a variable."""

    #: Declared nullable where the argument, non-null, has a default of its own.
    nullable: bool
    #: The literal moves into the operation as the variable's default and the
    #: request leaves the variable out.
    as_default: bool


class _Lifter(Visitor):
    def __init__(self, lifts: dict[int, Lift]) -> None:
        super().__init__()
        self.lifts = lifts
        self.index = -1

    def enter_argument(self, node: ArgumentNode, *_: Any) -> ArgumentNode | None:
        if isinstance(node.value, VariableNode):
            return None
        self.index += 1
        if self.index not in self.lifts:
            return None
        return ArgumentNode(
            name=node.name, value=VariableNode(name=NameNode(value=f"v{self.index}"))
        )


def lifted(
    document: DocumentNode, lifts: dict[int, Lift]
) -> tuple[str, dict[str, Any], list[Site]]:
    """The document with the chosen literals as variables, the variables to send, and
    the sites lifted."""
    sites = [site for site in argument_sites(document) if site.index in lifts]
    rewritten = visit(document, _Lifter(lifts))
    definitions = []
    variables: dict[str, Any] = {}
    for site in sites:
        lift = lifts[site.index]
        name = f"v{site.index}"
        default = None
        if lift.as_default and not isinstance(site.value, NullValueNode):
            default = site.value
        else:
            variables[name] = json_of(site.value)
        nullable = lift.nullable and site.has_default
        definitions.append(
            VariableDefinitionNode(
                variable=VariableNode(name=NameNode(value=name)),
                type=type_node(site.type, nullable=nullable),
                default_value=default,
                directives=(),
            )
        )
    operation = rewritten.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    rewritten = DocumentNode(
        definitions=[
            _with(operation, variable_definitions=tuple(definitions)),
            *rewritten.definitions[1:],
        ]
    )
    return print_ast(rewritten), variables, sites


@st.composite
def with_variables(draw: st.DrawFn, document: DocumentNode) -> tuple[str, dict[str, Any]]:
    """A document with some or all of its literal arguments sent as variables."""
    sites = argument_sites(document)
    lifts: dict[int, Lift] = {}
    for site in sites:
        if draw(st.integers(0, 3)) > 0:
            lifts[site.index] = Lift(
                nullable=draw(st.integers(0, 4)) == 0,
                as_default=draw(st.integers(0, 4)) == 0,
            )
    text, variables, _ = lifted(document, lifts)
    return text, variables


WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.sampled_from(["maxTtl", "x", "reuseFirst"]), st.integers(-1, 3), max_size=2),
)


@st.composite
def bad_variables(draw: st.DrawFn, document: DocumentNode) -> tuple[str, dict[str, Any]]:
    """A document sent with variables of which one is of the wrong type, left out,
    or not declared at all; the servers' answers must still be the same."""
    sites = argument_sites(document)
    lifts = {site.index: Lift(nullable=False, as_default=False) for site in sites}
    text, variables, _ = lifted(document, lifts)
    how = draw(st.sampled_from(["wrong", "missing", "undeclared"]))
    if how == "undeclared" or not variables:
        variables = {**variables, draw(st.sampled_from(["extra", "v0", "v99"])): draw(WRONG_VALUES)}
    elif how == "missing":
        variables.pop(draw(st.sampled_from(sorted(variables))))
    else:
        variables[draw(st.sampled_from(sorted(variables)))] = draw(WRONG_VALUES)
    return text, variables


def _fields_with_selections(node: SelectionSetNode) -> Iterator[SelectionSetNode]:
    yield node
    for selection in node.selections:
        if isinstance(selection, FieldNode) and selection.selection_set is not None:
            yield from _fields_with_selections(selection.selection_set)


DECORATIONS = ["typename", "alias", "include", "skip", "inline", "fragment", "duplicate", "split"]


def _field(name: str, alias: str | None = None) -> FieldNode:
    return FieldNode(
        name=NameNode(value=name),
        alias=NameNode(value=alias) if alias else None,
        arguments=(),
        directives=(),
    )


def _with(node: Any, **changes: Any) -> Any:
    fields = {key: getattr(node, key) for key in node.keys if key != "loc"}
    fields.update(changes)
    return type(node)(**fields)


@st.composite
def decorated(draw: st.DrawFn, document: DocumentNode) -> DocumentNode:
    """The document with one of its selection sets dressed as clients dress them."""
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    sets = list(_fields_with_selections(operation.selection_set))
    target = draw(st.sampled_from(sets))
    how = draw(st.sampled_from(DECORATIONS))
    selections = list(target.selections)
    position = draw(st.integers(0, len(selections) - 1))
    chosen = selections[position]
    fragments: list[Any] = []
    if how == "typename":
        selections.insert(position, _field("__typename", draw(st.sampled_from([None, "kind"]))))
    elif how == "alias" and isinstance(chosen, FieldNode):
        selections[position] = _with(chosen, alias=NameNode(value="renamed"))
    elif how in ("include", "skip"):
        condition: ValueNode = BooleanValueNode(value=draw(st.booleans()))
        directive = DirectiveNode(
            name=NameNode(value=how),
            arguments=(ArgumentNode(name=NameNode(value="if"), value=condition),),
        )
        selections[position] = _with(chosen, directives=(*(chosen.directives or ()), directive))
    elif how == "inline":
        selections[position] = InlineFragmentNode(
            type_condition=None,
            directives=(),
            selection_set=SelectionSetNode(selections=(chosen,)),
        )
    elif how == "fragment":
        parent = _parent_type(document, target)
        if parent is not None:
            fragments.append(
                FragmentDefinitionNode(
                    name=NameNode(value="Part"),
                    type_condition=NamedTypeNode(name=NameNode(value=parent)),
                    variable_definitions=None,
                    directives=(),
                    selection_set=SelectionSetNode(selections=(chosen,)),
                )
            )
            selections[position] = FragmentSpreadNode(name=NameNode(value="Part"), directives=())
    elif how == "duplicate":
        # The same field twice merges into one key of the answer.
        selections.insert(position + 1, chosen)
    elif how == "split" and isinstance(chosen, FieldNode) and chosen.selection_set is not None:
        # One field asked twice for parts of its selection: the answer merges them.
        inner = list(chosen.selection_set.selections)
        half = max(1, len(inner) // 2)
        selections[position : position + 1] = [
            _with(chosen, selection_set=SelectionSetNode(selections=tuple(part)))
            for part in (inner[:half], inner[half:] or inner[:half])
        ]
    replacement = SelectionSetNode(selections=tuple(selections))

    class Swap(Visitor):
        def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> Any:
            return replacement if node is target else None

    swapped = visit(document, Swap())
    return DocumentNode(definitions=(*swapped.definitions, *fragments))


def with_codes(document: DocumentNode) -> DocumentNode:
    """A mutation with `code` selected in each root payload, so that every refusal shows."""
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    roots = []
    for root in operation.selection_set.selections:
        if isinstance(root, FieldNode) and root.selection_set is not None:
            inner = root.selection_set.selections
            if not any(isinstance(s, FieldNode) and s.name.value == "code" for s in inner):
                root = _with(
                    root, selection_set=SelectionSetNode(selections=(*inner, _field("code")))
                )
        roots.append(root)
    selection_set = SelectionSetNode(selections=tuple(roots))
    return DocumentNode(
        definitions=(_with(operation, selection_set=selection_set), *document.definitions[1:])
    )


def _parent_type(document: DocumentNode, target: SelectionSetNode) -> str | None:
    """The name of the type a selection set selects from."""
    type_info = TypeInfo(GRAPHQL_SCHEMA)
    found: list[str] = []

    class Find(Visitor):
        def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> None:
            if node is target:
                parent = type_info.get_parent_type()
                if parent is not None:
                    found.append(parent.name)

    visit(document, TypeInfoVisitor(type_info, Find()))
    return found[0] if found else None


__all__ = ["bad_variables", "decorated", "with_codes", "with_variables"]
