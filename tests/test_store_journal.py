"""The journal every store keeps (rule R9 of app/stores/base.py), run on memory, SQLite
and Redis: each change's event with its fields, in order; seq per pool name; nothing
for a refused change; the journal kept across reopening.

Each test goes through `LeaseService`, as the API does. The `store` fixture made
the pool `default` of 10 objects, so its journal starts with that POOL_CREATED.
Handles, retention and replaying are in test_store_journal_handles.py, listeners
in test_store_journal_listeners.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from app.pool.errors import (
    Forbidden,
    NotAllocated,
    NotOwner,
    OutOfRange,
    PoolError,
    PoolExhausted,
    PoolExists,
    PoolInUse,
    StaleToken,
)
from app.pool.events import Event, EventKind
from app.service import LeaseService

from .conftest import Clock, StoreFactory
from .journal_support import journal, seqs, since
from .store_support import ALICE, ANYONE, BOB, ROOT, take

# Each change's event ------------------------------------------------------


# rules R9, R7
def test_creating_a_pool_records_its_size_and_who_created_it(
    service: LeaseService, clock: Clock
) -> None:
    assert journal(service) == [
        Event("default", 1, EventKind.POOL_CREATED, clock.now, size=10, principal=None)
    ]
    service.create_pool(ROOT, "ports", 3)
    assert journal(service, "ports") == [
        Event("ports", 1, EventKind.POOL_CREATED, clock.now, size=3, principal="root")
    ]


# rule R9
def test_a_grant_records_the_lease_and_the_principal_who_took_it(
    service: LeaseService, clock: Clock
) -> None:
    lease = service.acquire(ALICE, owner="ignored", label="job 42", ttl=30)
    assert since(service, 1) == [
        Event(
            "default",
            2,
            EventKind.GRANTED,
            clock.now,
            obj=lease.obj,
            token=lease.token,
            owner="alice",
            label="job 42",
            principal="alice",
        )
    ]
    anonymous = service.acquire(ANYONE, owner="ci-7")
    assert since(service, 2) == [
        Event(
            "default",
            3,
            EventKind.GRANTED,
            clock.now,
            obj=anonymous.obj,
            token=anonymous.token,
            owner="ci-7",
        )
    ]


# rules R9, R8
def test_a_renewal_records_the_same_token_and_the_new_expiry(
    service: LeaseService, clock: Clock
) -> None:
    lease = service.acquire(ALICE, label="build", ttl=10)
    clock.advance(4)
    renewed = service.renew(ROOT, lease.obj, lease.token, ttl=60)
    assert since(service, 2) == [
        Event(
            "default",
            3,
            EventKind.RENEWED,
            clock.now,
            obj=lease.obj,
            token=lease.token,
            owner="alice",
            label="build",
            principal="root",
            expires_at=clock.now + 60,
        )
    ]
    assert renewed.expires_at == clock.now + 60


# rules R9, R8
def test_a_free_records_who_freed_it(service: LeaseService, clock: Clock) -> None:
    lease = service.acquire(ALICE, label="build")
    clock.advance(3)
    service.free(ROOT, lease.obj, token=lease.token)
    assert since(service, 2) == [
        Event(
            "default",
            3,
            EventKind.FREED,
            clock.now,
            obj=lease.obj,
            token=lease.token,
            owner="alice",
            label="build",
            principal="root",
        )
    ]


# rules R9, R4
def test_an_expiry_is_recorded_at_the_lease_expiry_by_nobody(
    service: LeaseService, clock: Clock
) -> None:
    lease = service.acquire(ALICE, label="short", ttl=10)
    expires_at = clock.now + 10
    clock.advance(25)
    # The next change of the pool reclaims it first, unless the reaper did already.
    after = service.acquire(BOB)
    assert since(service, 2) == [
        Event(
            "default",
            3,
            EventKind.EXPIRED,
            expires_at,
            obj=lease.obj,
            token=lease.token,
            owner="alice",
            label="short",
            principal=None,
        ),
        Event(
            "default",
            4,
            EventKind.GRANTED,
            clock.now,
            obj=after.obj,
            token=after.token,
            owner="bob",
            principal="bob",
        ),
    ]


# rules R9, R6
def test_a_resize_records_the_new_size(service: LeaseService, clock: Clock) -> None:
    service.resize_pool(ROOT, "default", 4)
    service.resize_pool(ANYONE, "default", 40)
    assert since(service, 1) == [
        Event("default", 2, EventKind.POOL_RESIZED, clock.now, size=4, principal="root"),
        Event("default", 3, EventKind.POOL_RESIZED, clock.now, size=40, principal=None),
    ]


# rules R9, R7
def test_a_delete_records_whether_leases_went_with_the_pool(
    service: LeaseService, clock: Clock
) -> None:
    service.create_pool(ROOT, "empty", 2)
    service.delete_pool(ROOT, "empty")
    service.create_pool(ROOT, "busy", 2)
    held = service.acquire(ANYONE, "busy")
    service.delete_pool(ROOT, "busy", force=True)
    assert journal(service, "empty")[-1] == Event(
        "empty", 2, EventKind.POOL_DELETED, clock.now, principal="root", reason=None
    )
    assert journal(service, "busy")[1:] == [
        Event("busy", 2, EventKind.GRANTED, clock.now, obj=held.obj, token=held.token),
        Event("busy", 3, EventKind.POOL_DELETED, clock.now, principal="root", reason="forced"),
    ]


# rule R9
def test_changes_are_recorded_in_the_order_they_were_made(service: LeaseService) -> None:
    first = service.acquire(ANYONE)
    second = service.acquire(ANYONE, ttl=5)
    service.renew(ANYONE, second.obj, second.token)
    service.free(ANYONE, first.obj)
    service.resize_pool(ROOT, "default", 3)
    service.delete_pool(ROOT, "default", force=True)
    assert [(e.seq, e.kind, e.obj) for e in journal(service)] == [
        (1, EventKind.POOL_CREATED, None),
        (2, EventKind.GRANTED, first.obj),
        (3, EventKind.GRANTED, second.obj),
        (4, EventKind.RENEWED, second.obj),
        (5, EventKind.FREED, first.obj),
        (6, EventKind.POOL_RESIZED, None),
        (7, EventKind.POOL_DELETED, None),
    ]


# seq ----------------------------------------------------------------------


# rules R9, R3
def test_seq_goes_on_counting_when_a_pool_is_deleted_and_made_again(
    service: LeaseService,
) -> None:
    service.create_pool(ROOT, "gpu", 2)
    service.acquire(ANYONE, "gpu")
    service.delete_pool(ROOT, "gpu", force=True)
    service.create_pool(ROOT, "gpu", 5)
    service.acquire(ANYONE, "gpu")
    events = journal(service, "gpu")
    assert seqs(events) == [1, 2, 3, 4, 5]
    assert [e.kind for e in events] == [
        EventKind.POOL_CREATED,
        EventKind.GRANTED,
        EventKind.POOL_DELETED,
        EventKind.POOL_CREATED,
        EventKind.GRANTED,
    ]
    assert events[3].size == 5


# rule R9
def test_every_pool_counts_its_own_seq(service: LeaseService) -> None:
    service.create_pool(ROOT, "ports", 5)
    for _ in range(3):
        service.acquire(ANYONE, "ports")
    service.acquire(ANYONE)
    assert seqs(journal(service, "ports")) == [1, 2, 3, 4]
    assert seqs(journal(service)) == [1, 2]
    assert all(e.pool == "ports" for e in journal(service, "ports"))
    assert journal(service, "never-made") == []


# rule R9
def test_events_come_a_page_at_a_time_after_a_seq(service: LeaseService) -> None:
    for obj in take(service, 6):
        service.free(ANYONE, obj)
    everything = journal(service)
    assert seqs(everything) == list(range(1, 14))
    for after, first in itertools.product((0, 1, 5, 12, 13, 40), (0, 1, 3, 100)):
        page = service.events("default", after=after, first=first)
        assert page == everything[after : after + first], (after, first)


# Nothing for a refused change ---------------------------------------------

REFUSED: list[tuple[str, type[PoolError] | None, Callable[[LeaseService], object]]] = [
    ("exhausted", PoolExhausted, lambda s: s.acquire(ANYONE)),
    ("not the owner", NotOwner, lambda s: s.free(BOB, 1)),
    ("not the owner renewing", NotOwner, lambda s: s.renew(BOB, 1, 1)),
    ("stale token", StaleToken, lambda s: s.free(ALICE, 1, token=99)),
    ("stale token renewing", StaleToken, lambda s: s.renew(ALICE, 1, 99)),
    ("not allocated", NotAllocated, lambda s: s.free(ANYONE, 1, "ports")),
    ("not allocated renewing", NotAllocated, lambda s: s.renew(ANYONE, 1, 1, "ports")),
    ("out of range", OutOfRange, lambda s: s.free(ANYONE, 11)),
    ("pool exists", PoolExists, lambda s: s.create_pool(ROOT, "ports", 9)),
    ("pool in use", PoolInUse, lambda s: s.delete_pool(ROOT, "default")),
    ("not an admin", Forbidden, lambda s: s.resize_pool(ALICE, "default", 20)),
    # rule R2: a retry finds its lease and grants nothing
    ("replayed", None, lambda s: s.acquire(ALICE, request_id="job-1")),
    ("queue", None, lambda s: s.store.leave_queue(s.store.join_queue("default"))),
    ("queue of another pool", None, lambda s: s.store.leave_queue(s.store.join_queue("ports"))),
]


# rules R9, R2, R5, R8
@pytest.mark.parametrize(("refusal", "error", "call"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_refused_change_records_nothing(
    service: LeaseService,
    refusal: str,
    error: type[PoolError] | None,
    call: Callable[[LeaseService], object],
) -> None:
    held = service.acquire(ALICE, request_id="job-1")
    assert held.obj == 1
    take(service, 9)
    service.create_pool(ROOT, "ports", 3)
    before = {pool: journal(service, pool) for pool in ("default", "ports")}
    if error is None:
        call(service)
    else:
        with pytest.raises(error):
            call(service)
    assert {pool: journal(service, pool) for pool in ("default", "ports")} == before


# rules R9, R3
def test_the_journal_survives_reopening_the_store_and_seq_goes_on(
    store_factory: StoreFactory, clock: Clock
) -> None:
    first = LeaseService(store_factory())
    first.store.ensure_pool("default", 10)
    lease = first.acquire(ANYONE, ttl=60)
    kept = journal(first)
    first.store.close()
    again = LeaseService(store_factory())
    assert journal(again) == kept
    again.free(ANYONE, lease.obj)
    assert since(again, 2) == [
        Event("default", 3, EventKind.FREED, clock.now, obj=lease.obj, token=lease.token)
    ]
