"""A named object (rule R11 of app/stores/base.py), run against every store; the
comment above a test names the rules it checks."""

from __future__ import annotations

import pytest

from app.pool.errors import (
    BadUserInput,
    ObjectHeld,
    OutOfRange,
    PoolExhausted,
    PoolNotFound,
    QuotaExceeded,
)
from app.pool.events import EventKind
from app.pool.policy import PoolPolicy
from app.stores.base import Store

from .conftest import Clock
from .grant_support import ask, events_of, free, last_seq, one, singles
from .store_support import ROOT


# rule R11
@pytest.mark.parametrize("obj", [0, -1, 11, 2**31 - 1])
def test_a_named_object_outside_the_pool_is_out_of_range(store: Store, obj: int) -> None:
    with pytest.raises(OutOfRange):
        ask(store, obj=obj)
    assert store.pool("default").in_use == 0


# rule R11
def test_a_named_object_of_no_pool_is_pool_not_found(store: Store) -> None:
    with pytest.raises(PoolNotFound):
        ask(store, "nope", obj=1)


# rules R11, R6
def test_a_named_object_above_a_shrunk_size_is_out_of_range(store: Store) -> None:
    store.resize_pool("default", 5, ROOT.principal)
    with pytest.raises(OutOfRange):
        ask(store, obj=6)


# rule R11
def test_a_held_object_is_object_held_and_nothing_changes(store: Store) -> None:
    held = one(store, obj=4)
    seq = last_seq(store)
    with pytest.raises(ObjectHeld):
        ask(store, obj=4)
    assert store.lease("default", 4) == held
    assert last_seq(store) == seq
    assert store.pool("default").in_use == 1


# rule R11
def test_a_named_object_is_granted_with_its_lease(store: Store, clock: Clock) -> None:
    lease = one(store, obj=7, owner="ci", label="job 1", ttl=30)
    assert (lease.obj, lease.owner, lease.label, lease.ttl) == (7, "ci", "job 1", 30)
    assert lease.expires_at == clock.now + 30
    granted = events_of(store, EventKind.GRANTED)
    assert [(event.obj, event.token) for event in granted] == [(7, lease.token)]


# rules R11, R1
def test_a_never_used_object_above_the_fresh_pointer_leaves_the_others_in_order(
    store: Store,
) -> None:
    assert one(store, obj=5).obj == 5
    assert singles(store, 9) == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    with pytest.raises(PoolExhausted):
        ask(store)


# rules R11, R1
def test_a_named_object_taken_and_freed_comes_back_as_freed(store: Store) -> None:
    one(store, obj=5)
    free(store, 5)
    singles(store, 2)
    one(store, obj=8)
    # 5 was freed before 1..4 were handed out, so it comes after the never-used ones.
    assert singles(store, 7) == [3, 4, 6, 7, 9, 10, 5]


# rules R11, R1
def test_a_freed_object_taken_by_name_leaves_the_free_order(store: Store) -> None:
    singles(store, 10)
    free(store, 3, 6, 9)
    assert one(store, obj=6).obj == 6
    assert singles(store, 2) == [3, 9]


# rules R11, R1
def test_the_fresh_pointer_reaching_a_named_object_passes_it_once(store: Store) -> None:
    one(store, obj=2)
    one(store, obj=3)
    assert singles(store, 2) == [1, 4]
    free(store, 2, 3)
    assert singles(store, 8) == [5, 6, 7, 8, 9, 10, 2, 3]


# rules R11, R4
def test_a_named_object_whose_lease_expired_is_granted(store: Store, clock: Clock) -> None:
    old = one(store, obj=3, ttl=5)
    clock.advance(6)
    new = one(store, obj=3)
    assert new.token > old.token
    assert [event.obj for event in events_of(store, EventKind.EXPIRED)] == [3]


# rules R11, R13
def test_a_cooling_object_is_object_held_until_its_cooling_ends(store: Store, clock: Clock) -> None:
    store.set_policy("default", PoolPolicy(reuse_delay=30), ROOT.principal)
    one(store, obj=3, ttl=10)
    clock.advance(11)
    with pytest.raises(ObjectHeld):
        ask(store, obj=3)
    clock.advance(28)
    with pytest.raises(ObjectHeld):
        ask(store, obj=3)
    clock.advance(1)
    assert one(store, obj=3).obj == 3


# rules R11, R2
def test_a_named_grant_comes_back_for_its_request_id(store: Store) -> None:
    lease = one(store, obj=6, request_id="job-1")
    again = ask(store, obj=6, request_id="job-1")
    assert again.replayed and again.leases == (lease,)


# rules R11, R5
def test_a_named_waiter_waits_for_its_object_in_the_one_queue(store: Store) -> None:
    one(store, obj=3)
    ticket = store.join_queue("default")
    with pytest.raises(ObjectHeld):
        ask(store, ticket=ticket, obj=3)
    assert store.pool("default").waiting == 1
    # Free objects are there, but the named waiter heads the queue.
    with pytest.raises(PoolExhausted):
        ask(store)
    with pytest.raises(PoolExhausted):
        ask(store, obj=4)
    free(store, 3)
    assert one(store, ticket=ticket, obj=3).obj == 3
    assert store.pool("default").waiting == 0
    assert one(store).obj == 1


# rules R11, R5
def test_a_named_request_behind_a_waiter_is_refused_even_when_its_object_is_free(
    store: Store,
) -> None:
    singles(store, 10)
    first = store.join_queue("default")
    later = store.join_queue("default")
    free(store, 7)
    with pytest.raises(PoolExhausted):
        ask(store, ticket=later, obj=7)
    assert one(store, ticket=first).obj == 7
    with pytest.raises(ObjectHeld):
        ask(store, ticket=later, obj=7)
    free(store, 7)
    assert one(store, ticket=later, obj=7).obj == 7


# rules R11, R12
def test_a_named_grant_follows_the_pools_policy(store: Store, clock: Clock) -> None:
    store.set_policy(
        "default", PoolPolicy(default_ttl=20, max_ttl=60, max_per_owner=1), ROOT.principal
    )
    lease = one(store, obj=4, owner="alice")
    assert (lease.ttl, lease.expires_at) == (20, clock.now + 20)
    with pytest.raises(BadUserInput):
        ask(store, obj=5, ttl=61)
    with pytest.raises(QuotaExceeded):
        ask(store, obj=5, owner="alice")
    # Refused before the object is looked at: the quota goes before OBJECT_HELD.
    with pytest.raises(QuotaExceeded):
        ask(store, obj=4, owner="alice")
    assert one(store, obj=5, owner="bob").obj == 5
