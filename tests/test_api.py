"""The GraphQL API at `/graphql` and the probes, through Flask's test client.

Each test reads as one promise of the public contract (CONTRACT.md): the
values and codes it answers, and the state of the pools after the call.
Auth has its own file, test_api_auth.py.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from app import Settings, create_app
from app.pool.errors import ErrorCode
from app.version import __version__

from .api_support import (
    ACQUIRE,
    CREATE_POOL,
    DELETE_POOL,
    FREE,
    LEASE,
    LEASE_FIELDS,
    POOL_FIELDS,
    RENEW,
    RESIZE_POOL,
    Api,
    check_response,
    code_of,
    error_of,
    granted,
    memory_app,
    refused,
    snapshot,
)
from .conditions import wait_until

MakeApi = Callable[..., Api]


@pytest.fixture(params=["memory", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    return f"sqlite:///{tmp_path}/objmgr.sqlite3"


@pytest.fixture
def make_api(store_url: str) -> Iterator[MakeApi]:
    """Apps on one store; a second app on SQLite shares the first one's file."""
    apps: list[Any] = []

    def make(pool_size: int = 3, **options: Any) -> Api:
        app = create_app(Settings(store=store_url, pool_size=pool_size, workers=1, **options))
        apps.append(app)
        return Api(app)

    yield make
    for app in apps:
        app.extensions["objmgr"].store.close()


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    """A pool `default` of 3 objects, auth off, on every store."""
    return make_api(pool_size=3)


@pytest.fixture
def http() -> Api:
    """For HTTP-level behaviour, which does not depend on the store."""
    return Api(memory_app(pool_size=3))


def in_use(api: Api, pool: str = "default") -> int:
    stats = api.stats(pool)
    assert stats is not None
    return stats["inUse"]


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
    assert lease["token"] == 1


def test_pool_answers_every_field(api: Api) -> None:
    granted(api.acquire(owner="ann", label="job-1", ttl=60))
    granted(api.acquire(owner="bob"))

    pool = api.data(f'{{ pool(name: "default") {{ {POOL_FIELDS} leases {{ {LEASE_FIELDS} }} }} }}')[
        "pool"
    ]

    assert {key: pool[key] for key in ("name", "size", "available", "inUse", "waiting")} == {
        "name": "default",
        "size": 3,
        "available": 1,
        "inUse": 2,
        "waiting": 0,
    }
    assert [(lease["obj"], lease["owner"], lease["label"]) for lease in pool["leases"]] == [
        (1, "ann", "job-1"),
        (2, "bob", None),
    ]
    assert all(lease["pool"] == "default" for lease in pool["leases"])
    assert pool["leases"][0]["expiresAt"] is not None
    assert pool["leases"][1]["expiresAt"] is None


def test_pool_name_defaults_to_default(api: Api) -> None:
    assert api.data("{ pool { name size } }") == {"pool": {"name": "default", "size": 3}}


def test_pool_that_does_not_exist_is_null_without_errors(api: Api) -> None:
    assert api.data('{ pool(name: "nope") { name } }') == {"pool": None}


def test_pool_with_a_malformed_name_is_bad_user_input(api: Api) -> None:
    data, error = api.field_error('{ pool(name: "no spaces allowed") { name } }')

    assert data == {"pool": None}
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["pool"]
    assert "pool name" in error["message"]


def test_pool_leases_pages_in_obj_order_after_a_cursor(make_api: MakeApi) -> None:
    api = make_api(pool_size=5)
    for _ in range(5):
        granted(api.acquire())
    api.free(3)

    def page(arguments: str) -> list[int]:
        pool = api.data(f"{{ pool {{ leases{arguments} {{ obj }} }} }}")["pool"]
        return [lease["obj"] for lease in pool["leases"]]

    assert page("") == [1, 2, 4, 5]
    assert page("(first: 2)") == [1, 2]
    assert page("(first: 2, after: 2)") == [4, 5]
    assert page("(after: 4)") == [5]
    assert page("(after: 5)") == []
    assert page("(first: 0)") == []
    assert page("(first: 1000)") == [1, 2, 4, 5]


