"""`freeObject` and `renewLease`: giving an object back and keeping it longer.

A token that is not the current one changes nothing; so does an object that
is free, out of range or in a pool that does not exist.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from .api_support import (
    NO_RULES,
    Api,
    granted,
    in_use,
    refused,
    snapshot,
)

# --- freeObject -------------------------------------------------------------------


def test_free_object_without_token_frees_and_answers_the_obj(api: Api) -> None:
    granted(api.acquire())
    granted(api.acquire())

    payload = granted(api.free(2))

    assert payload["obj"] == 2
    assert api.lease(2) is None
    assert api.stats() == {
        "name": "default",
        "size": 3,
        "available": 2,
        "inUse": 1,
        "waiting": 0,
        **NO_RULES,
    }


def test_free_object_with_the_current_token_frees(api: Api) -> None:
    lease = granted(api.acquire())["lease"]

    assert granted(api.free(1, token=lease["token"]))["obj"] == 1
    assert api.lease(1) is None


def test_free_object_with_a_stale_token_is_stale_token_and_keeps_the_lease(api: Api) -> None:
    lease = granted(api.acquire())["lease"]
    before = snapshot(api)

    payload = api.free(1, token=lease["token"] + 1)

    message = refused(payload, "STALE_TOKEN")
    assert payload["obj"] is None
    assert str(lease["token"] + 1) in message
    assert snapshot(api) == before


def test_free_object_of_a_free_object_is_not_allocated(api: Api) -> None:
    granted(api.acquire())
    before = snapshot(api)

    message = refused(api.free(2), "NOT_ALLOCATED")

    assert "2" in message
    assert snapshot(api) == before


def test_freeing_twice_is_not_allocated_the_second_time(api: Api) -> None:
    granted(api.acquire())
    granted(api.free(1))

    refused(api.free(1), "NOT_ALLOCATED")
    assert in_use(api) == 0


@pytest.mark.parametrize("obj", [0, -1, 4, 2147483647])
def test_free_object_outside_the_pool_is_out_of_range(api: Api, obj: int) -> None:
    granted(api.acquire())
    before = snapshot(api)

    message = refused(api.free(obj), "OUT_OF_RANGE")

    assert "1..3" in message
    assert snapshot(api) == before


def test_free_object_in_a_pool_that_does_not_exist_is_pool_not_found(api: Api) -> None:
    granted(api.acquire())
    before = snapshot(api)

    refused(api.free(1, pool="nope"), "POOL_NOT_FOUND")
    assert snapshot(api) == before


def test_free_object_names_the_pool_of_the_object(api: Api) -> None:
    granted(api.create_pool("other", 3))
    granted(api.acquire(pool="other"))
    granted(api.acquire())

    assert granted(api.free(1, pool="other"))["obj"] == 1
    assert in_use(api, "other") == 0
    assert in_use(api, "default") == 1


def test_with_auth_off_anyone_frees_anything_as_the_seed_did(api: Api) -> None:
    granted(api.acquire(owner="ann"))
    bobs = granted(api.acquire(owner="bob"))["lease"]

    # No principal exists without auth, so the owner argument grants nothing.
    granted(api.free(1))
    granted(api.renew(2, bobs["token"], ttl=60))
    granted(api.free(2))
    assert in_use(api) == 0


# --- renewLease -------------------------------------------------------------------


def test_renew_lease_with_ttl_moves_expires_at_to_now_plus_ttl_with_the_same_token(
    api: Api,
) -> None:
    lease = granted(api.acquire(ttl=5))["lease"]

    before = datetime.now(UTC)
    renewed = granted(api.renew(1, lease["token"], ttl=3600))["lease"]
    after = datetime.now(UTC)

    expires = datetime.fromisoformat(renewed["expiresAt"])
    assert before + timedelta(seconds=3600) - timedelta(seconds=1) <= expires
    assert expires <= after + timedelta(seconds=3600) + timedelta(seconds=1)
    assert renewed["token"] == lease["token"]
    assert renewed["acquiredAt"] == lease["acquiredAt"]
    assert api.lease(1) == renewed


def test_renew_lease_without_ttl_uses_the_lease_s_last_ttl(api: Api) -> None:
    lease = granted(api.acquire(ttl=30))["lease"]
    time.sleep(0.05)

    before = datetime.now(UTC)
    renewed = granted(api.renew(1, lease["token"]))["lease"]

    expires = datetime.fromisoformat(renewed["expiresAt"])
    assert expires > datetime.fromisoformat(lease["expiresAt"])
    assert expires >= before + timedelta(seconds=30) - timedelta(seconds=1)
    assert expires <= datetime.now(UTC) + timedelta(seconds=30) + timedelta(seconds=1)


def test_renew_lease_of_a_lease_without_ttl_keeps_it_without_expiry(api: Api) -> None:
    lease = granted(api.acquire())["lease"]

    assert granted(api.renew(1, lease["token"]))["lease"]["expiresAt"] is None


def test_renew_lease_with_ttl_gives_an_unexpiring_lease_an_expiry(api: Api) -> None:
    lease = granted(api.acquire())["lease"]

    renewed = granted(api.renew(1, lease["token"], ttl=10))["lease"]

    assert renewed["expiresAt"] is not None
    assert api.lease(1) == renewed


def test_renew_lease_with_a_stale_token_is_stale_token_and_keeps_the_expiry(api: Api) -> None:
    lease = granted(api.acquire(ttl=60))["lease"]
    before = snapshot(api)

    payload = api.renew(1, lease["token"] + 7, ttl=3600)

    refused(payload, "STALE_TOKEN")
    assert payload["lease"] is None
    assert snapshot(api) == before


def test_renew_lease_of_a_free_object_is_not_allocated(api: Api) -> None:
    refused(api.renew(2, 1), "NOT_ALLOCATED")
    assert api.lease(2) is None


def test_renew_lease_of_an_expired_lease_is_not_allocated(api: Api) -> None:
    lease = granted(api.acquire(ttl=0.1))["lease"]
    time.sleep(0.2)

    refused(api.renew(1, lease["token"], ttl=60), "NOT_ALLOCATED")
    assert api.lease(1) is None


def test_renew_lease_outside_the_pool_is_out_of_range(api: Api) -> None:
    refused(api.renew(4, 1), "OUT_OF_RANGE")


def test_renew_lease_in_a_pool_that_does_not_exist_is_pool_not_found(api: Api) -> None:
    refused(api.renew(1, 1, pool="nope"), "POOL_NOT_FOUND")
