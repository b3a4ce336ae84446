"""What a GET may run: an operation that would call `getObject` is refused with 405 before
anything of it runs, however the field is reached; every other query runs as over POST."""

from __future__ import annotations

import pytest

from app.version import __version__

from .api_support import Api, code_of, in_use

# Every way a document can reach the root field `getObject` of its operation.
REACHING_GET_OBJECT = [
    pytest.param("{ getObject }", id="plain"),
    pytest.param("query Q { version b: getObject }", id="beside-a-harmless-field"),
    pytest.param("query($yes: Boolean = true) { getObject @include(if: $yes) }", id="include"),
    pytest.param("query { ...Take } fragment Take on Query { getObject }", id="fragment"),
    pytest.param("{ taken: getObject }", id="alias"),
    pytest.param("{ ... on Query { getObject } }", id="inline-fragment"),
    pytest.param("{ ... { one: getObject } }", id="inline-fragment-without-type"),
    pytest.param(
        "query { ... on Query { ...Take } } fragment Take on Query { version n: getObject }",
        id="fragment-in-an-inline-fragment",
    ),
    pytest.param(
        "query { ...Outer } fragment Outer on Query { ...Inner } "
        "fragment Inner on Query { getObject }",
        id="fragment-in-a-fragment",
    ),
    pytest.param("{ a: getObject b: getObject }", id="two-aliases"),
    pytest.param("query($skip: Boolean = false) { getObject @skip(if: $skip) }", id="not-skipped"),
]


@pytest.mark.parametrize("query", REACHING_GET_OBJECT)
def test_a_get_reaching_get_object_is_refused_and_takes_nothing(api: Api, query: str) -> None:
    response = api.get(query)

    assert response.status_code == 405
    assert code_of(response) == "METHOD_NOT_ALLOWED"
    assert "POST" in response.headers["Allow"]
    assert in_use(api) == 0
    assert api.get_object() == 1


@pytest.mark.parametrize("query", REACHING_GET_OBJECT)
def test_the_same_document_over_post_takes_an_object(http: Api, query: str) -> None:
    data = http.data(query)

    taken = [value for name, value in data.items() if name != "version"]
    assert taken and all(isinstance(obj, int) for obj in taken)
    assert in_use(http) == len(taken)


def test_a_refused_get_leaves_every_object_to_the_next_post(http: Api) -> None:
    for _ in range(3):
        assert http.get("{ a: getObject b: getObject c: getObject }").status_code == 405

    assert [http.get_object() for _ in range(4)] == [1, 2, 3, None]


@pytest.mark.parametrize(
    "query",
    [
        "{ version getObject @skip(if: true) }",
        "{ version getObject @include(if: false) }",
        "query($take: Boolean!) { version ... @include(if: $take) { getObject } }",
        "query { version ...Take @skip(if: true) } fragment Take on Query { getObject }",
    ],
    ids=["skip", "include-false", "include-variable", "skipped-fragment"],
)
def test_a_get_whose_get_object_is_left_out_runs_the_rest(http: Api, query: str) -> None:
    response = http.request("GET", query_string={"query": query, "variables": '{"take": false}'})

    assert response.status_code == 200
    assert response.get_json() == {"data": {"version": __version__}}
    assert in_use(http) == 0


def test_a_get_without_get_object_is_answered(http: Api) -> None:
    response = http.get("query { ...Counts } fragment Counts on Query { pool { inUse size } }")

    assert response.status_code == 200
    assert response.get_json() == {"data": {"pool": {"inUse": 0, "size": 3}}}


def test_a_get_is_judged_by_the_operation_it_selects(http: Api) -> None:
    document = "query Take { getObject } query Read { version }"

    assert http.get(document, operationName="Take").status_code == 405
    read = http.get(document, operationName="Read")

    assert read.status_code == 200
    assert read.get_json() == {"data": {"version": __version__}}
    assert in_use(http) == 0


def test_a_get_whose_variables_do_not_fit_is_a_400_and_takes_nothing(http: Api) -> None:
    query = "query($take: Boolean!) { getObject @include(if: $take) }"

    response = http.get(query, variables='{"take": "yes"}')

    assert response.status_code == 400
    assert in_use(http) == 0


def test_post_get_object_hands_out_an_object(http: Api) -> None:
    response = http.post("{ getObject }")

    assert response.status_code == 200
    assert response.get_json() == {"data": {"getObject": 1}}
    assert in_use(http) == 1
