"""The journal every store keeps (rule R9 of app/stores/base.py), run on memory, SQLite
and Redis: each change's event with its fields, in order; seq per pool name; nothing
for a refused change; one journal across handles; retention; listeners; and a
property: replaying the journal rebuilds the pool.

Each test goes through `LeaseService`, as the API does. The `store` fixture made
the pool `default` of 10 objects, so its journal starts with that POOL_CREATED.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from app.stores.base import Store

from .conditions import wait_until
from .conftest import Clock, StoreFactory
from .store_support import ALICE, ANYONE, BOB, ROOT, take

EVERYTHING = 1000  # the largest page `events` serves


def journal(service: LeaseService, pool: str = "default") -> list[Event]:
    return service.events(pool, after=0, first=EVERYTHING)


def since(service: LeaseService, seq: int, pool: str = "default") -> list[Event]:
    return service.events(pool, after=seq, first=EVERYTHING)


def last_seq(service: LeaseService, pool: str = "default") -> int:
    events = journal(service, pool)
    return events[-1].seq if events else 0


def seqs(events: Sequence[Event]) -> list[int]:
    return [event.seq for event in events]


class Told:
    """A listener: every event it was told of, with the thread that told it, and
    whether the event was in the journal already (committed) when it was told."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.events: list[Event] = []
        self.threads: list[int] = []
        self.committed: list[bool] = []
        self.expired = threading.Event()
        store.listen(self)

    def __call__(self, events: Sequence[Event]) -> None:
        found = [self._store.events(e.pool, e.seq - 1, 1) == [e] for e in events]
        with self._lock:
            self.events.extend(events)
            self.threads.extend(threading.get_ident() for _ in events)
            self.committed.extend(found)
        if any(event.kind is EventKind.EXPIRED for event in events):
            self.expired.set()


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
    assert (held.obj, held.token) == (1, 1)
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


# Handles ------------------------------------------------------------------


# rules R9, R1
def test_two_handles_write_one_journal_without_gap_or_repeat(
    store_factory: StoreFactory,
) -> None:
    first, second = (LeaseService(store_factory()) for _ in range(2))
    first.store.ensure_pool("default", 10)
    changes = 1
    for _ in range(5):
        for service in (first, second, second, first):
            lease = service.acquire(ANYONE, owner=f"via-{id(service)}")
            service.free(ANYONE, lease.obj, token=lease.token)
            changes += 2
    assert seqs(journal(first)) == list(range(1, changes + 1))
    assert journal(second) == journal(first)


