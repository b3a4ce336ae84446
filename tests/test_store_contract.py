"""What every store promises, run against each of them; the comment above a test
names the rules of app/stores/base.py it checks.

Each test goes through `LeaseService`, as the API does; the `store_factory`
fixture opens a second handle on the same state where a test needs two
workers or hosts.
"""

from __future__ import annotations

import pytest

from app.pool.errors import (
    BadUserInput,
    Forbidden,
    NotAllocated,
    NotOwner,
    OutOfRange,
    PoolExhausted,
    PoolExists,
    PoolInUse,
    PoolNotFound,
    StaleToken,
)
from app.pool.limits import MAX_INT
from app.service import LeaseService

from .conftest import Clock, StoreFactory
from .store_support import ALICE, ANYONE, BOB, ROOT, take

# Handing out --------------------------------------------------------------


# rule R1
def test_a_new_pool_hands_out_1_to_n_in_order_n_included(service: LeaseService) -> None:
    assert take(service, 10) == list(range(1, 11))
    with pytest.raises(PoolExhausted):
        service.acquire(ANYONE)


# rule R1
def test_freed_objects_come_back_longest_free_first(service: LeaseService) -> None:
    take(service, 10)
    for obj in (7, 2, 9):
        service.free(ANYONE, obj)
    assert take(service, 3) == [7, 2, 9]


# rule R1
def test_objects_never_used_go_before_freed_ones(service: LeaseService) -> None:
    take(service, 2)
    service.free(ANYONE, 1)
    assert take(service, 9) == [3, 4, 5, 6, 7, 8, 9, 10, 1]


# rule R1
def test_a_pool_of_the_largest_size_is_created_at_once(service: LeaseService) -> None:
    service.create_pool(ROOT, "huge", MAX_INT)
    assert take(service, 3, "huge") == [1, 2, 3]
    stats = service.pool("huge")
    assert (stats.size, stats.in_use, stats.available) == (MAX_INT, 3, MAX_INT - 3)


# rule R1
def test_two_handles_on_one_store_never_grant_one_object_twice(
    store_factory: StoreFactory,
) -> None:
    first, second = (LeaseService(store_factory()) for _ in range(2))
    first.store.ensure_pool("default", 10)
    granted = [s.acquire(ANYONE).obj for _ in range(5) for s in (first, second)]
    assert sorted(granted) == list(range(1, 11))


def test_a_lease_records_who_why_and_when(service: LeaseService, clock: Clock) -> None:
    lease = service.acquire(ANYONE, owner="ci-runner-7", label="job 42", ttl=30)
    assert (lease.pool, lease.obj, lease.owner, lease.label) == (
        "default",
        1,
        "ci-runner-7",
        "job 42",
    )
    assert lease.acquired_at == clock.now
    assert lease.expires_at == clock.now + 30
    assert service.lease(1) == lease


def test_with_auth_on_the_owner_is_the_principal(service: LeaseService) -> None:
    lease = service.acquire(ALICE, owner="mallory")
    assert lease.owner == "alice"


# Freeing ------------------------------------------------------------------


# rule R8
def test_freeing_a_free_object_changes_nothing(service: LeaseService) -> None:
    take(service, 1)
    with pytest.raises(NotAllocated):
        service.free(ANYONE, 2)
    assert service.pool().in_use == 1


# rule R8
@pytest.mark.parametrize("obj", [0, -1, 11, MAX_INT])
def test_freeing_outside_the_pool_is_out_of_range(service: LeaseService, obj: int) -> None:
    with pytest.raises(OutOfRange):
        service.free(ANYONE, obj)


# rule R8
def test_only_the_owner_or_an_admin_frees(service: LeaseService) -> None:
    lease = service.acquire(ALICE)
    with pytest.raises(NotOwner):
        service.free(BOB, lease.obj)
    assert service.lease(lease.obj) == lease
    assert service.free(ALICE, lease.obj) == lease.obj
    lease = service.acquire(ALICE)
    assert service.free(ROOT, lease.obj) == lease.obj


# rule R8
def test_a_stale_token_frees_nothing(service: LeaseService) -> None:
    old = service.acquire(ANYONE)
    service.free(ANYONE, old.obj)
    take(service, 10)  # the nine never used first, then old.obj again
    new = service.lease(old.obj)
    assert new is not None and new.token > old.token
    with pytest.raises(StaleToken):
        service.free(ANYONE, old.obj, token=old.token)
    assert service.lease(old.obj) == new
    assert service.free(ANYONE, old.obj, token=new.token) == old.obj


