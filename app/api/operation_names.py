"""The name of what a request asks for, for its logs and metrics: bounded by the schema."""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

#: A request refused before its operation was known (auth, the body, parsing).
GRAPHQL = "graphql"
#: The GraphiQL page.
GRAPHIQL = "graphiql"


def root_fields(document: DocumentNode, operation: OperationDefinitionNode) -> str:
    """The operation's root field names, fragments on the root expanded, each
    once, sorted and joined by "+": `acquireObject`, `pool+pools`.

    Field names, never aliases: only the schema's root fields can appear, so
    the names a client can make are bounded by the schema's.
    """
    selections = operation.selection_set.selections
    if len(selections) == 1 and isinstance(selections[0], FieldNode):
        # Nearly every request: one root field, no fragment.
        return selections[0].name.value
    fragments = {
        definition.name.value: definition.selection_set
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    names: set[str] = set()
    _collect(operation.selection_set, fragments, names, set())
    return "+".join(sorted(names)) or GRAPHQL


def _collect(
    selection_set: SelectionSetNode,
    fragments: dict[str, SelectionSetNode],
    names: set[str],
    spread: set[str],
) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            _collect(selection.selection_set, fragments, names, spread)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            # Validation refused cycles already; a fragment is expanded once anyway.
            if name in fragments and name not in spread:
                spread.add(name)
                _collect(fragments[name], fragments, names, spread)
