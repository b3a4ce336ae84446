"""A pool's policy (rules R12 and R13 of app/stores/base.py), run against every store;
the comment above a test names the rules it checks."""

from __future__ import annotations

from typing import Any

import pytest

from app.pool.errors import BadUserInput, NotOwner, PoolExhausted, PoolNotFound, QuotaExceeded
from app.pool.events import EventKind
from app.pool.lease import PoolStats
from app.pool.policy import NO_POLICY, PoolPolicy
from app.stores.base import Store

from .conftest import Clock, StoreFactory
from .grant_support import ask, events_of, free, last_seq, objs, one, singles
from .store_support import ALICE, ANYONE, BOB, ROOT


def policy(store: Store, **rules: Any) -> PoolPolicy:
    """Set the default pool's policy to `rules`."""
    chosen = PoolPolicy(**rules)
    store.set_policy("default", chosen, ROOT.principal)
    return chosen


def balanced(stats: PoolStats) -> bool:
    return stats.available + stats.in_use + stats.cooling == stats.size


# The policy as data --------------------------------------------------------


# rule R12
def test_a_pool_starts_with_no_rules(store: Store) -> None:
    stats = store.pool("default")
    assert stats.policy == NO_POLICY and stats.cooling == 0
    assert events_of(store, EventKind.POLICY_CHANGED) == []


# rules R12, R9
def test_a_pool_created_with_a_policy_journals_it_after_its_creation(store: Store) -> None:
    chosen = PoolPolicy(default_ttl=30, max_per_owner=2, description="GPUs é")
    stats = store.create_pool("gpu", 4, ROOT.principal, chosen)
    assert stats.policy == chosen
    assert store.pool("gpu").policy == chosen
    kinds = [(event.kind, event.reason) for event in store.events("gpu", 0, 10)]
    assert kinds == [(EventKind.POOL_CREATED, None), (EventKind.POLICY_CHANGED, chosen.to_json())]
    store.create_pool("plain", 4, ROOT.principal)
    assert [event.kind for event in store.events("plain", 0, 10)] == [EventKind.POOL_CREATED]
    assert store.pool("plain").policy == NO_POLICY


# rules R12, R9
def test_setting_a_policy_replaces_it_whole_and_journals_it(store: Store) -> None:
    first = policy(store, default_ttl=30, max_per_owner=2, reuse_first=True)
    second = policy(store, max_ttl=60)
    assert store.pool("default").policy == second
    assert [p.policy for p in store.pools(10, "")] == [second]
    changed = events_of(store, EventKind.POLICY_CHANGED)
    assert [(event.reason, event.principal) for event in changed] == [
        (first.to_json(), "root"),
        (second.to_json(), "root"),
    ]
    assert second.to_json() == '{"maxTtl":60}'


# rule R12
def test_setting_the_policy_of_no_pool_is_pool_not_found(store: Store) -> None:
    with pytest.raises(PoolNotFound):
        store.set_policy("nope", PoolPolicy(max_ttl=5), ROOT.principal)


# rule R12
def test_a_policy_is_shared_by_every_handle(store_factory: StoreFactory) -> None:
    first, second = store_factory(), store_factory()
    first.ensure_pool("default", 10)
    chosen = PoolPolicy(default_ttl=15)
    first.set_policy("default", chosen, ROOT.principal)
    assert second.pool("default").policy == chosen
    assert one(second).ttl == 15


# TTLs ----------------------------------------------------------------------


# rule R12
def test_default_ttl_is_the_ttl_of_a_grant_naming_none(store: Store, clock: Clock) -> None:
    policy(store, default_ttl=30)
    lease = one(store)
    assert (lease.ttl, lease.expires_at) == (30, clock.now + 30)
    assert one(store, ttl=5).ttl == 5
    assert all(lease.ttl == 30 for lease in ask(store, count=3).leases)


# rule R12
def test_max_ttl_refuses_longer_grants_and_caps_those_naming_none(
    store: Store, clock: Clock
) -> None:
    policy(store, max_ttl=60)
    seq = last_seq(store)
    with pytest.raises(BadUserInput):
        ask(store, ttl=61)
    with pytest.raises(BadUserInput):
        ask(store, count=2, ttl=61)
    assert last_seq(store) == seq
    assert one(store, ttl=60).ttl == 60
    lease = one(store)
    assert (lease.ttl, lease.expires_at) == (60, clock.now + 60)


# rule R12
def test_default_ttl_goes_before_max_ttl(store: Store) -> None:
    policy(store, default_ttl=10, max_ttl=60)
    assert one(store).ttl == 10


