"""Compiled plans (`app.api.plans`): which operations compile and why the others
fall back, and the exact answers of a plan, error paths included, beside
graphql-core's for the same document.

Most cases run on a small schema of their own whose resolvers fail on purpose
(raising, returning null where the type forbids it, returning what the type
cannot serialize): objmgr's schema seldom does any of that, and a plan must do
it as graphql-core does.
"""

from __future__ import annotations

from typing import Any, cast

import graphene
import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    get_operation_ast,
    parse,
    validate,
)

from app.api.context import RequestContext
from app.api.plans import Plan, PlanAnswer, compile_plan, why_not_compiled
from app.api.results import execute_synchronously, result_body
from app.api.schema import schema as objmgr_schema

from .api_support import Api, memory_app

# --- a schema whose resolvers fail on purpose --------------------------------------


class Failure(Exception):
    """A resolver's bug: graphql-core hides its text behind INTERNAL_SERVER_ERROR."""


def _raise_coded(*_: Any) -> Any:
    raise GraphQLError("no such thing", extensions={"code": "NOT_FOUND"})


def _raise_bug(*_: Any) -> Any:
    raise Failure("a resolver's bug")


Colour = GraphQLEnumType("Colour", {"RED": "red", "BLUE": "blue"})

Item: GraphQLObjectType = GraphQLObjectType(
    "Item",
    lambda: {
        "id": GraphQLField(GraphQLNonNull(GraphQLInt)),
        "name": GraphQLField(GraphQLString),
        "needed": GraphQLField(GraphQLNonNull(GraphQLString)),
        "broken": GraphQLField(GraphQLString, resolve=_raise_bug),
        "colour": GraphQLField(Colour),
        "child": GraphQLField(Item, resolve=lambda item, _info: item.get("child")),
    },
)

Filter = GraphQLInputObjectType(
    "Filter", {"ids": GraphQLInputField(GraphQLList(GraphQLNonNull(GraphQLInt)))}
)

#: What each resolver of `Query` and `Mutation` saw, in call order.
calls: list[tuple[str, Any]] = []


def _items(_root: Any, _info: Any, first: int = 2, where: Any = None) -> list[dict[str, Any]]:
    calls.append(("items", where))
    return [
        {"id": index, "name": f"item {index}", "needed": "yes", "colour": "red"}
        for index in range(1, first + 1)
    ]


def _echo(_root: Any, _info: Any, text: str, times: int = 1, colour: str = "") -> str:
    return text * times


def _record(name: str) -> Any:
    def resolve(_root: Any, _info: Any, value: int) -> int:
        calls.append((name, value))
        return value

    return resolve


Query = GraphQLObjectType(
    "Query",
    {
        "items": GraphQLField(
            GraphQLNonNull(GraphQLList(GraphQLNonNull(Item))),
            args={
                "first": GraphQLArgument(GraphQLInt, default_value=2),
                "where": GraphQLArgument(Filter),
            },
            resolve=_items,
        ),
        "echo": GraphQLField(
            GraphQLString,
            args={
                "text": GraphQLArgument(GraphQLNonNull(GraphQLString)),
                "times": GraphQLArgument(GraphQLInt),
                "colour": GraphQLArgument(Colour),
            },
            resolve=_echo,
        ),
        # Null in a non-null field of a nullable item: the item is nulled.
        "holes": GraphQLField(
            GraphQLList(Item), resolve=lambda *_: [{"id": 1, "needed": None}, {"id": 2}]
        ),
        # Null in a non-null item of a nullable list: the list is nulled.
        "strict": GraphQLField(
            GraphQLList(GraphQLNonNull(Item)),
            resolve=lambda *_: [{"id": 1, "needed": "yes"}, None],
        ),
        "coded": GraphQLField(GraphQLString, resolve=_raise_coded),
        "codedNonNull": GraphQLField(GraphQLNonNull(GraphQLString), resolve=_raise_coded),
        "notInt": GraphQLField(GraphQLInt, resolve=lambda *_: "twelve"),
        "notList": GraphQLField(GraphQLList(GraphQLInt), resolve=lambda *_: 7),
        "badColour": GraphQLField(Colour, resolve=lambda *_: "green"),
        "nested": GraphQLField(
            Item,
            resolve=lambda *_: {"id": 1, "needed": "a", "child": {"id": 2, "needed": None}},
        ),
    },
)

