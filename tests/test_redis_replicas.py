"""OBJMGR_REDIS_MIN_REPLICAS on a primary with one replica (`redis://`).

A change is answered once the replica has it; with the replica frozen it is
OUTCOME_UNKNOWN, and the same requestId finds it once the replica is back;
reads never wait for replicas; with 0 replicas required nothing waits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.pool.errors import OutcomeUnknown
from app.pool.lease import AcquireRequest, Caller
from app.stores.redis import RedisStore
from app.stores.redis.topology import RedisOptions

from .conditions import wait_until
from .support.redis_sentinel import (
    DataNode,
    ReplicatedRedis,
    launch_replicated,
    offsets_equal,
    wait_replicating,
)

ANYONE = Caller.auth_off()
#: Seconds a store that must be confirmed gives its replica.
PATIENT = 10.0
#: The pool's leases hash (model.py), read straight off a node.
LEASES = "objmgr:{pool:p}:leases"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicatedRedis]:
    pair = launch_replicated(Path(tmp_path_factory.mktemp("replicated")))
    yield pair
    pair.close()


@pytest.fixture
def emptied(pair: ReplicatedRedis) -> ReplicatedRedis:
    pair.replica.resume()  # a test that failed while it was frozen
    wait_replicating(pair.primary, pair.replica)
    with pair.primary.client() as client:
        client.flushall()
    wait_until(lambda: offsets_equal(pair.primary, pair.replica), what="the replica to catch up")
    return pair


def held_on(node: DataNode, obj: int) -> dict[str, object] | None:
    """The lease of `obj` as `node` holds it."""
    with node.client() as client:
        raw = client.hget(LEASES, str(obj))
    return None if raw is None else dict(json.loads(raw))


def waiting_for(url: str, replicas: int, socket_timeout: float = PATIENT) -> RedisStore:
    """A store whose changes wait for `replicas`; by default patient enough that
    a loaded machine's replica confirms in time (a confirmed change answers at once)."""
    return RedisStore(
        url, socket_timeout=socket_timeout, options=RedisOptions(min_replicas=replicas)
    )


def test_a_change_is_answered_once_the_replica_has_it(emptied: ReplicatedRedis) -> None:
    store = waiting_for(emptied.url, 1)
    store.ensure_pool("p", 10)

    lease = store.acquire(AcquireRequest("p", owner="a", request_id="r1"))

    # Read on the replica right after the answer: WAIT said it has it.
    on_replica = held_on(emptied.replica, lease.obj)
    assert on_replica is not None
    assert int(str(on_replica["token"])) == lease.token
    store.free("p", lease.obj, ANYONE, lease.token)
    assert held_on(emptied.replica, lease.obj) is None


def test_with_the_replica_frozen_a_grant_is_outcome_unknown_and_found_by_its_request_id(
    emptied: ReplicatedRedis,
) -> None:
    store = waiting_for(emptied.url, 1)
    store.ensure_pool("p", 10)
    before = store.acquire(AcquireRequest("p", owner="a"))
    emptied.replica.pause()
    try:
        # Waits out its deadline: no replica can confirm.
        with pytest.raises(OutcomeUnknown, match="replicas"):
            waiting_for(emptied.url, 1, socket_timeout=1.0).acquire(
                AcquireRequest("p", owner="b", request_id="r2")
            )
        # Reads do not wait for replicas.
        seen = store.lease("p", before.obj)
        assert seen is not None and seen.token == before.token
    finally:
        emptied.replica.resume()
    wait_until(lambda: offsets_equal(emptied.primary, emptied.replica), what="the replica")

    found = store.acquire(AcquireRequest("p", owner="b", request_id="r2"))

    # The primary had made it: the retry is the same grant, now on the replica too.
    on_replica = held_on(emptied.replica, found.obj)
    assert on_replica is not None and int(str(on_replica["token"])) == found.token
    assert found.obj != before.obj


def test_with_no_replica_required_a_change_is_answered_with_the_replica_frozen(
    emptied: ReplicatedRedis,
) -> None:
    store = RedisStore(emptied.url, options=RedisOptions(min_replicas=0))
    store.ensure_pool("p", 10)
    emptied.replica.pause()
    try:
        lease = store.acquire(AcquireRequest("p", owner="a"))
        # Acknowledged, and on the primary alone.
        assert held_on(emptied.primary, lease.obj) is not None
    finally:
        emptied.replica.resume()


def test_more_replicas_required_than_there_are_is_outcome_unknown(
    emptied: ReplicatedRedis,
) -> None:
    # Confirmed by the replica first, so that it is known to be acknowledging;
    # opening loads every script, so the acquire below meets no NOSCRIPT (whose
    # retry would find its WAIT's time spent by the first send's).
    confirmed = waiting_for(emptied.url, 1)
    confirmed.open()
    confirmed.ensure_pool("p", 10)
    store = waiting_for(emptied.url, 2, socket_timeout=2.0)

    # The second replica never confirms: whether the one there is counted depends on
    # when its ack lands within the wait, so the count is not what this asserts.
    with pytest.raises(OutcomeUnknown, match=r"[01] of the 2 replicas required"):
        store.acquire(AcquireRequest("p", owner="a"))
