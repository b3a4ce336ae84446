"""The journal on every store (rule R9), continued: two handles (workers, hosts) write
one journal; retention keeps the last `events_keep`; and replaying the journal
rebuilds the pool, a property checked over generated operations.
"""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.pool.errors import (
    PoolExhausted,
)
from app.pool.events import Event, EventKind
from app.service import LeaseService

from .conftest import Clock, StoreFactory
from .journal_support import EVERYTHING, journal, seqs
from .store_support import ANYONE, ROOT

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
