"""`acquireObjects(count:, contiguous:)` and `acquireObject(obj:)` through the API, on
every store: all or nothing, the order of single acquires or the lowest free run,
`replayed`, and one queue for every kind of waiter."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import parse, validate

from app.api.schema import schema

from .api_grants_support import acquire_many, needs, objs_of, principals, queued, tokens_of
from .api_support import Api, MakeApi, code_of, granted, refused, snapshot

GRAPHIQL_PAGE = Path(__file__).resolve().parents[1] / "app/api/templates/graphiql.html"


def several(make_api: MakeApi, pool_size: int) -> Api:
    api = make_api(pool_size=pool_size)
    needs(api, "grant")
    return api


# --- several objects ---------------------------------------------------------------------


def test_acquire_objects_takes_what_single_acquires_would_with_increasing_tokens(
    make_api: MakeApi,
) -> None:
    api = several(make_api, 10)
    granted(api.acquire())
    granted(api.free(1))  # 1 is freed: the fresh objects 2.. go first

    payload = granted(acquire_many(api, 3, owner="ann", label="job", ttl=60))

    assert payload["replayed"] is False
    assert objs_of(payload) == [2, 3, 4]
    tokens = tokens_of(payload)
    assert tokens == sorted(tokens) and len(set(tokens)) == 3
    for lease in payload["leases"]:
        assert (lease["owner"], lease["label"], lease["ttl"]) == ("ann", "job", 60.0)
        assert lease["expiresAt"] is not None
    assert api.stats()["inUse"] == 3  # type: ignore[index]


def test_contiguous_takes_the_lowest_free_run_and_plain_takes_the_fresh_order(
    make_api: MakeApi,
) -> None:
    api = several(make_api, 6)
    for _ in range(4):
        granted(api.acquire())
    granted(api.free(2))
    granted(api.free(3))  # free: 2, 3 (freed), 5, 6 (never used)

    assert objs_of(granted(acquire_many(api, 2, contiguous=True))) == [2, 3]
    granted(api.free(2))
    granted(api.free(3))
    assert objs_of(granted(acquire_many(api, 2))) == [5, 6]


def test_a_contiguous_run_that_does_not_exist_is_pool_exhausted_and_grants_nothing(
    make_api: MakeApi,
) -> None:
    api = several(make_api, 4)
    granted(api.acquire(obj=2))
    before = snapshot(api)

    payload = acquire_many(api, 3, contiguous=True)

    refused(payload, "POOL_EXHAUSTED")
    assert payload["leases"] == [] and payload["replayed"] is False
    assert snapshot(api) == before


def test_all_or_nothing_too_few_free_is_pool_exhausted_and_grants_nothing(
    make_api: MakeApi,
) -> None:
    api = several(make_api, 3)
    granted(api.acquire())
    before = snapshot(api)

    payload = acquire_many(api, 3)

    refused(payload, "POOL_EXHAUSTED")
    assert payload["leases"] == []
    assert snapshot(api) == before


def test_counts_out_of_bounds_are_bad_user_input_and_change_nothing(make_api: MakeApi) -> None:
    api = several(make_api, 3)
    before = snapshot(api)

    for count in (0, -1, 1001, 4):  # 4 is above the pool's size: never grantable
        refused(acquire_many(api, count), "BAD_USER_INPUT")
    refused(acquire_many(api, 4, wait=5), "BAD_USER_INPUT")  # never queued

    assert snapshot(api) == before


def test_a_request_id_replays_the_set_with_replayed_true(make_api: MakeApi) -> None:
    api = several(make_api, 5)
    first = granted(acquire_many(api, 3, owner="ann", request_id="r-1", ttl=60))
    before = snapshot(api)

    again = granted(acquire_many(api, 3, owner="ann", request_id="r-1", ttl=60))

    assert again["replayed"] is True
    assert again["leases"] == first["leases"]
    assert {lease["requestId"] for lease in again["leases"]} == {"r-1"}
    assert snapshot(api) == before
    # Another owner's same id is a new set.
    other = granted(acquire_many(api, 2, owner="bob", request_id="r-1"))
    assert other["replayed"] is False and objs_of(other) == [4, 5]


def test_acquire_object_replayed_is_true_only_for_the_retry(make_api: MakeApi) -> None:
    api = several(make_api, 3)

    first = granted(api.acquire(owner="ann", request_id="r-2"))
    again = granted(api.acquire(owner="ann", request_id="r-2"))

    assert first["replayed"] is False
    assert again["replayed"] is True
    assert again["lease"] == first["lease"]
    assert first["lease"]["requestId"] == "r-2"
    assert refused(api.acquire(pool="nope"), "POOL_NOT_FOUND")
    assert api.acquire(pool="nope")["replayed"] is False


# --- a named object ----------------------------------------------------------------------


def test_acquire_object_obj_takes_exactly_that_object_fresh_or_freed(make_api: MakeApi) -> None:
    api = several(make_api, 5)

    assert granted(api.acquire(obj=4))["lease"]["obj"] == 4
    # The fresh order goes on below 4 and skips it.
    assert [granted(api.acquire())["lease"]["obj"] for _ in range(4)] == [1, 2, 3, 5]
    granted(api.free(2))

    assert granted(api.acquire(obj=2))["lease"]["obj"] == 2


def test_a_held_object_is_object_held_and_out_of_range_is_out_of_range(
    make_api: MakeApi,
) -> None:
    api = several(make_api, 3)
    granted(api.acquire(obj=2))
    before = snapshot(api)

    payload = api.acquire(obj=2)
    refused(payload, "OBJECT_HELD")
    assert payload["lease"] is None and payload["replayed"] is False
    refused(api.acquire(obj=4), "OUT_OF_RANGE")
    refused(api.acquire(obj=0), "OUT_OF_RANGE")

    assert snapshot(api) == before


def test_a_wait_for_a_named_object_gets_it_when_it_is_freed(make_api: MakeApi) -> None:
    api = several(make_api, 3)
    granted(api.acquire(obj=2))

    waiter = queued(api, lambda: api.acquire(obj=2, owner="ann", wait=10))
    granted(api.free(2))

    lease = granted(waiter.answer())["lease"]
    assert (lease["obj"], lease["owner"]) == (2, "ann")


# --- one queue -------------------------------------------------------------------------


def test_a_big_waiter_is_served_before_later_small_ones(make_api: MakeApi) -> None:
    api = several(make_api, 4)
    for _ in range(4):
        granted(api.acquire())
    big = queued(api, lambda: acquire_many(api, 3, owner="big", wait=10))
    small = queued(api, lambda: api.acquire(owner="small", wait=10))

    # Each free alone would serve the small waiter; the big one heads the queue.
    for obj in (1, 2, 3):
        granted(api.free(obj))
    big_payload = granted(big.answer())
    granted(api.free(4))
    small_payload = granted(small.answer())

    assert objs_of(big_payload) == [1, 2, 3]
    assert small_payload["lease"]["obj"] == 4
    assert max(tokens_of(big_payload)) < small_payload["lease"]["token"]


def test_a_named_waiter_and_an_any_waiter_share_the_one_queue(make_api: MakeApi) -> None:
    api = several(make_api, 3)
    granted(api.acquire(obj=1))
    named = queued(api, lambda: api.acquire(obj=1, owner="named", wait=10))
    # 2 and 3 are free, yet the head waits for 1: this one queues behind it.
    anyone = queued(api, lambda: api.acquire(owner="anyone", wait=10))

    granted(api.free(1))

    named_lease = granted(named.answer())["lease"]
    anyone_lease = granted(anyone.answer())["lease"]
    assert named_lease["obj"] == 1
    assert anyone_lease["obj"] == 2
    assert named_lease["token"] < anyone_lease["token"]


def test_an_acquire_without_wait_behind_a_waiter_is_pool_exhausted(make_api: MakeApi) -> None:
    api = several(make_api, 2)
    granted(api.acquire())
    granted(api.acquire())
    waiter = queued(api, lambda: acquire_many(api, 2, wait=10))
    granted(api.free(1))  # one free, the head wants two

    refused(api.acquire(), "POOL_EXHAUSTED")
    refused(api.acquire(obj=1), "POOL_EXHAUSTED")

    granted(api.free(2))
    assert objs_of(granted(waiter.answer())) == [1, 2]


def test_a_several_wait_that_nothing_serves_ends_in_acquire_timeout(make_api: MakeApi) -> None:
    api = several(make_api, 2)
    granted(api.acquire())
    before = snapshot(api)

    payload = acquire_many(api, 2, wait=0.2)

    message = refused(payload, "ACQUIRE_TIMEOUT")
    assert "2 objects" in message
    assert payload["leases"] == []
    assert snapshot(api) == before


# --- limits ----------------------------------------------------------------------------


def test_a_payloads_leases_cost_their_maximum_so_the_cost_limit_holds(make_api: MakeApi) -> None:
    api = make_api(pool_size=3)
    # 20 root fields (the most) of 1 + 1000 x 3: above 50,000 only as costed at 1000 each.
    aliases = " ".join(
        f"a{index}: acquireObjects(count: 1) {{ leases {{ obj token owner }} }}"
        for index in range(20)
    )

    response = api.post(f"mutation {{ {aliases} }}")

    assert response.status_code == 400
    assert code_of(response) == "QUERY_TOO_COMPLEX"
    assert api.stats()["inUse"] == 0  # type: ignore[index]


def test_the_playgrounds_default_document_validates_against_the_schema() -> None:
    page = GRAPHIQL_PAGE.read_text(encoding="utf-8")
    block = page.split("var defaultQuery = [", 1)[1].split("].join", 1)[0]
    lines = re.findall(r"'(.*)',?", block)
    document = parse("\n".join(lines))

    assert not validate(schema.graphql_schema, document)
    names = {definition.name.value for definition in document.definitions}  # type: ignore[attr-defined]
    assert {"AcquireSeveral", "AcquireSeven", "SetPolicy", "Revoke"} <= names


def test_a_contiguous_waiter_is_served_once_a_run_is_free(make_api: MakeApi) -> None:
    api = several(make_api, 4)
    for _ in range(4):
        granted(api.acquire())
    waiter = queued(api, lambda: acquire_many(api, 2, contiguous=True, wait=10))

    granted(api.free(1))
    granted(api.free(3))  # two free, no run of two: the head keeps waiting
    refused(api.acquire(), "POOL_EXHAUSTED")
    granted(api.free(4))

    assert objs_of(granted(waiter.answer())) == [3, 4]
    assert api.held() == [2, 3, 4]


def test_with_auth_on_the_owner_of_a_set_is_the_principal(store_url: str) -> None:
    with principals(store_url, pool_size=4) as users:
        needs(users["alice"], "grant")

        payload = granted(acquire_many(users["alice"], 2, owner="someone else"))

        assert {lease["owner"] for lease in payload["leases"]} == {"alice"}
        refused(users["bob"].free(1), "NOT_OWNER")
