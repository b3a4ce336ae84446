"""Revocation (rule R14 of app/stores/base.py), run against every store; the comment
above a test names the rules it checks."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from app.pool.errors import NotAllocated, PoolNotFound, StaleToken
from app.pool.events import Event, EventKind
from app.pool.lease import RevokeFilter
from app.pool.policy import PoolPolicy
from app.stores.base import Store

from .conftest import Clock
from .grant_support import ask, events_of, free, last_seq, objs, one, singles
from .store_support import ANYONE, ROOT


def revoked_objs(store: Store, which: RevokeFilter, pool: str = "default") -> list[int]:
    return [lease.obj for lease in store.revoke(pool, which, ROOT.principal)]


def mixed(store: Store) -> None:
    """1-2 alice's "ci/..." leases, 3-4 bob's, 5 alice's "dev", 6 nobody's."""
    one(store, owner="alice", label="ci/1")
    one(store, owner="alice", label="ci/2")
    one(store, owner="bob", label="ci/3")
    one(store, owner="bob", label="web")
    one(store, owner="alice", label="dev")
    one(store)


# rule R14
def test_revoking_with_no_filter_ends_every_lease_in_object_order(store: Store) -> None:
    singles(store, 10)
    free(store, 4)
    leases = store.revoke("default", RevokeFilter(reason="maintenance"), ROOT.principal)
    assert [lease.obj for lease in leases] == [1, 2, 3, 5, 6, 7, 8, 9, 10]
    stats = store.pool("default")
    assert (stats.in_use, stats.available) == (0, 10)
    assert store.leases("default", 100, 0) == []


# rules R14, R9
def test_each_revocation_is_journaled_with_its_reason_and_principal(store: Store) -> None:
    granted = ask(store, count=3, owner="ci").leases
    seq = last_seq(store)
    store.revoke("default", RevokeFilter(reason="host lost"), "root")
    revoked = events_of(store, EventKind.REVOKED, after=seq)
    assert [(e.obj, e.token, e.owner, e.reason, e.principal) for e in revoked] == [
        (lease.obj, lease.token, "ci", "host lost", "root") for lease in granted
    ]
    assert [e.kind for e in store.events("default", seq, 100)] == [EventKind.REVOKED] * 3


# rule R14
@pytest.mark.parametrize(
    ("which", "expected"),
    [
        (RevokeFilter(owner="alice"), [1, 2, 5]),
        (RevokeFilter(label_prefix="ci/"), [1, 2, 3]),
        (RevokeFilter(objs=frozenset({2, 4, 6, 9})), [2, 4, 6]),
        (RevokeFilter(owner="alice", label_prefix="ci/"), [1, 2]),
        (RevokeFilter(owner="bob", objs=frozenset({1, 3})), [3]),
        (RevokeFilter(label_prefix="ci/", objs=frozenset({2, 3, 5})), [2, 3]),
        (RevokeFilter(owner="carol"), []),
        (RevokeFilter(label_prefix="x"), []),
    ],
)
def test_revoking_ends_the_leases_matching_every_filter(
    store: Store, which: RevokeFilter, expected: list[int]
) -> None:
    mixed(store)
    assert revoked_objs(store, which) == expected
    left = [lease.obj for lease in store.leases("default", 100, 0)]
    assert left == [obj for obj in range(1, 7) if obj not in expected]


# rules R14, R9
def test_revoking_nothing_writes_nothing(store: Store) -> None:
    mixed(store)
    seq = last_seq(store)
    assert revoked_objs(store, RevokeFilter(owner="nobody")) == []
    assert last_seq(store) == seq


# rule R14
def test_revoking_in_no_pool_is_pool_not_found(store: Store) -> None:
    with pytest.raises(PoolNotFound):
        store.revoke("nope", RevokeFilter(), ROOT.principal)


# rules R14, R8
def test_a_revoked_holder_can_neither_free_nor_renew(store: Store) -> None:
    lease = one(store, owner="alice", ttl=60)
    store.revoke("default", RevokeFilter(owner="alice"), ROOT.principal)
    with pytest.raises(NotAllocated):
        store.free("default", lease.obj, ANYONE, lease.token)
    with pytest.raises(NotAllocated):
        store.renew("default", lease.obj, lease.token, ANYONE, None)
    again = one(store, obj=lease.obj)
    with pytest.raises(StaleToken):
        store.free("default", lease.obj, ANYONE, lease.token)
    assert store.free("default", lease.obj, ANYONE, again.token) == lease.obj


# rules R14, R4
def test_an_expired_lease_is_not_revoked_but_expires(store: Store, clock: Clock) -> None:
    one(store, ttl=5)
    one(store)
    clock.advance(6)
    assert revoked_objs(store, RevokeFilter()) == [2]
    assert [event.obj for event in events_of(store, EventKind.EXPIRED)] == [1]


# rules R14, R1
def test_a_revoked_object_goes_back_as_freed_now(store: Store) -> None:
    singles(store, 10)
    free(store, 8)
    store.revoke("default", RevokeFilter(objs=frozenset({3})), ROOT.principal)
    free(store, 5)
    assert singles(store, 3) == [8, 3, 5]


# rules R14, R13
def test_a_revoked_object_cools_under_a_reuse_delay(store: Store, clock: Clock) -> None:
    store.set_policy("default", PoolPolicy(reuse_delay=30), ROOT.principal)
    singles(store, 10)
    store.revoke("default", RevokeFilter(objs=frozenset({2, 7})), ROOT.principal)
    stats = store.pool("default")
    assert (stats.in_use, stats.cooling, stats.available) == (8, 2, 0)
    with pytest.raises(NotAllocated):
        free(store, 2)
    clock.advance(30)
    stats = store.pool("default")
    assert (stats.cooling, stats.available) == (0, 2)
    assert objs(ask(store, count=2)) == [2, 7]


# rules R14, R5
def test_a_revocation_wakes_the_head_of_the_queue(store: Store) -> None:
    singles(store, 10, owner="alice")
    ticket = store.join_queue("default")
    store.revoke("default", RevokeFilter(objs=frozenset({4})), ROOT.principal)
    # Bounded: a store that forgot the wake-up fails here, after the timeout.
    assert store.wait_until_woken(ticket, 10.0)
    assert one(store, ticket=ticket).obj == 4


# rules R14, R15
def test_revoked_leases_leave_their_owners_lists(store: Store) -> None:
    mixed(store)
    store.revoke("default", RevokeFilter(label_prefix="ci/"), ROOT.principal)
    assert [lease.obj for lease in store.leases("default", 10, 0, owner="alice")] == [5]
    assert [lease.obj for lease in store.owner_leases("bob", 10)] == [4]


# rule R14
def test_a_big_revocation_goes_in_several_bounded_steps(store: Store) -> None:
    store.create_pool("big", 3001, ROOT.principal)
    for _ in range(3):
        ask(store, "big", count=1000, owner="batch", label="run/7")
    one(store, "big", owner="other")  # 3001, which the filter leaves alone
    commits: list[int] = []

    def heard(events: Sequence[Event]) -> None:
        commits.append(sum(event.kind is EventKind.REVOKED for event in events))

    store.listen(heard)
    revoked = store.revoke("big", RevokeFilter(owner="batch"), ROOT.principal)
    assert [lease.obj for lease in revoked] == list(range(1, 3001))
    steps = [count for count in commits if count]
    assert sum(steps) == 3000
    assert len(steps) >= 2 and max(steps) <= 1000
    assert store.pool("big").in_use == 1
