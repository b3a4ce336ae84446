"""Whatever arrives at `/graphql`: a JSON answer below 500, never a traceback.

Hypothesis generates bodies, documents and typed mutation arguments; every
answer passes through `check_response`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from objmgr_client.operations import (
    ACQUIRE,
    CREATE_POOL,
    DELETE_POOL,
    FREE,
    RENEW,
    RESIZE_POOL,
)
from werkzeug.test import TestResponse

from app import Settings, create_app
from app.pool.errors import ErrorCode

from .api_support import (
    Api,
    check_response,
    code_of,
    granted,
    memory_app,
    refused,
)
from .conftest import STORE_KINDS, emptied

# --- fuzzing: whatever arrives, no 5xx and no traceback --------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
REQUEST_KEYS = st.sampled_from(["query", "variables", "operationName", "extensions"])
# Pieces of GraphQL, so that generated documents get past the lexer and into
# validation and execution.
# fmt: off
GRAPHQL_PIECES = st.sampled_from(
    [
        "{", "}", "(", ")", ":", "!", "$v", "$w", "...", "@include(if: true)", "query",
        "mutation", "subscription", "fragment F on Query", "...F", "on", "getObject",
        "version", "pool", "pools", "lease", "leases", "name", "size", "obj", "first",
        "after", "acquireObject", "freeObject", "renewLease", "createPool", "resizePool",
        "deletePool", "success", "code", "message", "token", "ttl", "wait", "label",
        '"default"', '"x"', "1", "0", "-1", "2147483648", "1.5", "true", "null", "[", "]",
        "Int", "String", "BigInt", "Float", "__schema", "__typename", "#", '"""',
    ]
)
# fmt: on


@pytest.fixture(scope="module")
def fuzz_api() -> Api:
    return Api(memory_app(pool_size=1000, max_wait=0.0))


def check_fuzzed(response: TestResponse) -> None:
    check_response(response)
    body = response.get_json(silent=True)
    assert isinstance(body, dict), response.get_data(as_text=True)
    assert "data" in body or "errors" in body


@settings(max_examples=150, deadline=None)
@given(body=JSON_VALUES)
def test_fuzz_any_json_body_gets_a_json_answer_below_500(fuzz_api: Api, body: Any) -> None:
    check_fuzzed(fuzz_api.post_body(body))


@settings(max_examples=150, deadline=None)
@given(body=st.dictionaries(REQUEST_KEYS, JSON_VALUES, max_size=4))
def test_fuzz_request_shaped_bodies_get_a_json_answer_below_500(
    fuzz_api: Api, body: dict[str, Any]
) -> None:
    check_fuzzed(fuzz_api.post_body(body))


@settings(max_examples=150, deadline=None)
@given(query=st.text(max_size=200), variables=JSON_VALUES)
def test_fuzz_any_text_as_query_gets_a_json_answer_below_500(
    fuzz_api: Api, query: str, variables: Any
) -> None:
    check_fuzzed(fuzz_api.post_body({"query": query, "variables": variables}))


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(GRAPHQL_PIECES, min_size=1, max_size=30),
    variables=st.dictionaries(st.sampled_from(["v", "w"]), JSON_VALUES, max_size=2),
)
def test_fuzz_graphql_like_documents_get_a_json_answer_below_500(
    fuzz_api: Api, pieces: list[str], variables: dict[str, Any]
) -> None:
    query = " ".join(pieces)
    check_fuzzed(fuzz_api.post_body({"query": query, "variables": variables}))
    check_fuzzed(fuzz_api.get(query, variables=json.dumps(variables)))


@settings(max_examples=100, deadline=None)
@given(
    body=st.binary(max_size=200),
    content_type=st.sampled_from(["application/json", "text/plain", ""]),
)
def test_fuzz_any_bytes_get_a_json_answer_below_500(
    fuzz_api: Api, body: bytes, content_type: str
) -> None:
    check_fuzzed(fuzz_api.request("POST", data=body, content_type=content_type))


ERROR_CODES = {code.value for code in ErrorCode}
MAYBE_TEXT = st.none() | st.text(max_size=300)
MAYBE_NUMBER = st.none() | st.floats() | st.integers(-(2**40), 2**40)
POOL_NAMES = st.sampled_from(["default", "other", "nope"]) | st.text(max_size=70)
OBJS = st.integers(-3, 8) | st.integers()
TOKENS = st.integers(-3, 8) | st.integers() | st.text(max_size=3) | st.floats()
TYPED_CALLS = st.one_of(
    st.tuples(
        st.just(("acquireObject", ACQUIRE)),
        st.fixed_dictionaries(
            {},
            optional={
                "pool": POOL_NAMES,
                "owner": MAYBE_TEXT,
                "label": MAYBE_TEXT,
                "ttl": MAYBE_NUMBER,
                "wait": st.none() | st.floats(max_value=0.01),
                "requestId": MAYBE_TEXT,
            },
        ),
    ),
    st.tuples(
        st.just(("freeObject", FREE)),
        st.fixed_dictionaries(
            {"obj": OBJS}, optional={"pool": POOL_NAMES, "token": st.none() | TOKENS}
        ),
    ),
    st.tuples(
        st.just(("renewLease", RENEW)),
        st.fixed_dictionaries(
            {"obj": OBJS, "token": TOKENS}, optional={"pool": POOL_NAMES, "ttl": MAYBE_NUMBER}
        ),
    ),
    st.tuples(
        st.sampled_from([("createPool", CREATE_POOL), ("resizePool", RESIZE_POOL)]),
        st.fixed_dictionaries({"name": POOL_NAMES, "size": st.integers(-2, 6) | st.integers()}),
    ),
    st.tuples(
        st.just(("deletePool", DELETE_POOL)),
        st.fixed_dictionaries({"name": POOL_NAMES}, optional={"force": st.booleans()}),
    ),
)


@pytest.fixture(scope="module", params=STORE_KINDS)
def typed_fuzz_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    store = "memory://"
    if request.param == "sqlite":
        store = f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/objmgr.sqlite3"
    elif request.param == "redis":
        store = emptied(request.getfixturevalue("redis_server"))
    app = create_app(Settings(store=store, pool_size=5, workers=1, max_wait=0.01))
    yield Api(app)
    app.extensions["objmgr"].store.close()


@settings(max_examples=300, deadline=None)
@given(call=TYPED_CALLS)
def test_fuzz_mutation_arguments_answer_a_payload_or_a_400_never_an_internal_error(
    typed_fuzz_api: Api, call: tuple[tuple[str, str], dict[str, Any]]
) -> None:
    (field, operation), variables = call

    response = typed_fuzz_api.post(operation, variables)

    body = response.get_json()
    if response.status_code == 400:
        assert code_of(response) == "BAD_USER_INPUT"
        assert body["data"] is None
        return
    assert response.status_code == 200, body
    assert "errors" not in body, body
    payload = body["data"][field]
    if payload["success"]:
        granted(payload)
    else:
        assert payload["code"] in ERROR_CODES, payload
        refused(payload, payload["code"])
