"""What every store promises at bounded cost, run against each of them.

Pools are listed a page at a time; waiters are woken by changes, one head at
a time, through clock steps; reads stay exact while expired leases wait for
the reaper; one deadline serves every wait of a request.
"""

from __future__ import annotations

import time

import pytest

from app.pool.errors import AcquireTimeout, PoolExhausted, PoolNotFound
from app.service import LeaseService

from .conditions import wait_until
from .conftest import Clock, StoreFactory
from .store_support import ANYONE, ROOT, Waiter, take


def test_pools_come_a_page_at_a_time_in_name_order(service: LeaseService) -> None:
    for name in ("b", "a", "d", "c"):
        service.create_pool(ROOT, name, 3)
    assert [p.name for p in service.pools(first=2)] == ["a", "b"]
    assert [p.name for p in service.pools(first=2, after="b")] == ["c", "d"]
    assert [p.name for p in service.pools(first=10, after="c")] == ["d", "default"]
    assert service.pools(first=0) == []


def test_several_objects_freed_at_once_reach_as_many_waiters_in_order(
    store_factory: StoreFactory,
) -> None:
    services = [LeaseService(store_factory(), max_wait=10) for _ in range(2)]
    services[0].store.ensure_pool("default", 4)
    take(services[0], 4)
    waiters = []
    for number in range(4):
        waiters.append(Waiter(services[number % 2], wait=10, owner=f"w{number}"))
        waiters[-1].start()
        wait_until(lambda n=number: services[0].pool().waiting == n + 1)
    for obj in (3, 1, 4, 2):
        services[1].free(ANYONE, obj)
    for waiter in waiters:
        waiter.join(10)
    assert [(w.result.owner, w.result.obj) for w in waiters] == [
        ("w0", 3),
        ("w1", 1),
        ("w2", 4),
        ("w3", 2),
    ]
    assert services[0].pool().waiting == 0


@pytest.mark.parametrize("step", [3600.0, -3600.0])
def test_a_clock_step_neither_drops_nor_strands_a_waiter(
    store_factory: StoreFactory, clock: Clock, step: float
) -> None:
    first, second = (LeaseService(store_factory(), max_wait=10) for _ in range(2))
    first.store.ensure_pool("default", 2)
    take(first, 2)
    waiter = Waiter(first, wait=10, owner="patient")
    waiter.start()
    wait_until(lambda: first.pool().waiting == 1)
    clock.advance(step)
    # A newcomer after the step must queue behind the waiter, not take its place.
    late = Waiter(second, wait=10, owner="late")
    late.start()
    wait_until(lambda: first.pool().waiting == 2)
    second.free(ANYONE, 2)
    waiter.join(10)
    assert waiter.result.owner == "patient" and waiter.result.obj == 2
    second.free(ANYONE, 1)
    late.join(10)
    assert late.result.owner == "late" and late.result.obj == 1
    assert first.pool().available == 0 and first.pool().waiting == 0


def test_a_waiter_of_a_deleted_pool_is_told_at_once(service: LeaseService) -> None:
    service.create_pool(ROOT, "doomed", 1)
    take(service, 1, "doomed")
    waiter = Waiter(service, wait=30, owner="patient", pool="doomed")
    started = time.monotonic()
    waiter.start()
    wait_until(lambda: service.pool("doomed").waiting == 1)
    service.delete_pool(ROOT, "doomed", force=True)
    waiter.join(20)
    assert isinstance(waiter.result, PoolNotFound)
    # Told by the deletion, not by its own deadline.
    assert time.monotonic() - started < 20


def test_reads_leave_out_expired_leases_the_reaper_has_not_reclaimed(
    service: LeaseService, clock: Clock
) -> None:
    held = [service.acquire(ANYONE, ttl=5) for _ in range(6)]
    service.acquire(ANYONE)
    clock.advance(6)
    pool = service.pool()
    assert (pool.in_use, pool.available) == (1, 9)
    assert [lease.obj for lease in service.leases("default")] == [7]
    assert all(service.lease(lease.obj) is None for lease in held)


def test_every_wait_of_a_request_shares_one_deadline(service: LeaseService) -> None:
    take(service, 10)
    deadline = time.monotonic() + 0.3
    started = time.monotonic()
    for _ in range(5):
        with pytest.raises(AcquireTimeout):
            service.acquire(ANYONE, wait=5, deadline=deadline)
    # Five waits of five seconds each, one deadline: the later ones do not wait at all.
    assert time.monotonic() - started < 4
    with pytest.raises(AcquireTimeout):
        service.acquire(ANYONE, wait=5, deadline=time.monotonic() - 1)
    with pytest.raises(PoolExhausted):
        service.acquire(ANYONE, deadline=time.monotonic() - 1)