def test_pool_leases_gives_100_leases_when_first_is_not_given(api: Api) -> None:
    granted(api.create_pool("big", 150))
    # At most 20 root fields per operation.
    for start in range(0, 101, 20):
        count = min(20, 101 - start)
        acquires = " ".join(f'a{i}: acquireObject(pool: "big") {{ success }}' for i in range(count))
        results = api.data(f"mutation {{ {acquires} }}")
        assert all(result["success"] for result in results.values())

    def objs(arguments: str) -> list[int]:
        query = f'{{ pool(name: "big") {{ leases{arguments} {{ obj }} }} }}'
        return [lease["obj"] for lease in api.data(query)["pool"]["leases"]]

    assert objs("") == list(range(1, 101))
    assert objs("(after: 100)") == [101]


@pytest.mark.parametrize(
    ("arguments", "named"),
    [("(first: 1001)", "first"), ("(first: -1)", "first"), ("(after: -1)", "after")],
)
def test_pool_leases_out_of_bounds_paging_is_bad_user_input(
    api: Api, arguments: str, named: str
) -> None:
    granted(api.acquire())

    data, error = api.field_error(f"{{ pool {{ name leases{arguments} {{ obj }} }} }}")

    # leases is non-null, so its failure nulls the pool around it.
    assert data == {"pool": None}
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["pool", "leases"]
    assert named in error["message"]


def test_pools_lists_every_pool_with_its_counters(api: Api) -> None:
    granted(api.create_pool("alpha", 2))
    granted(api.acquire(pool="alpha"))
    granted(api.acquire())

    pools = api.data(f"{{ pools {{ {POOL_FIELDS} }} }}")["pools"]

    assert sorted(pools, key=lambda pool: pool["name"]) == [
        {"name": "alpha", "size": 2, "available": 1, "inUse": 1, "waiting": 0},
        {"name": "default", "size": 3, "available": 2, "inUse": 1, "waiting": 0},
    ]


def test_pools_after_deleting_every_pool_is_an_empty_list(api: Api) -> None:
    granted(api.delete_pool("default"))

    assert api.data("{ pools { name } }") == {"pools": []}


def test_lease_of_a_held_object_answers_every_field(api: Api) -> None:
    acquired = granted(api.acquire(owner="ann", label="nightly build", ttl=120))["lease"]

    lease = api.lease(1)

    assert lease == acquired
    assert lease is not None
    assert (lease["pool"], lease["obj"], lease["owner"], lease["label"]) == (
        "default",
        1,
        "ann",
        "nightly build",
    )


def test_lease_of_a_free_object_is_null_without_errors(api: Api) -> None:
    granted(api.acquire())

    assert api.data("{ lease(obj: 2) { obj } }") == {"lease": None}
    assert api.data("{ lease(obj: 3) { obj } }") == {"lease": None}


def test_lease_pool_defaults_to_default_and_names_other_pools(api: Api) -> None:
    granted(api.create_pool("other", 2))
    granted(api.acquire(pool="other", label="in other"))

    assert api.data("{ lease(obj: 1) { obj } }") == {"lease": None}
    assert api.data('{ lease(obj: 1, pool: "other") { pool label } }') == {
        "lease": {"pool": "other", "label": "in other"}
    }


@pytest.mark.parametrize("obj", [0, -1, 4, 2147483647])
def test_lease_of_an_object_outside_the_pool_is_out_of_range(api: Api, obj: int) -> None:
    data, error = api.field_error(LEASE, {"obj": obj})

    assert data == {"lease": None}
    assert error["extensions"]["code"] == "OUT_OF_RANGE"
    assert error["path"] == ["lease"]
    assert str(obj) in error["message"]


def test_lease_in_a_pool_that_does_not_exist_is_pool_not_found(api: Api) -> None:
    data, error = api.field_error('{ lease(obj: 1, pool: "nope") { obj } }')

    assert data == {"lease": None}
    assert error["extensions"]["code"] == "POOL_NOT_FOUND"
    assert "nope" in error["message"]


def test_version_is_the_package_version(api: Api) -> None:
    assert api.data("{ version }") == {"version": __version__}
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", __version__)


def test_fields_of_one_query_are_answered_together(api: Api) -> None:
    data = api.data(
        '{ version p: pool { inUse } l: lease(obj: 1) { obj } n: pool(name: "x") { size } }'
    )

    assert data == {"version": __version__, "p": {"inUse": 0}, "l": None, "n": None}


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


def test_acquire_object_with_wait_zero_does_not_wait(make_api: MakeApi) -> None:
    api = make_api(pool_size=1)
    granted(api.acquire())

    started = time.monotonic()
    payload = api.acquire(wait=0)

    refused(payload, "POOL_EXHAUSTED")
    assert payload["lease"] is None
    assert time.monotonic() - started < 1.0


