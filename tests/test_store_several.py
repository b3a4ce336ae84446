"""Several objects in one grant (rule R10 of app/stores/base.py), run against every
store; the comment above a test names the rules it checks. The grants go
straight to the store, as the service makes them."""

from __future__ import annotations

import pytest

from app.pool.errors import BadUserInput, ObjectHeld, PoolExhausted
from app.pool.events import EventKind
from app.pool.policy import PoolPolicy
from app.stores.base import Store

from .conftest import Clock, StoreFactory
from .grant_support import ask, events_of, free, last_seq, objs, one, singles
from .store_support import ROOT

# Counting -----------------------------------------------------------------


# rules R10, R1
def test_a_count_takes_never_used_objects_in_order(store: Store) -> None:
    assert objs(ask(store, count=3)) == [1, 2, 3]
    assert objs(ask(store, count=7)) == [4, 5, 6, 7, 8, 9, 10]
    assert store.pool("default").available == 0


# rules R10, R1
def test_a_count_takes_what_single_grants_would_in_their_order(store: Store) -> None:
    singles(store, 10)
    free(store, 7, 2, 9)
    assert objs(ask(store, count=3)) == [7, 2, 9]


# rules R10, R1
def test_a_count_takes_never_used_objects_before_freed_ones(store: Store) -> None:
    singles(store, 2)
    free(store, 1)
    assert objs(ask(store, count=9)) == [3, 4, 5, 6, 7, 8, 9, 10, 1]


# rules R10, R3
def test_a_set_has_increasing_tokens_each_journaled(store: Store) -> None:
    before = one(store).token
    grant = ask(store, count=4, owner="ci", label="job", ttl=30)
    tokens = [lease.token for lease in grant.leases]
    assert tokens == sorted(set(tokens)) and tokens[0] > before
    assert not grant.replayed
    assert all((lease.owner, lease.label, lease.ttl) == ("ci", "job", 30) for lease in grant.leases)
    granted = events_of(store, EventKind.GRANTED)[1:]
    assert [(event.obj, event.token) for event in granted] == [
        (lease.obj, lease.token) for lease in grant.leases
    ]


# rule R10
def test_a_set_is_all_or_nothing(store: Store) -> None:
    singles(store, 8)
    seq = last_seq(store)
    with pytest.raises(PoolExhausted):
        ask(store, count=3)
    with pytest.raises(PoolExhausted):
        ask(store, count=3, contiguous=True)
    stats = store.pool("default")
    assert (stats.in_use, stats.available) == (8, 2)
    assert last_seq(store) == seq
    assert objs(ask(store, count=2)) == [9, 10]


# rule R10
@pytest.mark.parametrize("contiguous", [False, True])
def test_a_count_above_the_size_is_bad_input(store: Store, contiguous: bool) -> None:
    with pytest.raises(BadUserInput):
        ask(store, count=11, contiguous=contiguous)
    assert store.pool("default").in_use == 0


# rules R10, R6
def test_a_count_above_a_shrunk_size_is_bad_input(store: Store) -> None:
    store.resize_pool("default", 4, ROOT.principal)
    with pytest.raises(BadUserInput):
        ask(store, count=5)
    assert objs(ask(store, count=4)) == [1, 2, 3, 4]


# Contiguous ---------------------------------------------------------------


# rule R10
def test_contiguous_takes_the_lowest_run_long_enough(store: Store) -> None:
    singles(store, 10)
    free(store, 2, 3, 6, 7, 5)
    assert objs(ask(store, count=3, contiguous=True)) == [5, 6, 7]
    assert objs(ask(store, count=2, contiguous=True)) == [2, 3]


# rule R10
def test_contiguous_joins_freed_and_never_used_objects(store: Store) -> None:
    singles(store, 5)
    free(store, 5, 4)
    assert objs(ask(store, count=3, contiguous=True)) == [4, 5, 6]
    assert singles(store, 4) == [7, 8, 9, 10]


# rule R10
def test_contiguous_stays_within_the_size(store: Store) -> None:
    singles(store, 8)
    free(store, 1)
    with pytest.raises(PoolExhausted):
        ask(store, count=3, contiguous=True)
    assert objs(ask(store, count=2, contiguous=True)) == [9, 10]