Mutation = GraphQLObjectType(
    "Mutation",
    {
        "first": GraphQLField(
            GraphQLInt, args={"value": GraphQLArgument(GraphQLInt)}, resolve=_record("first")
        ),
        "second": GraphQLField(
            GraphQLInt, args={"value": GraphQLArgument(GraphQLInt)}, resolve=_record("second")
        ),
    },
)

SCHEMA = GraphQLSchema(query=Query, mutation=Mutation)
#: The plans pass the context through to the resolvers without reading it.
CONTEXT = cast(RequestContext, object())


def _plan(source: str, schema: GraphQLSchema = SCHEMA) -> Plan:
    document = parse(source)
    assert validate(schema, document) == []
    operation = get_operation_ast(document)
    assert operation is not None
    plan = compile_plan(schema, document, operation)
    assert plan is not None, why_not_compiled(schema, document, operation)
    return plan


def _graphql_core(
    source: str, variables: dict[str, Any] | None = None, suggestions: bool = True
) -> PlanAnswer:
    """graphql-core's answer, with the view's rule for the status."""
    result = execute_synchronously(
        SCHEMA, parse(source), context_value=CONTEXT, variable_values=variables
    )
    nothing_ran = bool(result.errors) and result.data is None
    refused = nothing_ran and all(error.path is None for error in result.errors or ())
    return PlanAnswer(400 if refused else 200, result_body(result, suggestions))


def _answers(
    source: str, variables: dict[str, Any] | None = None, suggestions: bool = True
) -> PlanAnswer:
    """The plan's answer, once required to be graphql-core's, key order included."""
    answer = _plan(source).run(CONTEXT, variables, suggestions)
    expected = _graphql_core(source, variables, suggestions)
    assert answer == expected
    assert repr(answer.body) == repr(expected.body)
    return answer


# --- what compiles, what falls back and why ----------------------------------------


def _why_not(source: str, schema: GraphQLSchema = objmgr_schema.graphql_schema) -> str | None:
    document = parse(source)
    operation = get_operation_ast(document)
    assert operation is not None
    return why_not_compiled(schema, document, operation)


@pytest.mark.parametrize(
    "source",
    [
        "{ version }",
        "{ v: version __typename }",
        "query($n: String!) { pool(name: $n) { name size policy { maxTtl } leases { obj } } }",
        "{ pool { ...P } } fragment P on Pool { name ... on Pool { size } }",
        'mutation { acquireObject(owner: "a", ttl: 10) { success code lease { obj token } } }',
        "mutation($o: Int!) { freeObject(obj: $o) { success code } }",
    ],
)
def test_queries_and_mutations_of_objmgr_compile(source: str) -> None:
    assert _why_not(source) is None


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("subscription { poolEvents { seq } }", "a subscription operation"),
        ("{ pool { name @include(if: true) } }", "a directive on a selection"),
        ("query($s: Boolean!) { version @skip(if: $s) }", "a directive on a selection"),
        (
            "{ pool { ...P } } fragment P on Pool { name @skip(if: false) }",
            "a directive on a selection",
        ),
        ("{ __schema { queryType { name } } }", "the introspection field __schema"),
        ('{ __type(name: "Pool") { name } }', "the introspection field __type"),
    ],
)
def test_what_plans_do_not_cover_falls_back_with_its_reason(source: str, reason: str) -> None:
    assert _why_not(source) == reason


def test_a_document_keeps_one_plan_per_operation() -> None:
    api = Api(memory_app())
    source = "query A { version } query B { v: version }"
    for name in ("A", "B", "A"):
        assert api.post(source, operation_name=name).status_code == 200
    prepared = api.app.extensions["objmgr.documents"].get(source)
    assert set(prepared.plans) == {"A", "B"}
    document = prepared.document
    operation = get_operation_ast(document, "A")
    assert operation is not None
    assert prepared.plan(objmgr_schema.graphql_schema, operation) is prepared.plans["A"]