def test_acquire_object_waiting_with_nothing_freed_is_acquire_timeout(make_api: MakeApi) -> None:
    api = make_api(pool_size=1)
    granted(api.acquire())
    before = snapshot(api)

    started = time.monotonic()
    payload = api.acquire(wait=0.2)
    elapsed = time.monotonic() - started

    refused(payload, "ACQUIRE_TIMEOUT")
    assert payload["lease"] is None
    assert 0.2 <= elapsed < 3.0
    assert snapshot(api) == before


def test_acquire_object_wait_is_capped_by_max_wait(make_api: MakeApi) -> None:
    api = make_api(pool_size=1, max_wait=0.2)
    granted(api.acquire())

    started = time.monotonic()
    message = refused(api.acquire(wait=30), "ACQUIRE_TIMEOUT")

    assert time.monotonic() - started < 3.0
    assert "0.2" in message


def test_acquire_object_waiting_gets_the_object_freed_meanwhile_and_shows_in_waiting(
    make_api: MakeApi,
) -> None:
    api = make_api(pool_size=1)
    first = granted(api.acquire(owner="first"))["lease"]
    outcome: dict[str, Any] = {}

    waiter = threading.Thread(
        target=lambda: outcome.update(payload=api.acquire(owner="second", wait=10))
    )
    waiter.start()
    try:
        wait_until(lambda: (api.stats() or {})["waiting"] == 1)
        granted(api.free(1))
    finally:
        waiter.join(15)

    lease = granted(outcome["payload"])["lease"]
    assert (lease["obj"], lease["owner"]) == (1, "second")
    assert lease["token"] > first["token"]
    assert api.stats() == {
        "name": "default",
        "size": 1,
        "available": 0,
        "inUse": 1,
        "waiting": 0,
    }


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
    granted(api.acquire(owner="bob"))

    # No principal exists without auth, so the owner argument grants nothing.
    granted(api.free(1))
    granted(api.renew(2, 2, ttl=60))
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


# --- createPool, resizePool, deletePool --------------------------------------------


def test_create_pool_answers_the_new_pool_and_it_hands_out_objects(api: Api) -> None:
    payload = granted(api.create_pool("gpu-a100", 4))

    expected = {"name": "gpu-a100", "size": 4, "available": 4, "inUse": 0, "waiting": 0}
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
    assert re.search(r'"token":\s*1\s*[,}]', response.get_data(as_text=True))
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


# --- methods: state changes only over POST ------------------------------------------

HIDDEN_GET_OBJECT = [
    pytest.param("{ getObject }", id="plain"),
    pytest.param("{ a: getObject }", id="alias"),
    pytest.param("query { ...F } fragment F on Query { getObject }", id="fragment"),
    pytest.param("{ ... on Query { getObject } }", id="inline-fragment"),
    pytest.param("query Q { version b: getObject }", id="beside-a-harmless-field"),
    pytest.param("query($yes: Boolean = true) { getObject @include(if: $yes) }", id="include"),
]


@pytest.mark.parametrize("query", HIDDEN_GET_OBJECT)
def test_get_object_over_get_is_405_and_allocates_nothing(http: Api, query: str) -> None:
    response = http.get(query)

    assert response.status_code == 405
    assert code_of(response) == "METHOD_NOT_ALLOWED"
    assert "POST" in response.headers["Allow"]
    assert in_use(http) == 0
    assert http.get_object() == 1


def test_a_browser_get_with_get_object_gets_the_playground_not_an_object(http: Api) -> None:
    response = http.request(
        "GET", query_string={"query": "{ getObject }"}, headers={"Accept": "text/html"}
    )

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert in_use(http) == 0


@pytest.mark.parametrize(
    "query",
    [
        "mutation { acquireObject { success } }",
        "mutation { freeObject(obj: 1) { success } }",
        'mutation { createPool(name: "viaget", size: 1) { success } }',
        'mutation { deletePool(name: "default", force: true) { success } }',
    ],
)
def test_mutations_over_get_are_405_and_change_nothing(http: Api, query: str) -> None:
    granted(http.acquire())
    before = snapshot(http)

    response = http.get(query)

    assert response.status_code == 405
    assert code_of(response) == "METHOD_NOT_ALLOWED"
    assert snapshot(http) == before


def test_get_picks_the_operation_by_name_and_refuses_only_the_mutation(http: Api) -> None:
    document = "query Q { version } mutation M { acquireObject { success } }"

    assert http.get(document, operationName="M").status_code == 405
    assert in_use(http) == 0
    response = http.get(document, operationName="Q")
    assert response.status_code == 200
    assert response.get_json() == {"data": {"version": __version__}}


