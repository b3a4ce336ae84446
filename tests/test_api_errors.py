"""Requests the server cannot run: 4xx with a JSON errors body, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .api_support import (
    Api,
    code_of,
    error_of,
    in_use,
    memory_app,
)

# --- requests the server cannot run: 4xx with a JSON errors body, never 5xx ------------

GET_OBJECT_BODY = {"query": "{ getObject }"}

# (request keyword arguments, status, extensions.code)
BAD_REQUESTS = [
    pytest.param({"json": {"query": "{ getObject"}}, 400, "GRAPHQL_PARSE_FAILED", id="parse"),
    pytest.param({"json": {"query": "{ getObject(} }"}}, 400, "GRAPHQL_PARSE_FAILED", id="parse2"),
    pytest.param(
        {"json": {"query": "{ getObject nope }"}},
        400,
        "GRAPHQL_VALIDATION_FAILED",
        id="unknown-field",
    ),
    pytest.param(
        {"json": {"query": "mutation { freeObject { success } }"}},
        400,
        "GRAPHQL_VALIDATION_FAILED",
        id="missing-required-arg",
    ),
    pytest.param(
        {"json": {"query": 'mutation { freeObject(obj: "1") { success } }'}},
        400,
        "GRAPHQL_VALIDATION_FAILED",
        id="wrong-arg-type",
    ),
    pytest.param(
        {"json": {"query": '{ getObject(pool: "x") }'}},
        400,
        "GRAPHQL_VALIDATION_FAILED",
        id="unknown-arg",
    ),
    pytest.param(
        {"json": {"query": "{ getObject lease(obj: $o) { obj } }"}},
        400,
        "GRAPHQL_VALIDATION_FAILED",
        id="undefined-variable",
    ),
    pytest.param(
        {"json": {"query": "mutation { acquireObject }"}},
        400,
        "GRAPHQL_VALIDATION_FAILED",
        id="no-selection",
    ),
    # The contract names no code for an operation type the schema lacks.
    pytest.param(
        {"json": {"query": "subscription { getObject }"}},
        400,
        None,
        id="subscription",
    ),
    pytest.param(
        {"json": {"query": "query A { getObject }", "operationName": "B"}},
        400,
        "GRAPHQL_VALIDATION_FAILED",
        id="operation-name-unknown",
    ),
    pytest.param(
        {"json": {"query": "query A { getObject } query B { getObject }"}},
        400,
        "GRAPHQL_VALIDATION_FAILED",
        id="several-operations-no-name",
    ),
    pytest.param(
        {"json": {"query": "{ getObject }", "operationName": 1}},
        400,
        "BAD_REQUEST",
        id="operation-name-not-string",
    ),
    pytest.param(
        {"json": {"query": "query($o: Int!) { getObject lease(obj: $o) { obj } }"}},
        400,
        "BAD_USER_INPUT",
        id="required-variable-missing",
    ),
    pytest.param(
        {
            "json": {
                "query": "query($o: Int!) { getObject lease(obj: $o) { obj } }",
                "variables": {"o": "x"},
            }
        },
        400,
        "BAD_USER_INPUT",
        id="variable-wrong-type",
    ),
    pytest.param(
        {"json": {**GET_OBJECT_BODY, "variables": [1]}}, 400, "BAD_REQUEST", id="variables-list"
    ),
    pytest.param(
        {"json": {**GET_OBJECT_BODY, "variables": "{}"}},
        400,
        "BAD_REQUEST",
        id="variables-string",
    ),
    pytest.param(
        {"json": {**GET_OBJECT_BODY, "variables": 3}}, 400, "BAD_REQUEST", id="variables-number"
    ),
    pytest.param(
        {"json": {**GET_OBJECT_BODY, "extensions": []}}, 400, "BAD_REQUEST", id="extensions-list"
    ),
    pytest.param(
        {"data": '{"query": "{ getObject }"', "content_type": "application/json"},
        400,
        "BAD_REQUEST",
        id="bad-json",
    ),
    pytest.param(
        {"data": "", "content_type": "application/json"}, 400, "BAD_REQUEST", id="empty-body"
    ),
    pytest.param({"json": [GET_OBJECT_BODY]}, 400, "BAD_REQUEST", id="json-list-body"),
    pytest.param({"json": "{ getObject }"}, 400, "BAD_REQUEST", id="json-string-body"),
    pytest.param(
        {"data": "null", "content_type": "application/json"},
        400,
        "BAD_REQUEST",
        id="json-null-body",
    ),
    pytest.param(
        {
            "data": b'{"query": "{ getObject }", "x": "\xff\xfe"}',
            "content_type": "application/json",
        },
        400,
        "BAD_REQUEST",
        id="not-utf-8",
    ),
    pytest.param(
        {"data": json.dumps(GET_OBJECT_BODY), "content_type": "text/plain"},
        400,
        "BAD_REQUEST",
        id="text-plain",
    ),
    pytest.param(
        {"data": {"query": "{ getObject }"}},
        400,
        "BAD_REQUEST",
        id="form-urlencoded",
    ),
    pytest.param(
        {"data": "{ getObject }", "content_type": "application/graphql"},
        400,
        "BAD_REQUEST",
        id="application-graphql",
    ),
    pytest.param({"data": json.dumps(GET_OBJECT_BODY)}, 400, "BAD_REQUEST", id="no-content-type"),
    pytest.param({"json": {"query": 42}}, 400, "BAD_REQUEST", id="query-number"),
    pytest.param({"json": {"query": ["{ getObject }"]}}, 400, "BAD_REQUEST", id="query-list"),
    pytest.param({"json": {"query": {"q": 1}}}, 400, "BAD_REQUEST", id="query-object"),
    pytest.param({"json": {"query": True}}, 400, "BAD_REQUEST", id="query-true"),
    pytest.param({"json": {"query": ""}}, 400, "BAD_REQUEST", id="query-empty"),
    pytest.param({"json": {"variables": {}}}, 400, "BAD_REQUEST", id="query-missing"),
    pytest.param(
        {"json": {"query": "{ getObject }" + " " * 64 * 1024}},
        413,
        "PAYLOAD_TOO_LARGE",
        id="query-over-64KiB",
    ),
    pytest.param(
        {"json": {"query": "{ getObject }", "variables": {"pad": "x" * 2 * 1024 * 1024}}},
        413,
        "PAYLOAD_TOO_LARGE",
        id="body-over-1MiB",
    ),
    pytest.param(
        {
            "data": '{"query": "{ getObject }", "v": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "content_type": "application/json",
        },
        400,
        "BAD_REQUEST",
        id="json-nested-too-deep",
    ),
    pytest.param(
        {
            "data": '{"query": "{ getObject }", "v": 1' + "0" * 5000 + "}",
            "content_type": "application/json",
        },
        400,
        "BAD_REQUEST",
        id="json-integer-too-long",
    ),
]


@pytest.mark.parametrize(("request_kwargs", "status", "code"), BAD_REQUESTS)
def test_a_request_that_cannot_run_is_4xx_with_a_json_error_and_allocates_nothing(
    http: Api, request_kwargs: dict[str, Any], status: int, code: str | None
) -> None:
    response = http.request("POST", **request_kwargs)

    assert response.status_code == status, response.get_data(as_text=True)
    error = error_of(response)
    if code is not None:
        assert error["extensions"]["code"] == code
    assert in_use(http) == 0


def test_a_parse_error_names_where_it_is(http: Api) -> None:
    response = http.post("{\n  getObject\n")

    error = error_of(response)
    assert error["message"].startswith("Syntax Error")
    assert error["locations"] == [{"line": 3, "column": 1}]


def test_a_validation_error_says_what_is_wrong(http: Api) -> None:
    response = http.post("{ getObjects }")

    assert "getObjects" in error_of(response)["message"]
    assert response.get_json()["data"] is None


def test_an_operation_name_picks_one_of_several_operations(http: Api) -> None:
    document = "query Peek { pool { inUse } } query Take { getObject }"

    assert http.post(document, operation_name="Take").get_json() == {"data": {"getObject": 1}}
    assert http.post(document, operation_name="Peek").get_json() == {"data": {"pool": {"inUse": 1}}}


@pytest.mark.parametrize(
    "query",
    ["{ getObject }", "{ nope }", "{ getObject"],
    ids=["ok", "validation", "parse"],
)
def test_a_client_asking_for_graphql_response_json_gets_it_with_the_same_statuses(
    http: Api, query: str
) -> None:
    plain = Api(memory_app(pool_size=3)).post(query)

    strict = http.post(query, headers={"Accept": "application/graphql-response+json"})

    assert strict.status_code == plain.status_code
    assert strict.mimetype == "application/graphql-response+json"
    assert strict.get_json() == plain.get_json()


def test_get_with_variables_that_are_not_json_is_400(http: Api) -> None:
    response = http.get("query($n: String!) { pool(name: $n) { size } }", variables="{nope")

    assert response.status_code == 400
    assert code_of(response) == "BAD_REQUEST"


def test_get_with_variables_nested_too_deep_is_400(http: Api) -> None:
    response = http.get("{ version }", variables="[" * 100_000 + "]" * 100_000)

    assert response.status_code == 400
    assert code_of(response) == "BAD_REQUEST"


def test_get_without_a_query_is_400(http: Api) -> None:
    response = http.request("GET")

    assert response.status_code == 400
    assert "query" in error_of(response)["message"]


def test_a_document_nested_too_deeply_is_refused_as_too_complex(http: Api) -> None:
    response = http.post("{ a" * 10_000)

    assert response.status_code == 400
    assert code_of(response) == "QUERY_TOO_COMPLEX"