# rules R10, R6
def test_contiguous_never_takes_retired_objects_above_a_shrunk_size(store: Store) -> None:
    singles(store, 10)
    store.resize_pool("default", 6, ROOT.principal)
    free(store, 7, 5, 6)
    with pytest.raises(PoolExhausted):
        ask(store, count=3, contiguous=True)
    assert objs(ask(store, count=2, contiguous=True)) == [5, 6]
    store.resize_pool("default", 10, ROOT.principal)
    free(store, 8)
    assert objs(ask(store, count=2, contiguous=True)) == [7, 8]


# rules R10, R11
def test_contiguous_goes_around_a_named_object(store: Store) -> None:
    assert one(store, obj=3).obj == 3
    assert objs(ask(store, count=3, contiguous=True)) == [4, 5, 6]
    assert singles(store, 4) == [1, 2, 7, 8]


# rules R10, R4
def test_contiguous_counts_an_expired_lease_as_free(store: Store, clock: Clock) -> None:
    singles(store, 4)
    one(store, ttl=5)
    singles(store, 5)
    free(store, 4, 6)
    clock.advance(6)
    assert objs(ask(store, count=3, contiguous=True)) == [4, 5, 6]


# rule R10
def test_a_contiguous_set_in_a_huge_pool_is_found_at_once(store: Store) -> None:
    store.create_pool("huge", 2**31 - 1, ROOT.principal)
    first = objs(ask(store, "huge", count=1000))
    free(store, *first[100:200], pool="huge")
    assert objs(ask(store, "huge", count=50, contiguous=True)) == list(range(101, 151))
    assert objs(ask(store, "huge", count=200, contiguous=True)) == list(range(1001, 1201))


# Replaying a set ----------------------------------------------------------


# rules R10, R2
def test_a_set_comes_back_for_its_request_id(store: Store) -> None:
    grant = ask(store, count=3, owner="w1", request_id="job-1", ttl=30)
    again = ask(store, count=3, owner="w1", request_id="job-1", ttl=30)
    assert again.replayed and again.leases == grant.leases
    assert store.pool("default").in_use == 3
    other = ask(store, count=3, owner="w2", request_id="job-1")
    assert not other.replayed and objs(other) == [4, 5, 6]


# rules R10, R2
def test_a_replay_returns_the_survivors_of_a_set(store: Store) -> None:
    grant = ask(store, count=3, request_id="job-1")
    free(store, grant.leases[1].obj)
    again = ask(store, count=3, request_id="job-1")
    assert again.replayed and again.leases == (grant.leases[0], grant.leases[2])
    free(store, grant.leases[0].obj, grant.leases[2].obj)
    anew = ask(store, count=3, request_id="job-1")
    assert not anew.replayed
    assert min(lease.token for lease in anew.leases) > max(lease.token for lease in grant.leases)


# Waiting as one ticket ----------------------------------------------------


# rules R10, R5
def test_a_set_waits_as_one_ticket_and_is_served_whole(store: Store) -> None:
    singles(store, 9)
    ticket = store.join_queue("default")
    with pytest.raises(PoolExhausted):
        ask(store, ticket=ticket, count=3)
    assert store.pool("default").waiting == 1
    free(store, 4)
    with pytest.raises(PoolExhausted):
        ask(store, ticket=ticket, count=3)
    free(store, 8)
    assert sorted(objs(ask(store, ticket=ticket, count=3))) == [4, 8, 10]
    assert store.pool("default").waiting == 0


# rules R10, R5
def test_a_big_waiter_is_not_starved_by_small_requests(store: Store) -> None:
    singles(store, 9)
    big = store.join_queue("default")
    with pytest.raises(PoolExhausted):
        ask(store, ticket=big, count=3)
    # The one free object goes to nobody while the big waiter heads the queue.
    with pytest.raises(PoolExhausted):
        ask(store)
    small = store.join_queue("default")
    with pytest.raises(PoolExhausted):
        ask(store, ticket=small)
    free(store, 1, 2)
    assert objs(ask(store, ticket=big, count=3)) == [10, 1, 2]
    free(store, 5)
    assert objs(ask(store, ticket=small)) == [5]
    assert store.pool("default").waiting == 0