# rule R3
def test_tokens_only_grow_in_a_pool(service: LeaseService) -> None:
    tokens = []
    for _ in range(25):
        lease = service.acquire(ANYONE)
        tokens.append(lease.token)
        service.free(ANYONE, lease.obj)
    assert tokens == sorted(set(tokens))


# rules R3, R7
def test_tokens_keep_growing_when_a_pool_is_deleted_and_made_again(
    service: LeaseService,
) -> None:
    service.create_pool(ROOT, "gpu", 2)
    before = service.acquire(ANYONE, "gpu").token
    service.delete_pool(ROOT, "gpu", force=True)
    service.create_pool(ROOT, "gpu", 2)
    assert service.acquire(ANYONE, "gpu").token > before


# rule R3
def test_tokens_survive_reopening_the_store(store_factory: StoreFactory) -> None:
    first = LeaseService(store_factory())
    first.store.ensure_pool("default", 10)
    granted = first.acquire(ANYONE, ttl=60)
    first.store.close()
    again = LeaseService(store_factory())
    assert again.lease(granted.obj) == granted
    assert again.acquire(ANYONE).token > granted.token


# TTLs ---------------------------------------------------------------------


# rule R4
def test_an_expired_lease_goes_back_to_the_pool(service: LeaseService, clock: Clock) -> None:
    lease = service.acquire(ANYONE, ttl=10)
    clock.advance(9.5)
    assert service.lease(lease.obj) == lease
    clock.advance(1)
    assert service.lease(lease.obj) is None
    assert service.pool().available == 10
    with pytest.raises(NotAllocated):
        service.free(ANYONE, lease.obj)


# rules R4, R1
def test_expired_objects_queue_by_when_they_expired(service: LeaseService, clock: Clock) -> None:
    take(service, 8)
    late = service.acquire(ANYONE, ttl=20).obj
    early = service.acquire(ANYONE, ttl=10).obj
    clock.advance(15)
    service.free(ANYONE, 3)
    clock.advance(10)
    assert take(service, 3) == [early, 3, late]


# rules R4, R1
def test_a_renewed_lease_queues_by_its_new_expiry(service: LeaseService, clock: Clock) -> None:
    take(service, 8)
    renewed = service.acquire(ANYONE, ttl=10)
    other = service.acquire(ANYONE, ttl=10)
    clock.advance(2)
    service.renew(ANYONE, renewed.obj, renewed.token)
    clock.advance(11)
    assert take(service, 2) == [other.obj, renewed.obj]


# rules R8, R3
def test_renewing_moves_the_expiry_and_keeps_the_token(service: LeaseService, clock: Clock) -> None:
    lease = service.acquire(ANYONE, ttl=10)
    clock.advance(8)
    renewed = service.renew(ANYONE, lease.obj, lease.token)
    assert renewed.token == lease.token
    assert renewed.expires_at == clock.now + 10
    clock.advance(8)
    assert service.lease(lease.obj) == renewed
    longer = service.renew(ANYONE, lease.obj, lease.token, ttl=100)
    assert longer.expires_at == clock.now + 100
    clock.advance(50)
    assert service.renew(ANYONE, lease.obj, lease.token).expires_at == clock.now + 100


# rule R8
def test_renewing_without_a_ttl_keeps_a_lease_without_expiry(service: LeaseService) -> None:
    lease = service.acquire(ANYONE)
    assert service.renew(ANYONE, lease.obj, lease.token).expires_at is None


# rules R4, R8
def test_renewing_too_late_or_with_the_wrong_token_fails(
    service: LeaseService, clock: Clock
) -> None:
    lease = service.acquire(ALICE, ttl=5)
    with pytest.raises(StaleToken):
        service.renew(ALICE, lease.obj, lease.token + 1)
    with pytest.raises(NotOwner):
        service.renew(BOB, lease.obj, lease.token)
    clock.advance(6)
    with pytest.raises(NotAllocated):
        service.renew(ALICE, lease.obj, lease.token)


# Idempotent acquire -------------------------------------------------------


# rule R2
def test_retrying_with_a_request_id_returns_the_same_lease(service: LeaseService) -> None:
    first = service.acquire(ANYONE, owner="w1", request_id="job-1", ttl=30)
    assert service.acquire(ANYONE, owner="w1", request_id="job-1", ttl=30) == first
    assert service.pool().in_use == 1
    other = service.acquire(ANYONE, owner="w2", request_id="job-1")
    assert other.obj != first.obj


