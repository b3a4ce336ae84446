"""The original service's two calls, byte for byte as its README and Postman sent them.

`getObject` hands out the lowest never-used object of the default pool, or
null; `freeObject(obj)` answers a bare boolean `success`. Auth is off.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .api_support import (
    NO_RULES,
    Api,
    MakeApi,
    granted,
    in_use,
    snapshot,
)

# --- the seed's operations, byte for byte ------------------------------------

SEED_GET_OBJECT = ["query {\n  getObject\n}", "{\n  getObject\n}"]
SEED_FREE_OBJECT = [
    "mutation {\n    freeObject(obj: 1) {\n        success\n    }\n}",
    "mutation {\n  freeObject (obj:1) {\n    success\n  }\n}",
]
# Besides the bare body, what GraphQL clients commonly add when there are no variables.
SEED_BODY_EXTRAS: list[dict[str, Any]] = [{}, {"variables": {}}, {"variables": None}]


def seed_post(api: Api, query: str, extras: dict[str, Any]) -> dict[str, Any]:
    response = api.request(
        "POST", data=json.dumps({"query": query, **extras}), content_type="application/json"
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.mark.parametrize("extras", SEED_BODY_EXTRAS, ids=["bare", "empty-vars", "null-vars"])
@pytest.mark.parametrize("query", SEED_GET_OBJECT, ids=["query", "shorthand"])
def test_seed_get_object_hands_out_1_to_n_then_null(
    api: Api, query: str, extras: dict[str, Any]
) -> None:
    answers = [seed_post(api, query, extras) for _ in range(4)]

    assert answers == [
        {"data": {"getObject": 1}},
        {"data": {"getObject": 2}},
        {"data": {"getObject": 3}},
        {"data": {"getObject": None}},
    ]
    assert api.stats() == {
        "name": "default",
        "size": 3,
        "available": 0,
        "inUse": 3,
        "waiting": 0,
        **NO_RULES,
    }


@pytest.mark.parametrize("extras", SEED_BODY_EXTRAS, ids=["bare", "empty-vars", "null-vars"])
@pytest.mark.parametrize("query", SEED_FREE_OBJECT, ids=["readme", "postman"])
def test_seed_free_object_gives_a_held_object_back_with_boolean_success(
    api: Api, query: str, extras: dict[str, Any]
) -> None:
    assert api.get_object() == 1

    assert seed_post(api, query, extras) == {"data": {"freeObject": {"success": True}}}
    assert api.lease(1) is None
    assert in_use(api) == 0


@pytest.mark.parametrize("query", SEED_FREE_OBJECT, ids=["readme", "postman"])
def test_seed_free_object_of_a_free_object_is_success_false_and_changes_nothing(
    api: Api, query: str
) -> None:
    before = snapshot(api)

    assert seed_post(api, query, {}) == {"data": {"freeObject": {"success": False}}}
    assert snapshot(api) == before


def test_seed_round_trip_never_used_objects_first_then_the_freed_one(api: Api) -> None:
    assert [api.get_object() for _ in range(2)] == [1, 2]
    assert seed_post(api, SEED_FREE_OBJECT[0], {})["data"]["freeObject"]["success"] is True

    assert api.get_object() == 3
    assert api.get_object() == 1
    assert api.get_object() is None


# --- Query fields ---------------------------------------------------------------


def test_get_object_when_none_is_free_is_null_without_errors(make_api: MakeApi) -> None:
    api = make_api(pool_size=1)
    assert api.get_object() == 1

    assert api.post("{ getObject }").get_json() == {"data": {"getObject": None}}
    assert in_use(api) == 1


def test_get_object_takes_from_the_default_pool_only(api: Api) -> None:
    granted(api.create_pool("other", 2))

    assert api.get_object() == 1
    assert in_use(api, "default") == 1
    assert in_use(api, "other") == 0


def test_get_object_lease_has_no_owner_label_or_expiry_with_auth_off(api: Api) -> None:
    obj = api.get_object()

    lease = api.lease(1)
    assert obj == 1 and lease is not None
    assert (lease["owner"], lease["label"], lease["expiresAt"]) == (None, None, None)
    # The pool's first token (on a Redis Cluster, above its primary's epoch floor).
    assert lease["token"] % 2**32 == 1