@pytest.mark.parametrize(
    ("query", "params", "data"),
    [
        ("{ version }", {}, {"version": __version__}),
        ("{ pool { name inUse } }", {}, {"pool": {"name": "default", "inUse": 0}}),
        (
            "query($n: String!) { pool(name: $n) { size } }",
            {"variables": '{"n": "default"}'},
            {"pool": {"size": 3}},
        ),
        ("{ lease(obj: 2) { obj } }", {}, {"lease": None}),
    ],
    ids=["version", "pool", "variables", "lease"],
)
def test_ordinary_queries_over_get_work(
    http: Api, query: str, params: dict[str, str], data: dict[str, Any]
) -> None:
    response = http.get(query, **params)

    assert response.status_code == 200
    assert response.get_json() == {"data": data}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_on_graphql_are_405_with_a_json_body(http: Api, method: str) -> None:
    response = http.request(
        method, data=json.dumps({"query": "{ getObject }"}), content_type="application/json"
    )

    assert response.status_code == 405
    assert code_of(response) == "METHOD_NOT_ALLOWED"
    assert in_use(http) == 0


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


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def typed_fuzz_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    store = "memory://"
    if request.param == "sqlite":
        store = f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/objmgr.sqlite3"
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


# --- GraphiQL and introspection by environment ----------------------------------------

INTROSPECTION = "{ __schema { queryType { name } } }"


def production_api() -> Api:
    return Api(memory_app(env="production", auth_disabled=True))


def test_development_serves_graphiql_to_a_browser_with_local_assets_only(http: Api) -> None:
    response = http.request("GET", headers={"Accept": "text/html,application/xhtml+xml"})

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "graphiql" in page.lower()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    scripts_and_styles = [asset for asset in assets if not asset.startswith("data:")]
    assert scripts_and_styles
    assert all(asset.startswith("/graphql/static/graphiql/") for asset in scripts_and_styles)
    assert not re.search(r"https?://", page)
    assert in_use(http) == 0


