"""The journal's listeners on every store (rule R9): told of each committed event once,
after COMMIT, in the thread that made the change (the reaper's in the reaper's), and
of nothing a refused change did not keep.
"""

from __future__ import annotations

import threading

import pytest

from app.pool.errors import (
    PoolError,
    PoolExists,
    StaleToken,
)
from app.pool.events import EventKind
from app.service import LeaseService
from app.stores.base import Store

from .conditions import wait_until
from .conftest import Clock, StoreFactory
from .journal_support import Told, journal
from .store_support import ALICE, ANYONE, BOB, ROOT, take

# Listeners ----------------------------------------------------------------


# rule R9
def test_listeners_are_told_of_each_event_once_after_commit_in_the_caller(
    service: LeaseService, store: Store
) -> None:
    told = Told(store)
    lease = service.acquire(ALICE, ttl=60)
    service.renew(ALICE, lease.obj, lease.token)
    service.free(ALICE, lease.obj)
    service.create_pool(ROOT, "ports", 3)
    service.resize_pool(ROOT, "ports", 4)
    service.delete_pool(ROOT, "ports")
    with pytest.raises(PoolExists):
        service.create_pool(ROOT, "default", 3)
    assert told.events == journal(service)[1:] + journal(service, "ports")
    assert all(told.committed)
    assert set(told.threads) == {threading.get_ident()}


# rule R9
def test_listeners_of_concurrent_changes_some_refused_are_told_the_journal(
    service: LeaseService, store: Store
) -> None:
    """Concurrent callers share transactions where a store batches them; each
    refused change is undone alone, and tells nothing."""
    told = Told(store)

    def grant_refuse_free() -> None:
        for _ in range(10):
            lease = service.acquire(ANYONE)
            with pytest.raises(StaleToken):
                service.free(ANYONE, lease.obj, token=lease.token + 1000)
            service.free(ANYONE, lease.obj, token=lease.token)

    threads = [threading.Thread(target=grant_refuse_free) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(told.events, key=lambda e: e.seq) == journal(service)[1:]
    assert len(told.events) == 4 * 10 * 2
    assert all(told.committed)


# rule R9
def test_a_refused_change_or_a_replay_tells_listeners_nothing(
    service: LeaseService, store: Store
) -> None:
    held = service.acquire(ALICE, request_id="job-1")
    told = Told(store)
    service.acquire(ALICE, request_id="job-1")
    for refused in (
        lambda: service.free(BOB, held.obj),
        lambda: service.free(ALICE, held.obj, token=held.token + 1),
        lambda: service.free(ANYONE, 7),
        lambda: service.delete_pool(ROOT, "default"),
    ):
        with pytest.raises(PoolError):
            refused()
    assert told.events == []


# rules R9, R4
def test_the_reapers_expiries_are_told_in_the_reapers_thread(
    service: LeaseService, store: Store, clock: Clock
) -> None:
    told = Told(store)
    lease = service.acquire(ANYONE, ttl=5)
    clock.advance(10)
    # Nothing else changes the pool: only the reaper reclaims the lease.
    assert told.expired.wait(15), "the reaper reclaimed nothing"
    expired = told.events[-1]
    assert (expired.kind, expired.obj, expired.token) == (EventKind.EXPIRED, lease.obj, lease.token)
    assert expired.at == lease.expires_at
    assert told.threads[-1] != threading.get_ident()
    assert told.committed[-1]
    service.acquire(ANYONE)
    assert told.events == journal(service)[1:]


# rules R9, R4
def test_the_expiries_a_refused_change_reclaimed_are_told_once_committed(
    service: LeaseService, store: Store, clock: Clock
) -> None:
    """A store whose refused change keeps the reclaim it made first tells of its
    EXPIRED events; one that rolls the reclaim back with the refusal records none
    and tells none. Either way, what is told is what the journal holds."""
    told = Told(store)
    short = service.acquire(ANYONE, ttl=5)
    take(service, 9)
    clock.advance(10)
    with pytest.raises(StaleToken):
        service.free(ANYONE, 4, token=99)
    # The reaper may be reclaiming meanwhile, in its own thread.
    wait_until(lambda: told.events == journal(service)[1:], what="every event told")
    service.free(ANYONE, 4)
    assert told.events == journal(service)[1:]
    assert [e.obj for e in told.events if e.kind is EventKind.EXPIRED] == [short.obj]
    assert all(told.committed)


# rule R9
def test_every_handle_tells_its_own_listeners_of_its_own_changes(
    store_factory: StoreFactory,
) -> None:
    stores = [store_factory() for _ in range(2)]
    stores[0].ensure_pool("default", 10)
    first, second = (LeaseService(store) for store in stores)
    told = [Told(store) for store in stores]
    first.acquire(ANYONE, owner="one")
    second.acquire(ANYONE, owner="two")
    if stores[0] is stores[1]:  # the memory store's handles are one store
        assert told[0].events == journal(first)[1:]
    else:
        assert [e.owner for e in told[0].events] == ["one"]
        assert [e.owner for e in told[1].events] == ["two"]
