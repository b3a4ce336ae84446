"""Values a client sends and receives: bounds, text, integers and times on the wire.

A value out of bounds is a refusal (`BAD_USER_INPUT`) that changes nothing; a
token is a JSON integer of any size; times are ISO 8601 with an offset.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from objmgr_client.operations import (
    ACQUIRE,
    CREATE_POOL,
    DELETE_POOL,
    FREE,
    LEASE,
    RENEW,
    RESIZE_POOL,
)

from .api_support import (
    Api,
    code_of,
    error_of,
    granted,
    refused,
    snapshot,
)

# --- values out of bounds: BAD_USER_INPUT, nothing changes ----------------------------

# (mutation field, operation, variables, a word the message must name)
BAD_INPUTS = [
    pytest.param("createPool", CREATE_POOL, {"name": "p", "size": 0}, "size", id="size-0"),
    pytest.param("createPool", CREATE_POOL, {"name": "p", "size": -5}, "size", id="size-neg"),
    pytest.param("resizePool", RESIZE_POOL, {"name": "default", "size": 0}, "size", id="resize-0"),
    pytest.param("createPool", CREATE_POOL, {"name": "a b", "size": 1}, "pool name", id="space"),
    pytest.param("createPool", CREATE_POOL, {"name": "", "size": 1}, "pool name", id="empty-name"),
    pytest.param("createPool", CREATE_POOL, {"name": "-x", "size": 1}, "pool name", id="dash-1st"),
    pytest.param("createPool", CREATE_POOL, {"name": "{x}", "size": 1}, "pool name", id="braces"),
    pytest.param(
        "createPool", CREATE_POOL, {"name": "n" * 65, "size": 1}, "pool name", id="name-65"
    ),
    pytest.param("deletePool", DELETE_POOL, {"name": "a/b"}, "pool name", id="delete-bad-name"),
    pytest.param("acquireObject", ACQUIRE, {"ttl": 0}, "ttl", id="ttl-0"),
    pytest.param("acquireObject", ACQUIRE, {"ttl": -1}, "ttl", id="ttl-neg"),
    pytest.param("acquireObject", ACQUIRE, {"ttl": 1e12}, "ttl", id="ttl-huge"),
    pytest.param("acquireObject", ACQUIRE, {"wait": -0.5}, "wait", id="wait-neg"),
    pytest.param("acquireObject", ACQUIRE, {"label": "x" * 257}, "label", id="label-257"),
    pytest.param("acquireObject", ACQUIRE, {"owner": "o" * 257}, "owner", id="owner-257"),
    pytest.param("acquireObject", ACQUIRE, {"requestId": ""}, "requestId", id="reqid-empty"),
    pytest.param("acquireObject", ACQUIRE, {"requestId": "r" * 129}, "requestId", id="reqid-129"),
    pytest.param("acquireObject", ACQUIRE, {"pool": "no way"}, "pool name", id="acquire-bad-pool"),
    pytest.param("freeObject", FREE, {"obj": 1, "token": 0}, "token", id="token-0"),
    pytest.param("freeObject", FREE, {"obj": 1, "token": -1}, "token", id="token-neg"),
    pytest.param("freeObject", FREE, {"obj": 1, "pool": "x y"}, "pool name", id="free-bad-pool"),
    pytest.param("renewLease", RENEW, {"obj": 1, "token": 1, "ttl": 0}, "ttl", id="renew-ttl-0"),
    pytest.param("renewLease", RENEW, {"obj": 1, "token": 1, "ttl": -3}, "ttl", id="renew-ttl-neg"),
]


@pytest.mark.parametrize(("field", "operation", "variables", "named"), BAD_INPUTS)
def test_a_value_out_of_bounds_is_bad_user_input_and_changes_nothing(
    api: Api, field: str, operation: str, variables: dict[str, Any], named: str
) -> None:
    # A held lease with a TTL, so that free and renew would have something to change.
    granted(api.acquire(ttl=600))
    before = snapshot(api)

    payload = api.data(operation, variables)[field]

    message = refused(payload, "BAD_USER_INPUT")
    assert named in message
    assert snapshot(api) == before


@pytest.mark.parametrize(
    "text",
    ["\ud800", "label \udfff with a lone surrogate"],
    ids=["lone-high-surrogate", "lone-low-surrogate"],
)
@pytest.mark.parametrize("argument", ["label", "owner", "requestId"])
def test_text_that_is_not_unicode_text_is_bad_user_input(
    api: Api, argument: str, text: str
) -> None:
    # JSON can escape a lone surrogate, but no store can keep it as text.
    before = snapshot(api)

    message = refused(api.acquire(**{argument: text}), "BAD_USER_INPUT")

    assert argument in message
    assert snapshot(api) == before


def test_text_with_any_other_unicode_round_trips(api: Api) -> None:
    label = 'ジョブ 🚀 \u0000 tab\t"quoted" \\ back'

    lease = granted(api.acquire(label=label, owner="Ünïcode"))["lease"]

    assert (lease["label"], lease["owner"]) == (label, "Ünïcode")
    assert api.lease(1) == lease


@pytest.mark.parametrize(
    ("operation", "variables"),
    [
        (CREATE_POOL, {"name": "p", "size": 2**31}),
        (RESIZE_POOL, {"name": "default", "size": 2**31}),
        (FREE, {"obj": 2**31}),
        (LEASE, {"obj": -(2**31) - 1}),
    ],
    ids=["create-size", "resize-size", "free-obj", "lease-obj"],
)
def test_an_int_variable_beyond_graphql_int_is_a_400_bad_user_input(
    api: Api, operation: str, variables: dict[str, Any]
) -> None:
    before = snapshot(api)

    response = api.post(operation, variables)

    assert response.status_code == 400
    assert code_of(response) == "BAD_USER_INPUT"
    assert "Int" in error_of(response)["message"]
    assert response.get_json()["data"] is None
    assert snapshot(api) == before


def test_an_int_literal_beyond_graphql_int_is_a_400_validation_error(api: Api) -> None:
    before = snapshot(api)

    response = api.post('mutation { createPool(name: "p", size: 2147483648) { success } }')

    assert response.status_code == 400
    assert code_of(response) == "GRAPHQL_VALIDATION_FAILED"
    assert snapshot(api) == before


# --- types on the wire -----------------------------------------------------------


def test_a_lease_travels_with_a_json_integer_token_and_iso_8601_times_with_offset(
    api: Api,
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = api.post(ACQUIRE, {"ttl": 60})
    after = datetime.now(UTC) + timedelta(seconds=1)

    lease = response.get_json()["data"]["acquireObject"]["lease"]
    assert type(lease["token"]) is int
    token = lease["token"]
    assert re.search(rf'"token":\s*{token}\s*[,}}]', response.get_data(as_text=True))
    acquired = datetime.fromisoformat(lease["acquiredAt"])
    expires = datetime.fromisoformat(lease["expiresAt"])
    for moment in (acquired, expires):
        assert moment.tzinfo is not None
        assert moment.utcoffset() is not None
    assert before <= acquired <= after
    assert expires - acquired == timedelta(seconds=60)


def test_expires_at_is_null_without_ttl(api: Api) -> None:
    response = api.post(ACQUIRE, {})

    lease = response.get_json()["data"]["acquireObject"]["lease"]
    assert lease["expiresAt"] is None
    assert '"expiresAt": null' in response.get_data(as_text=True)


def test_big_int_input_takes_values_beyond_32_and_53_bits_exactly(api: Api) -> None:
    lease = granted(api.acquire())["lease"]
    beyond_double = 2**53 + 1
    before = snapshot(api)

    by_variable = refused(api.free(1, token=beyond_double), "STALE_TOKEN")
    by_literal = api.data(
        f"mutation {{ renewLease(obj: 1, token: {2**40}) {{ success code message }} }}"
    )["renewLease"]

    assert str(beyond_double) in by_variable
    assert str(2**40) in refused(by_literal, "STALE_TOKEN")
    assert snapshot(api) == before
    assert api.lease(1) == lease


@pytest.mark.parametrize("token", ["1", 1.5, 1.0, True, None, [1], {"n": 1}], ids=repr)
def test_big_int_variable_that_is_not_a_json_integer_is_a_400_bad_user_input(
    api: Api, token: Any
) -> None:
    granted(api.acquire())
    before = snapshot(api)

    # renewLease's token is BigInt!, so null is refused there too.
    responses = [
        api.post(FREE.replace("$token: BigInt", "$token: BigInt!"), {"obj": 1, "token": token}),
        api.post(RENEW, {"obj": 1, "token": token}),
    ]

    for response in responses:
        assert response.status_code == 400
        assert code_of(response) == "BAD_USER_INPUT"
        assert "BigInt" in error_of(response)["message"]
        assert response.get_json()["data"] is None
    assert snapshot(api) == before


@pytest.mark.parametrize("literal", ['"1"', "1.5", "1.0", "true", "[1]", "{n: 1}"])
def test_big_int_literal_that_is_not_an_integer_is_a_400_validation_error(
    api: Api, literal: str
) -> None:
    granted(api.acquire())
    before = snapshot(api)

    response = api.post(f"mutation {{ freeObject(obj: 1, token: {literal}) {{ success }} }}")

    assert response.status_code == 400
    assert code_of(response) == "GRAPHQL_VALIDATION_FAILED"
    assert "BigInt" in error_of(response)["message"]
    assert snapshot(api) == before