# rule R2
def test_a_request_id_is_used_again_once_its_lease_is_gone(service: LeaseService) -> None:
    first = service.acquire(ANYONE, request_id="job-1")
    service.free(ANYONE, first.obj)
    second = service.acquire(ANYONE, request_id="job-1")
    assert second.token > first.token


# Pool admin ---------------------------------------------------------------


# rule R7
def test_pools_are_created_listed_and_deleted(service: LeaseService) -> None:
    created = service.create_pool(ROOT, "ports", 3)
    assert (created.name, created.size, created.available, created.in_use) == ("ports", 3, 3, 0)
    assert [p.name for p in service.pools()] == ["default", "ports"]
    with pytest.raises(PoolExists):
        service.create_pool(ROOT, "ports", 5)
    service.delete_pool(ROOT, "ports")
    assert service.pool("ports") is None
    with pytest.raises(PoolNotFound):
        service.acquire(ANYONE, "ports")


# rule R7
def test_deleting_a_pool_in_use_needs_force(service: LeaseService) -> None:
    service.create_pool(ROOT, "ports", 3)
    service.acquire(ANYONE, "ports")
    with pytest.raises(PoolInUse):
        service.delete_pool(ROOT, "ports")
    assert service.pool("ports").in_use == 1
    assert service.delete_pool(ROOT, "ports", force=True).in_use == 1
    assert service.pool("ports") is None


def test_only_admins_administer_pools(service: LeaseService) -> None:
    for action in (
        lambda: service.create_pool(ALICE, "x", 1),
        lambda: service.resize_pool(ALICE, "default", 1),
        lambda: service.delete_pool(ALICE, "default", force=True),
    ):
        with pytest.raises(Forbidden):
            action()
    assert service.pool("default").size == 10
    assert service.pool("x") is None


# rule R6
def test_shrinking_keeps_leases_and_retires_objects_above_the_size(
    service: LeaseService,
) -> None:
    take(service, 10)
    for obj in (9, 3):
        service.free(ANYONE, obj)
    stats = service.resize_pool(ROOT, "default", 5)
    assert (stats.size, stats.in_use, stats.available) == (5, 8, 1)
    assert service.lease(8) is not None
    assert take(service, 1) == [3]
    service.free(ANYONE, 8)
    with pytest.raises(PoolExhausted):
        service.acquire(ANYONE)
    assert service.pool().in_use == 8


# rule R6
def test_growing_again_gives_back_retired_objects_in_their_turn(service: LeaseService) -> None:
    take(service, 10)
    service.resize_pool(ROOT, "default", 5)
    for obj in (9, 2, 7):
        service.free(ANYONE, obj)
    stats = service.resize_pool(ROOT, "default", 12)
    assert stats.available == 5
    assert take(service, 5) == [11, 12, 9, 2, 7]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create_pool(ROOT, "bad name", 1),
        lambda s: s.create_pool(ROOT, "", 1),
        lambda s: s.create_pool(ROOT, "{x}", 1),
        lambda s: s.create_pool(ROOT, "x", 0),
        lambda s: s.resize_pool(ROOT, "default", -3),
        lambda s: s.acquire(ANYONE, ttl=0),
        lambda s: s.acquire(ANYONE, ttl=-1),
        lambda s: s.acquire(ANYONE, ttl=float("inf")),
        lambda s: s.acquire(ANYONE, wait=-1),
        lambda s: s.acquire(ANYONE, label="x" * 257),
        lambda s: s.acquire(ANYONE, request_id=""),
        lambda s: s.leases("default", first=-1),
        lambda s: s.leases("default", first=1001),
        lambda s: s.renew(ANYONE, 1, 1, ttl=0),
    ],
)
def test_bad_values_are_refused_and_change_nothing(service: LeaseService, call) -> None:
    with pytest.raises(BadUserInput):
        call(service)
    assert [(p.name, p.size, p.in_use) for p in service.pools()] == [("default", 10, 0)]


# rule R4
def test_leases_come_in_object_order_a_page_at_a_time(service: LeaseService) -> None:
    take(service, 10)
    for obj in (2, 5):
        service.free(ANYONE, obj)
    assert [lease.obj for lease in service.leases("default", first=3)] == [1, 3, 4]
    assert [lease.obj for lease in service.leases("default", first=3, after=4)] == [6, 7, 8]
    assert service.leases("default", first=0) == []


def test_lease_of_a_free_object_is_none_and_outside_the_pool_an_error(
    service: LeaseService,
) -> None:
    assert service.lease(4) is None
    with pytest.raises(OutOfRange):
        service.lease(11)
    with pytest.raises(PoolNotFound):
        service.lease(1, "nope")