# rules R9, R1
def test_handles_changing_at_once_write_one_journal(store_factory: StoreFactory) -> None:
    services = [LeaseService(store_factory()) for _ in range(2)]
    services[0].store.ensure_pool("default", 10)
    rounds = 15

    def churn(service: LeaseService) -> None:
        for _ in range(rounds):
            lease = service.acquire(ANYONE)
            service.free(ANYONE, lease.obj, token=lease.token)

    threads = [threading.Thread(target=churn, args=(service,)) for service in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    events = journal(services[1])
    assert seqs(events) == list(range(1, 2 + 2 * rounds * len(services)))
    # Each object's grants and frees alternate, with the token of its grant.
    held: dict[int, int] = {}
    for event in events[1:]:
        assert event.obj is not None and event.token is not None
        if event.kind is EventKind.GRANTED:
            assert event.obj not in held
            held[event.obj] = event.token
        else:
            assert (event.kind, held.pop(event.obj)) == (EventKind.FREED, event.token)


# Retention ----------------------------------------------------------------

KEEP = 10
# What a store may keep beyond `events_keep`, whatever it trims with: Redis'
# approximate `XADD ... MAXLEN ~` drops whole stream nodes, of up to 100 entries.
TRIM_SLACK = 100


# rule R9
@pytest.mark.events_keep(KEEP)
def test_the_journal_keeps_the_last_events_and_trims_the_oldest(service: LeaseService) -> None:
    changes = 1 + 2 * 200
    for _ in range(200):
        lease = service.acquire(ANYONE)
        service.free(ANYONE, lease.obj, token=lease.token)
    kept = journal(service)
    assert kept[-1].seq == changes
    assert seqs(kept) == list(range(kept[0].seq, changes + 1))
    assert KEEP <= len(kept) <= KEEP + TRIM_SLACK
    assert service.events("default", after=0, first=1)[0].seq > 1


# rule R9
@pytest.mark.events_keep(KEEP)
def test_each_pool_keeps_its_own_last_events(service: LeaseService) -> None:
    service.create_pool(ROOT, "quiet", 3)
    service.acquire(ANYONE, "quiet")
    for _ in range(150):
        lease = service.acquire(ANYONE)
        service.free(ANYONE, lease.obj)
    assert seqs(journal(service, "quiet")) == [1, 2]
    assert len(journal(service)) <= KEEP + TRIM_SLACK


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
    assert (expired.kind, expired.obj, expired.token) == (EventKind.EXPIRED, lease.obj, 1)
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


# Replaying the journal rebuilds the pool ------------------------------------

Operation = tuple[str, int]
OPERATIONS: st.SearchStrategy[list[Operation]] = st.lists(
    st.tuples(
        st.sampled_from(["acquire", "acquire ttl", "free", "renew", "advance", "resize", "remake"]),
        st.integers(min_value=0, max_value=7),
    ),
    max_size=20,
)
names = itertools.count(1)


class Replayed:
    """The pool as its journal tells it."""

    def __init__(self) -> None:
        self.exists = False
        self.size = 0
        self.held: dict[int, tuple[int, str | None, str | None]] = {}

    def apply(self, event: Event) -> None:
        if event.kind is EventKind.POOL_CREATED:
            assert not self.exists and event.size is not None
            self.exists, self.size, self.held = True, event.size, {}
        elif event.kind is EventKind.POOL_RESIZED:
            assert event.size is not None
            self.size = event.size
        elif event.kind is EventKind.POOL_DELETED:
            self.exists, self.held = False, {}
        elif event.kind is EventKind.GRANTED:
            assert event.obj is not None and event.token is not None
            assert event.obj not in self.held
            self.held[event.obj] = (event.token, event.owner, event.label)
        elif event.kind in (EventKind.FREED, EventKind.EXPIRED):
            assert event.obj is not None
            assert self.held.pop(event.obj)[0] == event.token
        elif event.kind is EventKind.RENEWED:
            assert event.obj is not None
            assert self.held[event.obj][0] == event.token


def run(service: LeaseService, clock: Clock, pool: str, operations: list[Operation]) -> None:
    for action, number in operations:
        try:
            held = service.leases(pool, first=EVERYTHING)
            if action.startswith("acquire"):
                ttl = 3.0 + number if action == "acquire ttl" else None
                service.acquire(ANYONE, pool, owner=f"o{number % 3}", label=f"l{number}", ttl=ttl)
            elif action in ("free", "renew") and held:
                lease = held[number % len(held)]
                if action == "free":
                    service.free(ANYONE, lease.obj, pool, token=lease.token)
                else:
                    service.renew(ANYONE, lease.obj, lease.token, pool, ttl=2.0 + number)
            elif action == "advance":
                clock.advance(number)
            elif action == "resize":
                service.resize_pool(ROOT, pool, 1 + number)
            elif action == "remake":
                service.delete_pool(ROOT, pool, force=True)
                service.create_pool(ANYONE, pool, 1 + number)
        except PoolExhausted:
            pass


# rules R9, R1, R4, R6, R7
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
def test_replaying_the_journal_rebuilds_the_pool(
    service: LeaseService, clock: Clock, operations: list[Operation]
) -> None:
    pool = f"replayed-{next(names)}"  # the examples share one store, each has a pool
    service.create_pool(ROOT, pool, 4)
    run(service, clock, pool, operations)
    # A change reclaims what expired (fewer than any store's batch), so the journal tells it.
    size = service.pool(pool).size
    service.resize_pool(ROOT, pool, size)
    events = journal(service, pool)
    assert seqs(events) == list(range(1, len(events) + 1))
    replayed = Replayed()
    for event in events:
        replayed.apply(event)
    assert replayed.exists and replayed.size == service.pool(pool).size == size
    assert replayed.held == {
        lease.obj: (lease.token, lease.owner, lease.label)
        for lease in service.leases(pool, first=EVERYTHING)
    }