# rules R12, R8
def test_max_ttl_refuses_longer_renewals_after_the_owner_check(store: Store, clock: Clock) -> None:
    policy(store, max_ttl=60)
    lease = one(store, owner="alice", ttl=30)
    with pytest.raises(NotOwner):
        store.renew("default", lease.obj, lease.token, BOB, 61)
    with pytest.raises(BadUserInput):
        store.renew("default", lease.obj, lease.token, ALICE, 61)
    assert store.lease("default", lease.obj) == lease
    renewed = store.renew("default", lease.obj, lease.token, ALICE, 60)
    assert renewed.expires_at == clock.now + 60


# rule R12
def test_a_stricter_max_ttl_reaches_held_leases_at_their_next_renewal(
    store: Store, clock: Clock
) -> None:
    forever = one(store)
    long = one(store, ttl=600)
    policy(store, max_ttl=60)
    assert store.lease("default", long.obj) == long
    clock.advance(5)
    assert store.renew("default", long.obj, long.token, ANYONE, None).expires_at == clock.now + 60
    renewed = store.renew("default", forever.obj, forever.token, ANYONE, None)
    assert (renewed.ttl, renewed.expires_at) == (60, clock.now + 60)


# maxPerOwner ---------------------------------------------------------------


# rule R12
def test_max_per_owner_refuses_a_grant_above_it(store: Store) -> None:
    policy(store, max_per_owner=2)
    singles(store, 2, owner="alice")
    seq = last_seq(store)
    with pytest.raises(QuotaExceeded):
        ask(store, owner="alice")
    assert last_seq(store) == seq
    assert len(singles(store, 2, owner="bob")) == 2
    assert len(singles(store, 3)) == 3  # no owner, no quota
    free(store, 1)
    assert one(store, owner="alice").owner == "alice"


# rules R12, R10
def test_max_per_owner_counts_a_whole_set(store: Store) -> None:
    policy(store, max_per_owner=3)
    one(store, owner="alice")
    with pytest.raises(QuotaExceeded):
        ask(store, owner="alice", count=3)
    with pytest.raises(QuotaExceeded):
        ask(store, owner="alice", count=3, contiguous=True)
    assert store.pool("default").in_use == 1
    assert len(ask(store, owner="alice", count=2).leases) == 2


# rules R12, R4
def test_max_per_owner_leaves_expired_leases_out(store: Store, clock: Clock) -> None:
    policy(store, max_per_owner=1)
    one(store, owner="alice", ttl=5)
    with pytest.raises(QuotaExceeded):
        ask(store, owner="alice")
    clock.advance(6)
    assert one(store, owner="alice").owner == "alice"


# rules R12, R5
def test_quota_exceeded_is_told_at_once_even_while_others_wait(store: Store) -> None:
    policy(store, max_per_owner=1)
    one(store, owner="alice")
    singles(store, 9)
    ticket = store.join_queue("default")
    with pytest.raises(QuotaExceeded):
        ask(store, owner="alice")
    with pytest.raises(PoolExhausted):
        ask(store, owner="bob")
    assert store.pool("default").waiting == 1
    store.leave_queue(ticket)


# rules R12, R2
def test_a_replay_goes_before_the_quota(store: Store) -> None:
    policy(store, max_per_owner=1)
    lease = one(store, owner="alice", request_id="job-1")
    again = ask(store, owner="alice", request_id="job-1")
    assert again.replayed and again.leases == (lease,)


# rule R12
def test_a_policy_made_stricter_keeps_what_is_held(store: Store) -> None:
    singles(store, 3, owner="alice")
    policy(store, max_per_owner=1)
    assert len(store.leases("default", 10, 0, owner="alice")) == 3
    with pytest.raises(QuotaExceeded):
        ask(store, owner="alice")


# reuseDelay: cooling -------------------------------------------------------


# rule R13
def test_an_expired_object_cools_and_comes_back_at_the_instant_its_cooling_ends(
    store: Store, clock: Clock
) -> None:
    policy(store, reuse_delay=30)
    lease = one(store, ttl=10)
    clock.advance(10)
    stats = store.pool("default")
    assert (stats.in_use, stats.cooling, stats.available) == (0, 1, 9)
    clock.advance(29.5)
    assert store.pool("default").cooling == 1
    clock.advance(0.5)
    stats = store.pool("default")
    assert (stats.in_use, stats.cooling, stats.available) == (0, 0, 10)
    assert store.lease("default", lease.obj) is None


# rule R13
def test_a_cooling_object_is_never_granted(store: Store, clock: Clock) -> None:
    store.create_pool("pair", 2, ROOT.principal, PoolPolicy(reuse_delay=30))
    cooled = one(store, "pair", ttl=5).obj
    held = one(store, "pair").obj
    clock.advance(6)
    with pytest.raises(PoolExhausted):
        ask(store, "pair")
    with pytest.raises(PoolExhausted):
        ask(store, "pair", count=2)
    free(store, held, pool="pair")
    with pytest.raises(PoolExhausted):
        ask(store, "pair", count=2, contiguous=True)
    clock.advance(30)
    assert objs(ask(store, "pair", count=2)) == [held, cooled]


