"""`acquireObject`: which object, in which pool, for how long, and safe retries.

Never-used objects first, then the longest free; a TTL the server counts;
a `requestId` that returns the lease already granted; fencing tokens that only
grow. Waiting has its own file, test_api_waiting.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from objmgr_client.operations import (
    LEASE_FIELDS,
)

from app import Settings, create_app

from .api_support import (
    Api,
    MakeApi,
    granted,
    in_use,
    refused,
    snapshot,
)

# --- acquireObject ----------------------------------------------------------------


def test_acquire_object_with_no_arguments_leases_the_lowest_never_used_object(api: Api) -> None:
    payload = api.data(
        f"mutation {{ acquireObject {{ success code message lease {{ {LEASE_FIELDS} }} }} }}"
    )

    lease = granted(payload["acquireObject"])["lease"]
    assert (lease["pool"], lease["obj"], lease["owner"], lease["label"]) == (
        "default",
        1,
        None,
        None,
    )
    assert lease["expiresAt"] is None
    assert api.lease(1) == lease
    assert in_use(api) == 1


def test_acquire_object_hands_out_never_used_objects_first_then_the_longest_free(
    api: Api,
) -> None:
    assert [granted(api.acquire())["lease"]["obj"] for _ in range(2)] == [1, 2]
    granted(api.free(1))

    # 3 was never used, so it goes before 1, which was just freed.
    assert granted(api.acquire())["lease"]["obj"] == 3
    for obj in (3, 2):
        granted(api.free(obj))

    assert [granted(api.acquire())["lease"]["obj"] for _ in range(3)] == [1, 3, 2]


def test_acquire_object_in_a_named_pool_leaves_other_pools_alone(api: Api) -> None:
    granted(api.create_pool("gpu", 2))

    lease = granted(api.acquire(pool="gpu"))["lease"]

    assert (lease["pool"], lease["obj"]) == ("gpu", 1)
    assert in_use(api, "gpu") == 1
    assert in_use(api, "default") == 0


def test_acquire_object_records_owner_and_label_given_with_auth_off(api: Api) -> None:
    label = "x" * 256

    lease = granted(api.acquire(owner="ci-runner-7", label=label))["lease"]

    assert (lease["owner"], lease["label"]) == ("ci-runner-7", label)
    assert api.lease(1) == lease


def test_acquire_object_when_the_pool_is_full_is_pool_exhausted(make_api: MakeApi) -> None:
    api = make_api(pool_size=1)
    granted(api.acquire())
    before = snapshot(api)

    message = refused(api.acquire(), "POOL_EXHAUSTED")

    assert "default" in message
    assert snapshot(api) == before


def test_acquire_object_with_ttl_sets_expires_at_ttl_after_acquired_at(api: Api) -> None:
    lease = granted(api.acquire(ttl=30.5))["lease"]

    acquired = datetime.fromisoformat(lease["acquiredAt"])
    expires = datetime.fromisoformat(lease["expiresAt"])
    assert expires - acquired == timedelta(seconds=30.5)


def test_an_expired_lease_goes_back_to_the_pool_without_a_free(make_api: MakeApi) -> None:
    api = make_api(pool_size=1)
    old = granted(api.acquire(owner="crashed", ttl=0.5))["lease"]
    refused(api.acquire(), "POOL_EXHAUSTED")

    expires = datetime.fromisoformat(old["expiresAt"])
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)

    assert api.lease(1) is None
    assert in_use(api) == 0
    new = granted(api.acquire(owner="next"))["lease"]
    assert (new["obj"], new["owner"]) == (1, "next")
    assert new["token"] > old["token"]
    refused(api.free(1, token=old["token"]), "STALE_TOKEN")
    assert api.lease(1) == new


def test_acquire_object_retried_with_the_same_request_id_returns_the_same_lease(
    api: Api,
) -> None:
    first = granted(api.acquire(owner="job", request_id="req-1", ttl=60))["lease"]

    retry = granted(api.acquire(owner="job", request_id="req-1", ttl=60))["lease"]

    assert retry == first
    assert in_use(api) == 1


def test_acquire_object_request_id_is_per_owner(api: Api) -> None:
    mine = granted(api.acquire(owner="ann", request_id="r"))["lease"]

    theirs = granted(api.acquire(owner="bob", request_id="r"))["lease"]
    again = granted(api.acquire(owner="ann", request_id="r"))["lease"]
    other = granted(api.acquire(owner="ann", request_id="r2"))["lease"]

    assert (mine["obj"], theirs["obj"], again["obj"], other["obj"]) == (1, 2, 1, 3)
    assert in_use(api) == 3


def test_acquire_object_request_id_without_owner_is_idempotent_too(api: Api) -> None:
    first = granted(api.acquire(request_id="anon"))["lease"]

    assert granted(api.acquire(request_id="anon"))["lease"] == first
    assert in_use(api) == 1


def test_acquire_object_in_a_pool_that_does_not_exist_is_pool_not_found(api: Api) -> None:
    before = snapshot(api)

    message = refused(api.acquire(pool="nope"), "POOL_NOT_FOUND")

    assert "nope" in message
    assert snapshot(api) == before


def test_fencing_tokens_strictly_increase_with_every_grant_of_a_pool(api: Api) -> None:
    tokens = [granted(api.acquire())["lease"]["token"] for _ in range(3)]
    granted(api.free(2))
    tokens.append(granted(api.acquire())["lease"]["token"])

    assert tokens == sorted(set(tokens))
    assert len(tokens) == 4


def test_fencing_tokens_keep_increasing_when_a_pool_is_deleted_and_created_again(
    api: Api,
) -> None:
    granted(api.create_pool("again", 1))
    old = granted(api.acquire(pool="again"))["lease"]["token"]
    granted(api.delete_pool("again", force=True))
    granted(api.create_pool("again", 1))

    new = granted(api.acquire(pool="again"))["lease"]["token"]

    assert new > old


def test_fencing_tokens_survive_a_restart_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/restart.sqlite3"
    first = Api(create_app(Settings(store=url, pool_size=2, workers=1)))
    old = granted(first.acquire(ttl=60))["lease"]
    first.app.extensions["objmgr"].store.close()

    second = Api(create_app(Settings(store=url, pool_size=2, workers=1)))

    assert second.lease(1) == old
    assert granted(second.acquire())["lease"]["token"] > old["token"]
