"""`acquireObject(wait:)`: a caller that finds the pool full waits for a free.

No wait means no waiting; a wait that nothing serves ends in ACQUIRE_TIMEOUT,
never beyond the server's cap; a free meanwhile goes to the waiter, which
shows in the pool's `waiting` while it waits.
"""

from __future__ import annotations

import time

from .api_support import (
    NO_RULES,
    MakeApi,
    granted,
    refused,
    served_by_a_free,
    snapshot,
)


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

    lease = granted(served_by_a_free(api, owner="second"))["lease"]
    assert (lease["obj"], lease["owner"]) == (1, "second")
    assert lease["token"] > first["token"]
    assert api.stats() == {
        "name": "default",
        "size": 1,
        "available": 0,
        "inUse": 1,
        "waiting": 0,
        **NO_RULES,
    }