def test_version_through_the_view_is_graphql_cores_answer() -> None:
    api = Api(memory_app())
    answer = api.post("{ version __typename }")
    assert answer.status_code == 200
    body = answer.get_json()
    assert list(body["data"]) == ["version", "__typename"]
    assert body["data"]["__typename"] == "Query"


# --- exact answers -----------------------------------------------------------------


def test_fields_aliases_typename_and_enums_in_document_order() -> None:
    answer = _answers('{ b: items(first: 1) { colour __typename id } a: echo(text: "x") }')
    assert answer == PlanAnswer(
        200,
        {"data": {"b": [{"colour": "RED", "__typename": "Item", "id": 1}], "a": "x"}},
    )


def test_fields_merged_under_one_response_name_collect_both_selections() -> None:
    answer = _answers("{ items(first: 1) { id } items(first: 1) { name id } }")
    assert answer.body == {"data": {"items": [{"id": 1, "name": "item 1"}]}}


def test_variables_and_their_defaults_reach_the_resolvers() -> None:
    source = "query($t: String!, $n: Int = 3) { echo(text: $t, times: $n) }"
    assert _answers(source, {"t": "ab"}).body == {"data": {"echo": "ababab"}}
    assert _answers(source, {"t": "ab", "n": 1}).body == {"data": {"echo": "ab"}}


def test_variables_that_do_not_fit_answer_400_and_run_nothing() -> None:
    calls.clear()
    source = (
        "query($t: String!, $n: Int, $f: Int) { echo(text: $t, times: $n) items(first: $f) { id } }"
    )
    answer = _answers(source, {"n": "two", "f": 1.5})
    assert answer.status == 400
    assert answer.body["data"] is None
    assert [error["message"] for error in answer.body["errors"]] == [
        "Variable '$t' of required type 'String!' was not provided.",
        "Variable '$n' got invalid value 'two'; Int cannot represent non-integer value: 'two'",
        "Variable '$f' got invalid value 1.5; Int cannot represent non-integer value: 1.5",
    ]
    assert calls == []


def test_an_input_list_written_as_a_literal_is_fresh_for_every_request() -> None:
    calls.clear()
    plan = _plan("{ items(first: 1, where: {ids: [1, 2]}) { id } }")
    plan.run(CONTEXT, None)
    cast(dict[str, Any], calls[0][1])["ids"].append(3)
    plan.run(CONTEXT, None)
    assert calls[1][1] == {"ids": [1, 2]}


def test_a_coded_error_keeps_its_code_and_nulls_its_nullable_field() -> None:
    answer = _answers('{ echo(text: "x") coded }')
    assert answer == PlanAnswer(
        200,
        {
            "data": {"echo": "x", "coded": None},
            "errors": [
                {
                    "message": "no such thing",
                    "locations": [{"line": 1, "column": 19}],
                    "path": ["coded"],
                    "extensions": {"code": "NOT_FOUND"},
                }
            ],
        },
    )


def test_an_error_in_a_non_null_root_field_nulls_all_the_data() -> None:
    answer = _answers('{ echo(text: "x") codedNonNull }')
    assert answer.status == 200
    assert answer.body["data"] is None
    assert answer.body["errors"][0]["path"] == ["codedNonNull"]


def test_a_resolvers_bug_is_an_internal_error_at_its_path() -> None:
    answer = _answers("{ items(first: 2) { id broken } }")
    assert answer.body["data"] == {"items": [{"id": 1, "broken": None}, {"id": 2, "broken": None}]}
    assert [error["path"] for error in answer.body["errors"]] == [
        ["items", 0, "broken"],
        ["items", 1, "broken"],
    ]
    assert {error["extensions"]["code"] for error in answer.body["errors"]} == {
        "INTERNAL_SERVER_ERROR"
    }


