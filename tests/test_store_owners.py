"""Owners' leases (rule R15 of app/stores/base.py), run against every store; the
comment above a test names the rules it checks."""

from __future__ import annotations

from app.pool.lease import Lease
from app.stores.base import Store

from .conftest import Clock, StoreFactory
from .grant_support import free, one, singles
from .store_support import ROOT


def where(leases: list[Lease]) -> list[tuple[str, int]]:
    return [(lease.pool, lease.obj) for lease in leases]


# rule R15
def test_an_owners_leases_of_a_pool_come_in_object_order_a_page_at_a_time(
    store: Store,
) -> None:
    for owner in ("alice", "bob", "alice", "alice", "bob", "alice", None, "alice"):
        one(store, owner=owner)
    free(store, 3)
    alice = [lease.obj for lease in store.leases("default", 100, 0, owner="alice")]
    assert alice == [1, 4, 6, 8]
    assert [lease.obj for lease in store.leases("default", 2, 0, owner="alice")] == [1, 4]
    assert [lease.obj for lease in store.leases("default", 2, 4, owner="alice")] == [6, 8]
    assert store.leases("default", 0, 0, owner="alice") == []
    assert store.leases("default", 100, 0, owner="carol") == []
    assert len(store.leases("default", 100, 0)) == 7


# rule R15
def test_an_owners_leases_are_the_leases_themselves(store: Store) -> None:
    lease = one(store, owner="alice", label="job", ttl=30, request_id="r1")
    assert store.leases("default", 10, 0, owner="alice") == [lease]
    assert store.owner_leases("alice", 10) == [lease]


# rule R15
def test_owner_leases_span_every_pool_in_pool_then_object_order(store: Store) -> None:
    for name in ("zeta", "alpha", "mid"):
        store.create_pool(name, 5, ROOT.principal)
    one(store, "zeta", owner="alice")
    one(store, "alpha")
    one(store, "alpha", owner="alice")
    one(store, "alpha", owner="alice")
    one(store, "default", owner="alice")
    one(store, "mid", owner="bob")
    expected = [("alpha", 2), ("alpha", 3), ("default", 1), ("zeta", 1)]
    assert where(store.owner_leases("alice", 100)) == expected
    assert where(store.owner_leases("alice", 3)) == expected[:3]
    assert where(store.owner_leases("alice", 0)) == []
    assert where(store.owner_leases("bob", 100)) == [("mid", 1)]
    assert store.owner_leases("carol", 100) == []


# rules R15, R4
def test_owners_leases_leave_expired_leases_out(store: Store, clock: Clock) -> None:
    one(store, owner="alice", ttl=5)
    one(store, owner="alice")
    store.create_pool("other", 3, ROOT.principal)
    one(store, "other", owner="alice", ttl=5)
    clock.advance(6)
    assert [lease.obj for lease in store.leases("default", 10, 0, owner="alice")] == [2]
    assert where(store.owner_leases("alice", 10)) == [("default", 2)]


# rules R15, R7
def test_a_deleted_pools_leases_are_no_owners_any_more(store: Store) -> None:
    store.create_pool("gone", 3, ROOT.principal)
    singles(store, 2, "gone", owner="alice")
    one(store, owner="alice")
    store.delete_pool("gone", True, ROOT.principal)
    assert where(store.owner_leases("alice", 10)) == [("default", 1)]
    store.create_pool("gone", 3, ROOT.principal)
    assert store.leases("gone", 10, 0, owner="alice") == []


# rule R15
def test_owners_leases_are_shared_by_every_handle(store_factory: StoreFactory) -> None:
    first, second = store_factory(), store_factory()
    first.ensure_pool("default", 10)
    lease = one(first, owner="alice")
    assert second.owner_leases("alice", 10) == [lease]
    free(second, lease.obj)
    assert first.owner_leases("alice", 10) == []
