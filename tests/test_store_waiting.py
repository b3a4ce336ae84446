"""What every store promises its waiters: served in arrival order, across handles, or told
ACQUIRE_TIMEOUT; run on memory, SQLite and Redis. Each test names the rule of
`app/stores/base.py` it checks."""

from __future__ import annotations

import pytest

from app.pool.errors import (
    AcquireTimeout,
    PoolExhausted,
)
from app.service import LeaseService

from .conditions import wait_until
from .conftest import Clock, StoreFactory
from .store_support import ANYONE, Waiter, take

# Waiting ------------------------------------------------------------------


# rule R5
def test_a_waiter_gets_the_object_freed_for_it(service: LeaseService) -> None:
    take(service, 10)
    waiter = Waiter(service, wait=10, owner="patient")
    waiter.start()
    wait_until(lambda: service.pool().waiting == 1)
    service.free(ANYONE, 4)
    waiter.join(10)
    assert waiter.result.obj == 4 and waiter.result.owner == "patient"
    assert service.pool().waiting == 0


# rule R5
def test_waiters_are_served_in_arrival_order_across_handles(
    store_factory: StoreFactory,
) -> None:
    services = [LeaseService(store_factory(), max_wait=10) for _ in range(3)]
    services[0].store.ensure_pool("default", 10)
    take(services[0], 10)
    waiters = []
    for number, service in enumerate(services):
        waiters.append(Waiter(service, wait=10, owner=f"w{number}"))
        waiters[-1].start()
        wait_until(lambda n=number: services[0].pool().waiting == n + 1)
    with pytest.raises(PoolExhausted):
        services[0].acquire(ANYONE)
    for obj in (5, 6, 7):
        services[0].free(ANYONE, obj)
        wait_until(lambda obj=obj: services[0].lease(obj) is not None)
    for waiter in waiters:
        waiter.join(10)
    assert [(w.result.owner, w.result.obj) for w in waiters] == [("w0", 5), ("w1", 6), ("w2", 7)]


# rule R5
def test_a_waiter_that_gives_up_gets_acquire_timeout(service: LeaseService) -> None:
    take(service, 10)
    with pytest.raises(AcquireTimeout):
        service.acquire(ANYONE, wait=0.2)
    assert service.pool().waiting == 0
    assert service.pool().in_use == 10


# rules R5, R4
def test_a_waiter_gets_an_object_whose_lease_expired(service: LeaseService, clock: Clock) -> None:
    take(service, 9)
    lease = service.acquire(ANYONE, ttl=5)
    waiter = Waiter(service, wait=10, owner="patient")
    waiter.start()
    wait_until(lambda: service.pool().waiting == 1)
    clock.advance(6)
    waiter.join(10)
    assert waiter.result.obj == lease.obj and waiter.result.token > lease.token