# rule R13
def test_a_holders_free_never_cools(store: Store) -> None:
    policy(store, reuse_delay=30)
    lease = one(store, ttl=10)
    free(store, lease.obj)
    stats = store.pool("default")
    assert (stats.cooling, stats.available) == (0, 10)


# rules R13, R1
def test_a_cooled_object_joins_the_free_order_at_its_cooling_end(
    store: Store, clock: Clock
) -> None:
    policy(store, reuse_delay=5)
    expiring = one(store, ttl=10).obj
    singles(store, 9)
    clock.advance(12)
    free(store, 3)  # freed at +12, before the cooling ends at +15
    clock.advance(8)
    free(store, 4)  # freed at +20, after it
    clock.advance(1)
    assert singles(store, 3) == [3, expiring, 4]


# rules R13, R12
def test_a_new_reuse_delay_leaves_cooling_ends_as_they_were(store: Store, clock: Clock) -> None:
    policy(store, reuse_delay=30)
    one(store, ttl=5)
    clock.advance(5)
    assert store.pool("default").cooling == 1
    policy(store, reuse_delay=1000)
    clock.advance(30)
    assert store.pool("default").cooling == 0


# rules R13, R6
def test_cooling_counts_within_the_size_only(store: Store, clock: Clock) -> None:
    policy(store, reuse_delay=30)
    singles(store, 8)
    one(store, ttl=5)
    one(store, ttl=5)
    clock.advance(5)
    assert store.pool("default").cooling == 2
    stats = store.resize_pool("default", 9, ROOT.principal)
    assert (stats.cooling, stats.in_use, stats.available) == (1, 8, 0)
    assert balanced(stats)


# rule R13
def test_available_in_use_and_cooling_add_up_to_the_size(store: Store, clock: Clock) -> None:
    policy(store, reuse_delay=20)
    for ttl in (5, 10, 15, 20, 25):
        one(store, ttl=ttl)
    singles(store, 2)
    for _ in range(12):
        clock.advance(3)
        assert balanced(store.pool("default"))


# reuseFirst ----------------------------------------------------------------


# rules R13, R1
def test_reuse_first_hands_out_freed_objects_before_never_used_ones(store: Store) -> None:
    policy(store, reuse_first=True)
    singles(store, 4)
    free(store, 3, 1)
    assert singles(store, 3) == [3, 1, 5]
    free(store, 2, 4)
    assert objs(ask(store, count=3)) == [2, 4, 6]


# rules R13, R10
def test_reuse_first_churn_keeps_to_the_objects_held_at_once(store: Store) -> None:
    store.create_pool("huge", 2**31 - 1, ROOT.principal, PoolPolicy(reuse_first=True))
    seen: set[int] = set()
    for _ in range(50):
        grant = ask(store, "huge", count=3)
        seen.update(objs(grant))
        free(store, *objs(grant), pool="huge")
    assert seen == {1, 2, 3}


# rules R13, R11
def test_reuse_first_leaves_named_and_contiguous_grants_as_they_are(store: Store) -> None:
    policy(store, reuse_first=True)
    singles(store, 3)
    free(store, 2)
    assert one(store, obj=7).obj == 7
    assert objs(ask(store, count=2, contiguous=True)) == [4, 5]
    assert singles(store, 2) == [2, 6]


# rule R12
def test_max_per_owner_is_counted_across_handles(store_factory: StoreFactory) -> None:
    first, second = store_factory(), store_factory()
    first.ensure_pool("default", 10)
    first.set_policy("default", PoolPolicy(max_per_owner=3), ROOT.principal)
    ask(first, owner="alice", count=2)
    with pytest.raises(QuotaExceeded):
        ask(second, owner="alice", count=2)
    one(second, owner="alice")
    with pytest.raises(QuotaExceeded):
        ask(first, owner="alice")
    assert len(second.leases("default", 10, 0, owner="alice")) == 3


# rules R13, R4
def test_cooling_objects_are_counted_by_every_handle(
    store_factory: StoreFactory, clock: Clock
) -> None:
    first, second = store_factory(), store_factory()
    first.ensure_pool("default", 10)
    first.set_policy("default", PoolPolicy(reuse_delay=10), ROOT.principal)
    ask(first, count=3, ttl=5)
    clock.advance(5)
    stats = second.pool("default")
    assert (stats.in_use, stats.cooling, stats.available) == (0, 3, 7)
    clock.advance(10)
    stats = first.pool("default")
    assert (stats.in_use, stats.cooling, stats.available) == (0, 0, 10)
