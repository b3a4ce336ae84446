"""`createPool`, `resizePool` and `deletePool`: pools of any size, made and unmade."""

from __future__ import annotations

import pytest
from objmgr_client.operations import (
    LEASE,
)

from .api_support import (
    NO_RULES,
    Api,
    granted,
    in_use,
    refused,
    snapshot,
)

# --- createPool, resizePool, deletePool --------------------------------------------


def test_create_pool_answers_the_new_pool_and_it_hands_out_objects(api: Api) -> None:
    payload = granted(api.create_pool("gpu-a100", 4))

    expected = {"name": "gpu-a100", "size": 4, "available": 4, "inUse": 0, "waiting": 0, **NO_RULES}
    assert payload["pool"] == expected
    assert api.stats("gpu-a100") == expected
    assert granted(api.acquire(pool="gpu-a100"))["lease"]["obj"] == 1


def test_create_pool_of_the_largest_int_size_hands_out_1_and_knows_n(api: Api) -> None:
    n = 2**31 - 1

    assert granted(api.create_pool("huge", n))["pool"]["available"] == n
    assert granted(api.acquire(pool="huge"))["lease"]["obj"] == 1
    assert api.lease(n, "huge") is None
    assert api.stats("huge") == {
        "name": "huge",
        "size": n,
        "available": n - 1,
        "inUse": 1,
        "waiting": 0,
        **NO_RULES,
    }


def test_create_pool_with_a_name_in_use_is_pool_exists(api: Api) -> None:
    granted(api.create_pool("twice", 2))
    before = snapshot(api)

    message = refused(api.create_pool("twice", 5), "POOL_EXISTS")

    assert "twice" in message
    assert snapshot(api) == before


def test_resize_pool_grows_the_pool(api: Api) -> None:
    granted(api.acquire())

    payload = granted(api.resize_pool("default", 10))

    assert payload["pool"] == {
        "name": "default",
        "size": 10,
        "available": 9,
        "inUse": 1,
        "waiting": 0,
        **NO_RULES,
    }
    assert api.stats() == payload["pool"]


def test_resize_pool_below_objects_in_use_keeps_their_leases_until_freed(api: Api) -> None:
    leases = [granted(api.acquire())["lease"] for _ in range(3)]

    payload = granted(api.resize_pool("default", 1))

    assert payload["pool"] == {
        "name": "default",
        "size": 1,
        "available": 0,
        "inUse": 3,
        "waiting": 0,
        **NO_RULES,
    }
    assert [api.lease(obj) for obj in (1, 2, 3)] == leases
    assert granted(api.renew(3, leases[2]["token"], ttl=60))["lease"]["obj"] == 3

    # Retired objects come back only freed, and are then out of range.
    granted(api.free(3))
    refused(api.acquire(), "POOL_EXHAUSTED")
    assert api.field_error(LEASE, {"obj": 3})[1]["extensions"]["code"] == "OUT_OF_RANGE"
    assert in_use(api) == 2


def test_resize_pool_up_again_hands_out_retired_objects_once_more(api: Api) -> None:
    for _ in range(3):
        granted(api.acquire())
    granted(api.resize_pool("default", 1))
    granted(api.free(3))

    granted(api.resize_pool("default", 3))

    assert granted(api.acquire())["lease"]["obj"] == 3
    refused(api.acquire(), "POOL_EXHAUSTED")


def test_resize_pool_that_does_not_exist_is_pool_not_found(api: Api) -> None:
    before = snapshot(api)

    refused(api.resize_pool("nope", 5), "POOL_NOT_FOUND")
    assert snapshot(api) == before


def test_delete_pool_without_leases_needs_no_force(api: Api) -> None:
    granted(api.create_pool("empty", 2))

    payload = granted(api.delete_pool("empty"))

    assert payload["pool"]["name"] == "empty"
    assert api.stats("empty") is None


@pytest.mark.parametrize("force", [None, False], ids=["force-omitted", "force-false"])
def test_delete_pool_with_leases_held_and_no_force_is_pool_in_use(
    api: Api, force: bool | None
) -> None:
    granted(api.acquire())
    before = snapshot(api)

    message = refused(api.delete_pool("default", force=force), "POOL_IN_USE")

    assert "force" in message
    assert snapshot(api) == before


def test_delete_pool_with_force_drops_the_pool_and_its_leases(api: Api) -> None:
    granted(api.acquire())
    granted(api.acquire())

    payload = granted(api.delete_pool("default", force=True))

    assert payload["pool"] == {
        "name": "default",
        "size": 3,
        "available": 1,
        "inUse": 2,
        "waiting": 0,
        **NO_RULES,
    }
    assert api.stats() is None
    assert api.field_error(LEASE, {"obj": 1})[1]["extensions"]["code"] == "POOL_NOT_FOUND"
    refused(api.acquire(), "POOL_NOT_FOUND")
    refused(api.free(1), "POOL_NOT_FOUND")


def test_delete_pool_that_does_not_exist_is_pool_not_found(api: Api) -> None:
    before = snapshot(api)

    refused(api.delete_pool("nope", force=True), "POOL_NOT_FOUND")
    assert snapshot(api) == before


def test_pool_admin_mutations_with_literal_arguments(api: Api) -> None:
    data = api.data(
        """
        mutation {
          c: createPool(name: "lit", size: 2) { success pool { name size } }
          r: resizePool(name: "lit", size: 5) { success pool { size available } }
          d: deletePool(name: "lit", force: false) { success code pool { name } }
        }
        """
    )

    assert data == {
        "c": {"success": True, "pool": {"name": "lit", "size": 2}},
        "r": {"success": True, "pool": {"size": 5, "available": 5}},
        "d": {"success": True, "code": None, "pool": {"name": "lit"}},
    }
