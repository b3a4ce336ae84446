"""`pools(first, after)` pages in name order; OUTCOME_UNKNOWN reaches clients as a code."""

from __future__ import annotations

import pytest
from graphql import GraphQLError

from app.api.schema import AcquireObjectPayload, payload, query_errors
from app.pool.errors import OutcomeUnknown

from .api_support import Api, granted

NAMES = "query($first: Int, $after: String) { pools(first: $first, after: $after) { name } }"


def names(api: Api, **variables: object) -> list[str]:
    return [pool["name"] for pool in api.data(NAMES, variables)["pools"]]


def test_pools_pages_in_name_order_after_a_cursor(api: Api) -> None:
    for name in ("delta", "alpha", "charlie", "bravo"):
        granted(api.create_pool(name, 1))

    assert names(api, first=2) == ["alpha", "bravo"]
    assert names(api, first=2, after="bravo") == ["charlie", "default"]
    assert names(api, first=2, after="default") == ["delta"]
    assert names(api, first=2, after="delta") == []
    assert names(api, after="b") == ["bravo", "charlie", "default", "delta"]


def test_pools_without_arguments_gives_the_first_100(api: Api) -> None:
    for index in range(101):
        granted(api.create_pool(f"p{index:03}", 1))

    listed = [pool["name"] for pool in api.data("{ pools { name } }")["pools"]]

    assert listed == ["default"] + [f"p{index:03}" for index in range(99)]


@pytest.mark.parametrize(
    "variables",
    [{"first": 1001}, {"first": -1}, {"after": "x" * 65}, {"after": "\ud800"}],
    ids=["first-too-big", "first-negative", "after-too-long", "after-lone-surrogate"],
)
def test_pools_out_of_bounds_paging_is_bad_user_input(
    api: Api, variables: dict[str, object]
) -> None:
    data, error = api.field_error(NAMES, variables)

    assert data is None
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["pools"]


def test_outcome_unknown_is_a_value_of_the_error_code_enum(api: Api) -> None:
    query = '{ __type(name: "ErrorCode") { enumValues { name } } }'

    values = {value["name"] for value in api.data(query)["__type"]["enumValues"]}

    assert "OUTCOME_UNKNOWN" in values


def lost_reply() -> None:
    raise OutcomeUnknown("the reply was lost; retry with the same requestId")


def test_a_mutation_payload_carries_outcome_unknown() -> None:
    answer = payload(AcquireObjectPayload, "lease", lost_reply)

    assert (answer.success, answer.code) == (False, "OUTCOME_UNKNOWN")
    assert "requestId" in answer.message


def test_a_query_field_raising_outcome_unknown_has_that_code() -> None:
    with pytest.raises(GraphQLError) as raised:
        query_errors(lost_reply)()

    assert raised.value.extensions == {"code": "OUTCOME_UNKNOWN"}


@pytest.mark.parametrize(
    "query",
    [
        "{ pools(first: null, after: null) { name } }",
        "{ pool { leases(first: null, after: null) { obj } } }",
    ],
    ids=["pools", "leases"],
)
def test_an_explicit_null_page_argument_means_its_default(api: Api, query: str) -> None:
    granted(api.acquire())

    data = api.data(query)

    assert data == {"pools": [{"name": "default"}]} or data == {"pool": {"leases": [{"obj": 1}]}}
