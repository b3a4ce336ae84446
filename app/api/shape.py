"""Bounds on the shape of a document, checked while it is read and before it is validated.

Validation is where a document's cost hides: graphql-core's overlapping-fields
rule compares every pair of fields that share a response name in a selection
set, fragments and inline fragments expanded, so a few kilobytes of repeated
fields can hold a worker for seconds. Every other rule is linear in the
document. These bounds keep both terms small: a document within them validates
in milliseconds, and one outside them is refused before validation starts.

Two stages, cheapest first:

- `prescan` counts tokens and fragments in the raw text with one regular
  expression, before any parse: a document of many spreads or too many tokens
  is refused in microseconds.
- `ShapeParser` is graphql-core's parser counting as it goes: the parse stops
  at the first field, fragment or nesting level over a bound, so a refusal
  costs at most what the largest accepted document costs to parse.

Every bound leaves the contract's operations, the README's and the Postman
collection's examples, and GraphiQL's introspection query far inside it
(tests/test_api_limits.py checks them all).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.language import FragmentSpreadNode, Source
from graphql.language.parser import Parser, nested_too_deeply_error

#: Tokens of one document, comments included (as graphql-core counts them).
MAX_TOKENS = 1000
#: Fields written in one document (a field inside a fragment counts once).
MAX_FIELDS = 150
#: Fragment spreads and inline fragments written in one document.
MAX_FRAGMENTS = 30
#: Selection sets nested inside one another in one operation or fragment.
MAX_DEPTH = 16
#: Fields of one response name in one selection set, the fields of its
#: fragments and inline fragments included: validation compares each such
#: field with every other, and their selections with each other's, so this
#: is the quadratic term.
MAX_SAME_NAME = 4

# One alternative per lexical token of GraphQL; anything else is one
# character. Strings and comments are whole tokens, so the `...` inside them
# is not counted. The quantifiers are possessive: a string that never ends is
# read once, not again from every place it could have ended.
_TOKEN = re.compile(
    r'"""(?:[^"\\]++|\\"""|\\(?!""")|"(?!""))*+"""'  # block string
    r'|"(?:[^"\\\n\r]++|\\.)*+"'  # string
    r"|#[^\n\r]*+"  # comment
    r"|\.\.\."
    r"|[_A-Za-z][_0-9A-Za-z]*+"
    r"|-?[0-9][_0-9A-Za-z.+-]*+"
    r"|[^\s,\ufeff]"
)


class TooComplex(Exception):
    """A document outside the bounds; nothing of it runs."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def prescan(query: str) -> None:
    """Refuse a document with too many tokens or fragments, before it is parsed."""
    # Reading stops one token past the bound, however long the text.
    tokens = list(map(re.Match.group, itertools.islice(_TOKEN.finditer(query), MAX_TOKENS + 1)))
    if len(tokens) > MAX_TOKENS:
        raise TooComplex(f"the document holds more than {MAX_TOKENS} tokens")
    fragments = Counter(tokens)["..."]
    if fragments > MAX_FRAGMENTS:
        raise TooComplex(
            f"the document holds {fragments} fragment spreads and inline fragments; "
            f"at most {MAX_FRAGMENTS} are allowed"
        )


class ShapeParser(Parser):
    """graphql-core's parser, refusing a document as soon as it leaves the bounds."""

    def __init__(self, source: Source | str) -> None:
        super().__init__(source, max_tokens=MAX_TOKENS)
        self.fields = 0
        self.fragments = 0
        self._depth = 0

    def parse_field(self) -> FieldNode:
        self.fields += 1
        if self.fields > MAX_FIELDS:
            raise TooComplex(f"the document holds more than {MAX_FIELDS} fields")
        return super().parse_field()

    def parse_fragment(self) -> FragmentSpreadNode | InlineFragmentNode:
        self.fragments += 1
        if self.fragments > MAX_FRAGMENTS:
            raise TooComplex(
                f"the document holds more than {MAX_FRAGMENTS} fragment spreads "
                "and inline fragments"
            )
        return super().parse_fragment()

    def parse_selection_set(self) -> SelectionSetNode:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise TooComplex(f"selections are nested more than {MAX_DEPTH} levels deep")
        selection_set = super().parse_selection_set()
        self._depth -= 1
        _check_names(
            Counter(
                (selection.alias or selection.name).value
                for selection in selection_set.selections
                if isinstance(selection, FieldNode)
            )
        )
        return selection_set


def _check_names(names: Counter[str]) -> None:
    if not names:
        return
    name, count = names.most_common(1)[0]
    if count > MAX_SAME_NAME:
        raise TooComplex(
            f"one selection set asks for {name!r} {count} times (its fragments included); "
            f"at most {MAX_SAME_NAME} fields may share a response name there"
        )


class _MergedNames:
    """Response names of each selection set with its fragments merged in, each set checked.

    A fragment's names are worked out once however often it is spread.
    """

    def __init__(self, document: DocumentNode) -> None:
        self._fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self._done: dict[str, Counter[str]] = {}

    def check(self, document: DocumentNode) -> None:
        for definition in document.definitions:
            selection_set = getattr(definition, "selection_set", None)
            if selection_set is not None:
                self._names(selection_set)

    def _names(self, selection_set: SelectionSetNode) -> Counter[str]:
        names: Counter[str] = Counter()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                names[(selection.alias or selection.name).value] += 1
                if selection.selection_set is not None:
                    self._names(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                names.update(self._names(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                names.update(self._fragment(selection.name.value))
        _check_names(names)
        return names

    def _fragment(self, name: str) -> Counter[str]:
        found = self._done.get(name)
        if found is not None:
            return found
        self._done[name] = Counter()  # a cycle (refused by validation) adds nothing
        definition = self._fragments.get(name)
        if definition is not None:
            self._done[name] = self._names(definition.selection_set)
        return self._done[name]


def read(query: str, scanned: bool = False) -> tuple[DocumentNode, int]:
    """The parsed document and its token count (`scanned`: `prescan` passed already).

    Raises `TooComplex` for a document outside the bounds and
    `GraphQLSyntaxError` for one that is not GraphQL.
    """
    if not scanned:
        prescan(query)
    parser = ShapeParser(query)
    try:
        document = parser.parse_document()
    except RecursionError:
        raise nested_too_deeply_error(parser) from None
    _MergedNames(document).check(document)
    return document, parser.token_count
