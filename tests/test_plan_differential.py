"""The fast path answers every request as graphql-core does.

Each case runs on a pair of servers (`plan_support.Twins`) that differ only in
whether their view runs compiled plans; both start from the same state, read
one clock, and get the same requests in the same order, so any difference in
an answer (status, media type, data with its key order, errors with their
messages, locations, paths and codes) is the plan's. Documents are generated
from the live schema by hypothesis-graphql and sent as written, with their
arguments as variables, with variables that do not fit, and dressed with
aliases, fragments and directives; fixed cases cover the documents clients
send most and each refusal a resolver can answer; and the documents clients
send most must take a plan, so that the comparison cannot pass by falling back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import DocumentNode, print_ast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries
from objmgr_client.operations import (
    ACQUIRE,
    ACQUIRE_MANY,
    CREATE_POOL,
    DELETE_POOL,
    EVENTS,
    FREE,
    FREE_DEFAULT,
    GET_OBJECT,
    LEASE,
    LEASES,
    OWNER_LEASES,
    POOL,
    POOLS,
    RENEW,
    RESIZE_POOL,
    REVOKE,
    SET_POLICY,
    VERSION,
)

from app import Settings
from app.api.plans import Plan

from .plan_documents import bad_variables, decorated, with_codes, with_variables
from .plan_support import (
    GRAPHQL_SCHEMA,
    PLANNED,
    Call,
    Fallbacks,
    Pairs,
    Twins,
    auth_settings,
    exact,
    open_settings,
    path_taken,
    plan_of,
)

#: What the bench sends (bench/wrk.py), and the shortest documents clients send.
BENCH_ACQUIRE = "mutation { acquireObject { success lease { obj token } } }"
BARE_VERSION = "{ version }"
BARE_POOL = "{ pool { name size available inUse waiting } }"
ACQUIRE_TEN = "mutation { acquireObjects(count: 10) { success code message leases { obj token } } }"

#: The documents clients send most: each must take a plan.
COMMON_DOCUMENTS = {
    "bench acquireObject": BENCH_ACQUIRE,
    "{ version }": BARE_VERSION,
    "pool {}": BARE_POOL,
    "acquireObjects(count: 10)": ACQUIRE_TEN,
    "Acquire": ACQUIRE,
    "AcquireMany": ACQUIRE_MANY,
    "Free": FREE,
    "FreeDefault": FREE_DEFAULT,
    "Renew": RENEW,
    "Version": VERSION,
    "Pool": POOL,
    "Leases": LEASES,
    "OwnerLeases": OWNER_LEASES,
    "Lease": LEASE,
}

VARIANTS: dict[str, Settings] = {
    # A low cost limit, so that generated lists run into it often.
    "open": open_settings(pool_size=5, max_wait=0.0, max_cost=20_000),
    # Production: auth on, and messages without suggestions.
    "auth-production": auth_settings(pool_size=5, max_wait=0.0, env="production"),
}
CALLERS: dict[str, list[str | None]] = {"open": [None], "auth-production": ["alice", "bob", "root"]}

POOL_NAMES = ["default", "other", "nope", "", "bad name!"]
# Mostly values the seeded state knows (its pools, owners, objects and tokens), so
# that generated calls meet its refusals and not only the checks of their values.
STRINGS = st.one_of(
    st.sampled_from(["default", "default", "other", "alice", "bob"]),
    st.sampled_from([*POOL_NAMES, "job-1", "r1"]),
    st.text(max_size=6),
)
SMALL = st.one_of(st.integers(1, 3), st.integers(1, 3), st.integers(-1, 6))
SCALARS = {
    "Int": (SMALL | st.integers(-(2**31), 2**31 - 1)).map(nodes.Int),
    "BigInt": (SMALL | st.integers(-(2**70), 2**70)).map(nodes.Int),
    "Float": st.sampled_from([10.0, 30.0, 0.5, 0.0, 61.0, -1.0, 1e9]).map(nodes.Float),
    "String": STRINGS.map(nodes.String),
}
GENERATED = settings(
    max_examples=160,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FALLBACKS = Fallbacks()


@pytest.fixture(scope="module", autouse=True)
def fallback_report() -> Iterator[None]:
    yield
    print("\n" + FALLBACKS.report())


def twins(variant: str) -> Twins:
    """A pair in the state every generated case starts from: leases held in two pools,
    one of them with a policy, so that frees, renewals and acquires meet each refusal."""
    pair = Twins(VARIANTS[variant])
    admin = "root" if variant == "auth-production" else None
    alice = "alice" if variant == "auth-production" else None
    bob = "bob" if variant == "auth-production" else None
    policy = {"maxPerOwner": 1, "maxTtl": 60, "reuseDelay": 5}
    pair.same(Call(CREATE_POOL, {"name": "other", "size": 3, "policy": policy}, caller=admin))
    for variables, caller in (
        ({"owner": "alice", "ttl": 30, "label": "job-1", "requestId": "r1"}, alice),
        ({"owner": "bob", "label": "b"}, bob),
        ({"pool": "other", "owner": "alice", "ttl": 10}, alice),
    ):
        assert pair.same(Call(ACQUIRE, variables, caller=caller)).json()["data"]["acquireObject"][
            "success"
        ]
    pair.clock.advance(1)
    return pair


def identity(document: DocumentNode) -> DocumentNode:
    return document


def run_twice(pair: Twins, call: Call, advances: list[float]) -> None:
    """Send `call` twice to both servers: the second time the document is cached."""
    for seconds in advances:
        pair.same(call)
        pair.clock.advance(seconds)


def generated_case(data: st.DataObject, document: DocumentNode, query: bool) -> None:
    variant = data.draw(st.sampled_from(sorted(VARIANTS)), label="variant")
    if data.draw(st.booleans(), label="decorate"):
        document = data.draw(decorated(document), label="decorated")
    forms = ["literal", "variables", "bad variables"] + (["GET"] if query else [])
    form = data.draw(st.sampled_from(forms), label="form")
    variables: dict[str, Any] | None = None
    text = print_ast(document)
    if form in ("variables", "GET"):
        text, variables = data.draw(with_variables(document), label="with variables")
    elif form == "bad variables":
        text, variables = data.draw(bad_variables(document), label="bad variables")
    caller = data.draw(st.sampled_from(CALLERS[variant]), label="caller")
    advances = data.draw(st.lists(st.sampled_from([0.0, 5.0, 31.0]), min_size=2, max_size=2))
    pair = twins(variant)
    try:
        method = "GET" if form == "GET" else "POST"
        run_twice(pair, Call(text, variables, caller=caller, method=method), advances)
        pair.same_state()
    finally:
        FALLBACKS.note(pair)
        pair.close()


@GENERATED
@given(data=st.data())
def test_generated_queries_answer_as_graphql_core(data: st.DataObject) -> None:
    document = data.draw(
        queries(GRAPHQL_SCHEMA, custom_scalars=SCALARS, print_ast=identity), label="query"
    )
    generated_case(data, document, query=True)


@GENERATED
@given(data=st.data())
def test_generated_mutations_answer_as_graphql_core(data: st.DataObject) -> None:
    document = data.draw(
        mutations(GRAPHQL_SCHEMA, custom_scalars=SCALARS, print_ast=identity), label="mutation"
    )
    if data.draw(st.integers(0, 3), label="codes") > 0:
        document = with_codes(document)
    generated_case(data, document, query=False)


# --- fixed cases --------------------------------------------------------------------------


def acquired(pair: Twins, call: Call) -> dict[str, Any]:
    payload = pair.same(call).json()["data"]["acquireObject"]
    assert payload["success"], payload
    return dict(payload["lease"])


def code(pair: Twins, call: Call) -> Any:
    """The refusal code of the one mutation of `call`, the same on both servers."""
    (payload,) = pair.same(call).json()["data"].values()
    return payload["code"]


def error_codes(pair: Twins, call: Call, status: int = 200) -> list[str]:
    answer = pair.same(call)
    assert answer.status == status, answer.text
    return [error["extensions"]["code"] for error in answer.json().get("errors", [])]


def noted(pair: Twins) -> Iterator[Twins]:
    yield pair
    try:
        pair.same_state()
        FALLBACKS.note(pair)
    finally:
        pair.close()


@pytest.fixture
def open_pair() -> Iterator[Twins]:
    yield from noted(Twins(open_settings(pool_size=3, max_wait=0.0)))


@pytest.fixture
def auth_pair() -> Iterator[Twins]:
    yield from noted(Twins(auth_settings(pool_size=3, max_wait=0.0, env="production")))


def planned(pair: Twins, *queries: str) -> None:
    """Check the server with plans ran each of these documents as a plan."""
    for query in queries:
        assert path_taken(pair.fast, Call(query)) == PLANNED, query


def test_leases_granted_freed_and_renewed_answer_as_graphql_core(open_pair: Twins) -> None:
    pair = open_pair
    first = acquired(pair, Call(ACQUIRE, {"owner": "alice", "ttl": 30, "requestId": "r1"}))
    replay = pair.same(Call(ACQUIRE, {"owner": "alice", "ttl": 30, "requestId": "r1"}))
    assert replay.json()["data"]["acquireObject"]["replayed"] is True
    acquired(pair, Call(BENCH_ACQUIRE))
    acquired(pair, Call(ACQUIRE, {"obj": 3, "label": "named"}))
    pair.same(Call(BENCH_ACQUIRE))  # refused: success false, no lease
    assert code(pair, Call(ACQUIRE)) == "POOL_EXHAUSTED"
    assert code(pair, Call(ACQUIRE, {"obj": 3})) == "OBJECT_HELD"
    assert code(pair, Call(ACQUIRE, {"obj": 9})) == "OUT_OF_RANGE"
    assert code(pair, Call(ACQUIRE, {"pool": "nope"})) == "POOL_NOT_FOUND"
    assert code(pair, Call(ACQUIRE, {"ttl": 0})) == "BAD_USER_INPUT"
    assert code(pair, Call(ACQUIRE, {"pool": "bad name!"})) in ("BAD_USER_INPUT", "POOL_NOT_FOUND")
    pair.clock.advance(10)
    renew = {"obj": first["obj"], "token": first["token"], "ttl": 60}
    assert code(pair, Call(RENEW, renew)) is None
    assert code(pair, Call(RENEW, {**renew, "token": first["token"] + 100})) == "STALE_TOKEN"
    assert code(pair, Call(RENEW, {**renew, "ttl": -1})) == "BAD_USER_INPUT"
    stale = {"obj": first["obj"], "token": first["token"] + 100}
    assert code(pair, Call(FREE, stale)) == "STALE_TOKEN"
    assert code(pair, Call(FREE, {"obj": first["obj"], "token": first["token"]})) is None
    assert code(pair, Call(FREE, {"obj": first["obj"]})) == "NOT_ALLOCATED"
    assert code(pair, Call(RENEW, renew)) == "NOT_ALLOCATED"
    assert code(pair, Call(FREE_DEFAULT, {"obj": 0})) == "OUT_OF_RANGE"
    assert code(pair, Call(FREE, {"obj": 1, "pool": "nope"})) == "POOL_NOT_FOUND"
    pair.same(Call(GET_OBJECT))
    pair.same(Call(GET_OBJECT))  # none free: null, no error
    pair.clock.advance(61)  # every lease with a TTL has expired
    assert code(pair, Call(RENEW, {"obj": 2, "token": 2})) in ("NOT_ALLOCATED", None)
    for query in (BARE_VERSION, VERSION, BARE_POOL):
        assert error_codes(pair, Call(query)) == []
    pair.same(Call(POOL, {"name": "nope"}))
    pair.same(Call(POOLS, {"first": 2}))
    pair.same(Call(LEASES, {"first": 2, "after": 1}))
    pair.same(Call(OWNER_LEASES, {"owner": "alice"}))
    pair.same(Call(LEASE, {"obj": 3}))
    pair.same(Call(EVENTS, {"after": 2, "first": 5}))
    planned(pair, ACQUIRE, BENCH_ACQUIRE, RENEW, FREE, FREE_DEFAULT, BARE_VERSION, VERSION)
    planned(pair, BARE_POOL, POOL, POOLS, LEASES, OWNER_LEASES, LEASE, EVENTS, GET_OBJECT)


def test_acquire_many_answers_as_graphql_core(open_pair: Twins) -> None:
    pair = open_pair
    pair.same(Call(CREATE_POOL, {"name": "wide", "size": 25}))
    ten = pair.same(Call(ACQUIRE_TEN.replace("acquireObjects(", 'acquireObjects(pool: "wide", ')))
    assert len(ten.json()["data"]["acquireObjects"]["leases"]) == 10
    many = {"count": 5, "pool": "wide", "contiguous": True, "owner": "o", "requestId": "m"}
    pair.same(Call(ACQUIRE_MANY, many))
    pair.same(Call(ACQUIRE_MANY, many))  # replayed
    pair.same(Call(ACQUIRE_MANY, {**many, "requestId": None, "count": 20}))
    pair.same(Call(ACQUIRE_MANY, {"count": 0}))
    pair.same(Call(ACQUIRE_MANY, {"count": 1001}))
    pair.same(Call(ACQUIRE_TEN))  # the default pool has 3
    planned(pair, ACQUIRE_TEN, ACQUIRE_MANY, CREATE_POOL)


def test_pool_admin_and_revocations_answer_as_graphql_core(auth_pair: Twins) -> None:
    pair = auth_pair
    create = {"name": "shared", "size": 2, "policy": {"maxPerOwner": 1, "maxTtl": 60}}
    assert code(pair, Call(CREATE_POOL, create, caller="alice")) == "FORBIDDEN"
    assert code(pair, Call(CREATE_POOL, create, caller="root")) is None
    assert code(pair, Call(CREATE_POOL, create, caller="root")) == "POOL_EXISTS"
    held = acquired(pair, Call(ACQUIRE, {"pool": "shared", "label": "a"}, caller="alice"))
    assert code(pair, Call(ACQUIRE, {"pool": "shared"}, caller="alice")) == "QUOTA_EXCEEDED"
    assert code(pair, Call(ACQUIRE, {"pool": "shared", "ttl": 61}, caller="bob")) == (
        "BAD_USER_INPUT"
    )
    mine = {"obj": held["obj"], "pool": "shared"}
    assert code(pair, Call(FREE, mine, caller="bob")) == "NOT_OWNER"
    assert code(pair, Call(RENEW, {**mine, "token": held["token"]}, caller="bob")) == "NOT_OWNER"
    assert code(pair, Call(DELETE_POOL, {"name": "shared"}, caller="root")) == "POOL_IN_USE"
    assert code(pair, Call(RESIZE_POOL, {"name": "shared", "size": 0}, caller="root")) == (
        "BAD_USER_INPUT"
    )
    assert code(pair, Call(RESIZE_POOL, {"name": "nope", "size": 2}, caller="root")) == (
        "POOL_NOT_FOUND"
    )
    policy = {"name": "shared", "policy": {"reuseDelay": 5, "description": "d"}}
    assert code(pair, Call(SET_POLICY, policy, caller="bob")) == "FORBIDDEN"
    assert code(pair, Call(SET_POLICY, policy, caller="root")) is None
    revoke = {"pool": "shared", "labelPrefix": "a", "reason": "test"}
    assert code(pair, Call(REVOKE, revoke, caller="alice")) == "FORBIDDEN"
    assert code(pair, Call(REVOKE, revoke, caller="root")) is None
    pair.same(Call(POOL, {"name": "shared"}, caller="bob"))  # one object cooling
    assert code(pair, Call(DELETE_POOL, {"name": "shared", "force": True}, caller="root")) is None
    pair.same(Call(EVENTS, {"pool": "shared"}, caller="alice"))
    assert error_codes(pair, Call(BARE_VERSION), status=401) == ["UNAUTHENTICATED"]


def test_query_field_errors_and_null_propagation_answer_as_graphql_core(
    open_pair: Twins,
) -> None:
    pair = open_pair
    acquired(pair, Call(ACQUIRE, {"owner": "alice"}))
    assert error_codes(pair, Call(LEASE, {"obj": 99})) == ["OUT_OF_RANGE"]
    assert error_codes(pair, Call(LEASE, {"obj": 1, "pool": "nope"})) == ["POOL_NOT_FOUND"]
    # A failing field of a non-null list nulls its parent: the pool, then the whole data.
    assert error_codes(pair, Call("{ version pool { leases(first: 5000) { obj } } }")) == [
        "BAD_USER_INPUT"
    ]
    assert error_codes(pair, Call("{ pools { name leases(first: -1) { obj } } }")) == [
        "BAD_USER_INPUT"
    ]
    two = "{ a: lease(obj: 99) { obj } b: lease(obj: 0) { obj } version }"
    assert error_codes(pair, Call(two)) == ["OUT_OF_RANGE", "OUT_OF_RANGE"]
    pair.same(Call("{ pools(first: null) { name } }"))
    pair.same(Call("{ events(first: 1001) { seq } }"))
    pair.same(Call('{ leases(owner: "alice", first: -5) { obj } }'))


def test_refusals_before_running_answer_as_graphql_core(open_pair: Twins) -> None:
    pair = open_pair
    for variables in (
        {"obj": "one"},
        {},
        {"obj": None},
        {"obj": 2**31},
        {"obj": 1.5},
        {"obj": 1, "token": "x"},
        {"obj": 1, "pool": None},
    ):
        assert error_codes(pair, Call(FREE, variables), status=400) == ["BAD_USER_INPUT"]
    assert error_codes(pair, Call(ACQUIRE, {"ttl": "long"}), status=400) == ["BAD_USER_INPUT"]
    bad_policy = {"name": "p", "size": 1, "policy": {"maxTtl": "x", "unknown": 1}}
    assert set(error_codes(pair, Call(CREATE_POOL, bad_policy), status=400)) == {"BAD_USER_INPUT"}
    # Over the limits, for these variables only.
    wide = "query($n: Int) { pools(first: $n) { leases(first: 1000) { obj } } }"
    assert error_codes(pair, Call(wide, {"n": 1000}), status=400) == ["QUERY_TOO_COMPLEX"]
    assert error_codes(pair, Call(wide, {"n": 1})) == []
    many = "{ " + " ".join(f"v{i}: version" for i in range(300)) + " }"
    assert error_codes(pair, Call(many), status=400) == ["QUERY_TOO_COMPLEX"]
    pair.same(Call("{ nothing }"))
    pair.same(Call("{ version", None))
    pair.same(Call(FREE + VERSION, {"obj": 1}))  # two operations, none named
    pair.same(Call(FREE + VERSION, {"obj": 1}, operation_name="Version"))
    pair.same(Call(FREE + VERSION, {"obj": 1}, operation_name="Free"))
    pair.same(Call(BENCH_ACQUIRE, method="GET"))  # 405
    pair.same(Call(GET_OBJECT, method="GET"))  # 405
    pair.same(Call(LEASES, {"first": 2}, method="GET"))


def test_merged_fields_fragments_and_operation_names_answer_as_graphql_core(
    open_pair: Twins,
) -> None:
    pair = open_pair
    acquired(pair, Call(ACQUIRE, {"owner": "alice", "label": "x", "ttl": 5}))
    for query in (
        "{ pool { name } pool { size leases { obj } } p: pool { __typename t: __typename } }",
        "{ pool { ...Counts leases { ...Held } } } fragment Counts on Pool { name inUse "
        "... on Pool { available } } fragment Held on Lease { obj token owner ...Held2 } "
        "fragment Held2 on Lease { obj label }",
        "{ __typename version v: version }",
        '{ pool(name: "nope") { name } lease(obj: 1) { ... { token } } }',
        "{ first: pool { leases(first: 1) { obj } } second: pool { leases(first: 0) { obj } } }",
    ):
        assert error_codes(pair, Call(query)) == []
    mutation = (
        "mutation { __typename a: freeObject(obj: 1) { success } b: freeObject(obj: 1) { code } }"
    )
    pair.same(Call(mutation))
    two = "query A { version } query B($n: Int = 1) { pools(first: $n) { name } }"
    for name in ("A", "B", "C", None):
        pair.same(Call(two, operation_name=name))
    pair.same(Call(two, {"n": 0}, operation_name="B"))
    pair.same(Call(two, {"n": None}, operation_name="B"))
    planned(pair, "{ __typename version v: version }")


def test_list_and_input_object_variables_answer_as_graphql_core(auth_pair: Twins) -> None:
    pair = auth_pair
    for objs in (5, [1, 2], [1, "x"], None, [], [None], "1"):
        pair.same(Call(REVOKE, {"pool": "default", "objs": objs}, caller="root"))
    policies: tuple[Any, ...] = (
        {},
        {"maxTtl": 1, "reuseFirst": None},
        {"maxTtl": "1"},
        {"maxTtll": 1},
        {"maxPerOwner": 2**31},
        {"description": "d" * 1025},
        [],
        "x",
    )
    for policy in policies:
        pair.same(Call(SET_POLICY, {"name": "default", "policy": policy}, caller="root"))
    # More variables wrong than graphql-core reports.
    names = [f"v{i}" for i in range(60)]
    definitions = ", ".join(f"${name}: Int" for name in names)
    fields = " ".join(f"{name}: leases(first: ${name}) {{ obj }}" for name in names)
    query = f"query({definitions}) {{ pool {{ {fields} }} }}"
    many = pair.same(Call(query, dict.fromkeys(names, "x"), caller="bob"))
    assert many.status == 400, many.text
    pair.same(Call(query, dict.fromkeys(names, 1), caller="bob"))
    pair.same(Call(query, None, caller="bob"))


@pytest.mark.parametrize("name", sorted(COMMON_DOCUMENTS))
def test_common_documents_take_a_plan(name: str) -> None:
    assert isinstance(plan_of(COMMON_DOCUMENTS[name]), Plan), f"{name} falls back"


def test_answers_that_differ_are_told_apart() -> None:
    """The comparison sees a difference of state, of key order and of JSON type."""
    pair = Twins(open_settings(pool_size=3))
    try:
        pair.same(Call(BENCH_ACQUIRE))
        pair.send(pair.fast, Call(BENCH_ACQUIRE))  # the server with plans is one grant ahead
        with pytest.raises(AssertionError, match="answered differently"):
            pair.same(Call(BARE_POOL))
    finally:
        pair.close()
    assert exact(json.loads('{"a": 1, "b": 2}', object_pairs_hook=Pairs)) != exact(
        json.loads('{"b": 2, "a": 1}', object_pairs_hook=Pairs)
    )
    assert exact(json.loads("[1]", object_pairs_hook=Pairs)) != exact(json.loads("[1.0]"))
    assert exact(json.loads("[1]", object_pairs_hook=Pairs)) != exact(json.loads("[true]"))
    assert exact(json.loads("{}", object_pairs_hook=Pairs)) != exact(json.loads("[]"))