def test_every_graphiql_asset_is_served_with_a_js_or_css_type(http: Api) -> None:
    page = http.request("GET", headers={"Accept": "text/html"}).get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(/graphql/static/[^"]+)"', page)

    types: dict[str, set[str]] = {}
    for asset in assets:
        response = http.request("GET", asset)
        assert response.status_code == 200, asset
        assert response.get_data(), asset
        types.setdefault(asset.rsplit(".", 1)[1], set()).add(response.mimetype)

    # Which of the two JavaScript types depends on the host's mime.types.
    assert types["css"] == {"text/css"}
    assert types["js"] <= {"text/javascript", "application/javascript"}
    assert set(types) == {"css", "js"}


def test_development_answers_introspection(http: Api) -> None:
    assert http.data(INTROSPECTION) == {"__schema": {"queryType": {"name": "Query"}}}


def test_production_does_not_serve_graphiql_to_a_browser() -> None:
    api = production_api()

    response = api.request("GET", headers={"Accept": "text/html"})

    # A browser that takes only HTML takes none of the types /graphql answers in.
    assert response.status_code == 406
    assert code_of(response) == "NOT_ACCEPTABLE"
    assert "graphiql" not in response.get_data(as_text=True).lower()


@pytest.mark.parametrize(
    "query",
    [
        INTROSPECTION,
        '{ __type(name: "Lease") { fields { name } } }',
        "{ version __schema { types { name } } }",
    ],
    ids=["schema", "type", "beside-a-field"],
)
def test_production_refuses_introspection_as_a_validation_error(query: str) -> None:
    api = production_api()

    response = api.post(query)

    assert response.status_code == 400
    assert code_of(response) == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection" in error_of(response)["message"]


def test_production_answers_ordinary_operations() -> None:
    api = production_api()

    assert api.data("{ version __typename }") == {"version": __version__, "__typename": "Query"}
    assert api.get_object() == 1


# --- the document cache -------------------------------------------------------------


def test_a_cached_document_honours_new_variables_every_time(api: Api) -> None:
    granted(api.create_pool("other", 7))
    query = "query($n: String!) { pool(name: $n) { name size } }"

    answers = [api.data(query, {"n": name}) for name in ("default", "other", "default")]

    assert answers == [
        {"pool": {"name": "default", "size": 3}},
        {"pool": {"name": "other", "size": 7}},
        {"pool": {"name": "default", "size": 3}},
    ]


def test_a_cached_mutation_runs_again_with_its_new_variables(api: Api) -> None:
    granted(api.create_pool("other", 7))

    first = granted(api.acquire(pool="other", label="one"))["lease"]
    second = granted(api.acquire(label="two"))["lease"]
    third = granted(api.acquire(pool="other", label="three"))["lease"]

    assert [(lease["pool"], lease["obj"], lease["label"]) for lease in (first, second, third)] == [
        ("other", 1, "one"),
        ("default", 1, "two"),
        ("other", 2, "three"),
    ]


def test_a_document_is_parsed_and_validated_once_however_often_it_comes(api: Api) -> None:
    documents = api.app.extensions["objmgr.documents"]
    before = documents.cache_info()

    for _ in range(3):
        granted(api.acquire(label="same text"))

    after = documents.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 2)


@pytest.mark.parametrize(
    "query", ["{ nope }", "{ version", "query A { version } query B { version }"]
)
def test_an_invalid_document_sent_twice_fails_the_same_way_both_times(
    http: Api, query: str
) -> None:
    first, second = http.post(query), http.post(query)

    assert first.status_code == second.status_code == 400
    assert first.get_json() == second.get_json()


def test_the_document_cache_is_not_shared_between_environments() -> None:
    development, production = Api(memory_app()), production_api()

    assert development.post(INTROSPECTION).status_code == 200
    assert production.post(INTROSPECTION).status_code == 400
    assert development.post(INTROSPECTION).status_code == 200


# --- probes and other URLs --------------------------------------------------------------


def test_healthz_is_200_ok(api: Api) -> None:
    response = api.request("GET", "/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_200_ok_when_the_store_answers(api: Api) -> None:
    response = api.request("GET", "/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_version_endpoint_answers_the_same_version_as_graphql(api: Api) -> None:
    response = api.request("GET", "/version")

    assert response.status_code == 200
    assert response.get_json() == {"version": __version__}
    assert api.data("{ version }")["version"] == __version__


@pytest.fixture
def unreachable_store(tmp_path: Path) -> Api:
    """A SQLite store whose directory is a regular file, so it can never open."""
    (tmp_path / "afile").write_text("not a directory")
    return Api(create_app(Settings(store=f"sqlite:///{tmp_path}/afile/x.sqlite3", workers=1)))


def test_with_an_unreachable_store_the_app_starts_and_healthz_is_200(
    unreachable_store: Api,
) -> None:
    response = unreachable_store.request("GET", "/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert unreachable_store.request("GET", "/version").status_code == 200


def test_with_an_unreachable_store_readyz_is_503_unavailable(unreachable_store: Api) -> None:
    response = unreachable_store.request("GET", "/readyz", unavailable_ok=True)

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert isinstance(body["reason"], str) and body["reason"]


def test_with_an_unreachable_store_mutations_say_store_unavailable(
    unreachable_store: Api,
) -> None:
    refused(unreachable_store.acquire(), "STORE_UNAVAILABLE")
    refused(unreachable_store.free(1), "STORE_UNAVAILABLE")
    refused(unreachable_store.renew(1, 1), "STORE_UNAVAILABLE")
    refused(unreachable_store.create_pool("p", 1), "STORE_UNAVAILABLE")


@pytest.mark.parametrize(
    ("query", "data"),
    [
        ("{ getObject }", {"getObject": None}),
        ("{ pool { name } }", {"pool": None}),
        ("{ lease(obj: 1) { obj } }", {"lease": None}),
        # pools is non-null, so its failure nulls the whole answer.
        ("{ pools { name } }", None),
    ],
)
def test_with_an_unreachable_store_queries_say_store_unavailable(
    unreachable_store: Api, query: str, data: dict[str, Any] | None
) -> None:
    answered, error = unreachable_store.field_error(query)

    assert answered == data
    assert error["extensions"]["code"] == "STORE_UNAVAILABLE"


@pytest.mark.parametrize(
    "path", ["/nope", "/graphql/", "/graphql/static/graphiql/nope.js", "/healthz/x"]
)
def test_an_unknown_url_is_404_with_a_json_error(http: Api, path: str) -> None:
    response = http.request("GET", path)

    assert response.status_code == 404
    assert code_of(response) == "NOT_FOUND"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/version"])
def test_probes_refuse_post_with_405_json(http: Api, path: str) -> None:
    response = http.request("POST", path)

    assert response.status_code == 405
    assert code_of(response) == "METHOD_NOT_ALLOWED"