# rules R10, R5
def test_a_contiguous_waiter_heads_the_queue_until_its_run_is_free(store: Store) -> None:
    singles(store, 10)
    ticket = store.join_queue("default")
    free(store, 2, 4)
    with pytest.raises(PoolExhausted):
        ask(store, ticket=ticket, count=2, contiguous=True)
    with pytest.raises(PoolExhausted):
        ask(store)
    free(store, 5)
    assert objs(ask(store, ticket=ticket, count=2, contiguous=True)) == [4, 5]
    assert one(store).obj == 2


# rules R10, R5, R2
def test_a_waiter_whose_set_was_granted_before_leaves_the_queue(store: Store) -> None:
    grant = ask(store, count=2, request_id="job-1")
    ticket = store.join_queue("default")
    again = ask(store, ticket=ticket, count=2, request_id="job-1")
    assert again.replayed and again.leases == grant.leases
    assert store.pool("default").waiting == 0


# rules R10, R5
def test_a_set_waiter_is_woken_once_its_objects_are_free(store_factory: StoreFactory) -> None:
    first, second = store_factory(), store_factory()
    first.ensure_pool("default", 10)
    singles(first, 10)
    ticket = first.join_queue("default")
    with pytest.raises(PoolExhausted):
        ask(first, ticket=ticket, count=2)
    free(second, 3, 6)
    # Bounded: a store that forgot the wake-up fails here, after the timeout.
    assert first.wait_until_woken(ticket, 10.0)
    assert sorted(objs(ask(first, ticket=ticket, count=2))) == [3, 6]


# rules R10, R1
def test_two_handles_never_grant_one_object_twice_in_sets(store_factory: StoreFactory) -> None:
    first, second = store_factory(), store_factory()
    first.ensure_pool("default", 10)
    granted: list[int] = []
    for handle, contiguous in ((first, False), (second, True), (first, True), (second, False)):
        granted += objs(ask(handle, count=2, contiguous=contiguous))
    free(second, *granted[::3])
    granted += objs(ask(first, count=4))
    live = [lease.obj for lease in second.leases("default", 100, 0)]
    assert sorted(live) == sorted(set(live)) and len(live) == 9
    tokens = [lease.token for lease in second.leases("default", 100, 0)]
    assert len(set(tokens)) == len(tokens)


# rules R10, R13
def test_a_cooling_object_cuts_a_run(store: Store, clock: Clock) -> None:
    store.set_policy("default", PoolPolicy(reuse_delay=30), ROOT.principal)
    singles(store, 4)
    one(store, ttl=5)
    singles(store, 5)
    free(store, 3, 4, 6, 7)
    clock.advance(5)
    assert store.pool("default").cooling == 1
    with pytest.raises(PoolExhausted):
        ask(store, count=3, contiguous=True)
    assert objs(ask(store, count=2, contiguous=True)) == [3, 4]
    clock.advance(30)
    assert objs(ask(store, count=3, contiguous=True)) == [5, 6, 7]


# rules R10, R11, R5
def test_waiters_for_a_named_object_any_object_and_a_set_share_one_queue(store: Store) -> None:
    singles(store, 10)
    named, any_one, several = (store.join_queue("default") for _ in range(3))
    free(store, 5)
    with pytest.raises(ObjectHeld):
        ask(store, ticket=named, obj=3)
    with pytest.raises(PoolExhausted):
        ask(store, ticket=any_one)
    free(store, 3)
    with pytest.raises(PoolExhausted):
        ask(store, ticket=several, count=2)
    assert one(store, ticket=named, obj=3).obj == 3
    assert one(store, ticket=any_one).obj == 5
    with pytest.raises(PoolExhausted):
        ask(store, ticket=several, count=2)
    free(store, 1, 2)
    assert objs(ask(store, ticket=several, count=2)) == [1, 2]
    assert store.pool("default").waiting == 0