def test_null_in_a_non_null_field_nulls_the_nearest_nullable_parent() -> None:
    answer = _answers("{ holes { id needed } nested { id child { id needed } } }")
    assert answer.body["data"] == {"holes": [None, None], "nested": {"id": 1, "child": None}}
    # graphql-core raises these as TypeErrors, which `results` hides as a bug's.
    assert {error["extensions"]["code"] for error in answer.body["errors"]} == {
        "INTERNAL_SERVER_ERROR"
    }
    assert [error["path"] for error in answer.body["errors"]] == [
        ["holes", 0, "needed"],
        ["holes", 1, "needed"],
        ["nested", "child", "needed"],
    ]


def test_null_in_a_non_null_list_item_nulls_the_list() -> None:
    answer = _answers("{ strict { id } }")
    assert answer.body == {
        "data": {"strict": None},
        "errors": [
            {
                "message": "internal error; the server log has the details",
                "locations": [{"line": 1, "column": 3}],
                "path": ["strict", 1],
                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
            }
        ],
    }


def test_values_the_type_cannot_serialize_are_errors_of_their_field() -> None:
    answer = _answers("{ notInt notList badColour }")
    assert answer.body["data"] == {"notInt": None, "notList": None, "badColour": None}
    assert [error["path"] for error in answer.body["errors"]] == [
        ["notInt"],
        ["notList"],
        ["badColour"],
    ]


def test_errors_are_ordered_by_location_then_path_as_graphql_core_orders_them() -> None:
    # `items` runs first, but its error is located after `z`'s, on its second node.
    answer = _answers("{ items(first: 1) { id } z: coded items(first: 1) { broken } }")
    assert [error["path"] for error in answer.body["errors"]] == [["z"], ["items", 0, "broken"]]


def test_suggestions_are_left_out_when_asked() -> None:
    source = 'query($c: Colour) { echo(text: "x", colour: $c) }'
    messages = [
        _answers(source, {"c": "REDD"}, suggestions=suggestions).body["errors"][0]["message"]
        for suggestions in (True, False)
    ]
    assert messages == [
        "Variable '$c' got invalid value 'REDD'; Value 'REDD' does not exist in 'Colour' enum."
        " Did you mean the enum value 'RED'?",
        "Variable '$c' got invalid value 'REDD'; Value 'REDD' does not exist in 'Colour' enum.",
    ]


def test_mutation_root_fields_run_in_document_order() -> None:
    calls.clear()
    answer = _answers("mutation { b: second(value: 2) a: first(value: 1) c: second(value: 3) }")
    assert answer.body == {"data": {"b": 2, "a": 1, "c": 3}}
    assert calls == [("second", 2), ("first", 1), ("second", 3)] * 2


# --- graphene's default resolver, read without an `info` ---------------------------


class Source:
    """A value graphene's default resolver reads: attributes, one of them failing."""

    def __init__(self, name: str | None) -> None:
        self.name = name

    @property
    def broken(self) -> str:
        raise Failure("a property's bug")


class Thing(graphene.ObjectType):
    name = graphene.String()
    needed = graphene.String(required=True)
    broken = graphene.String()
    missing = graphene.Int()


class ThingQuery(graphene.ObjectType):
    things = graphene.List(Thing)

    @staticmethod
    def resolve_things(_root: Any, _info: Any) -> list[Any]:
        return [Source("one"), {"name": "two", "needed": "yes"}, Source(None)]


GRAPHENE_SCHEMA = graphene.Schema(query=ThingQuery).graphql_schema


def test_graphenes_default_resolver_reads_attributes_and_keys_as_graphql_core_does() -> None:
    source = "{ things { name missing broken } t: things { needed } }"
    answer = _plan(source, GRAPHENE_SCHEMA).run(CONTEXT, None)
    result = execute_synchronously(GRAPHENE_SCHEMA, parse(source), context_value=CONTEXT)
    assert answer == PlanAnswer(200, result_body(result, True))
    assert answer.body["data"] == {
        "things": [
            {"name": "one", "missing": None, "broken": None},
            {"name": "two", "missing": None, "broken": None},
            {"name": None, "missing": None, "broken": None},
        ],
        "t": [None, {"needed": "yes"}, None],
    }
    assert [error["path"] for error in answer.body["errors"]] == [
        ["things", 0, "broken"],
        ["things", 2, "broken"],
        ["t", 0, "needed"],
        ["t", 2, "needed"],
    ]
