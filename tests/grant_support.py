"""What the store suites for rules R10-R15 share: grants straight on a store, as the
service makes them, and the journal's events of a kind."""

from __future__ import annotations

from typing import Any

from app.pool.events import Event, EventKind
from app.pool.lease import AcquireRequest, Grant, Lease
from app.stores.base import Store, Ticket

from .store_support import ANYONE


def ask(store: Store, pool: str = "default", ticket: Ticket | None = None, **request: Any) -> Grant:
    """`store.grant` of an `AcquireRequest` for `pool` with `request`'s fields."""
    return store.grant(AcquireRequest(pool=pool, **request), ticket)


def objs(grant: Grant) -> list[int]:
    return [lease.obj for lease in grant.leases]


def one(store: Store, pool: str = "default", **request: Any) -> Lease:
    (lease,) = ask(store, pool, **request).leases
    return lease


def singles(store: Store, count: int, pool: str = "default", **request: Any) -> list[int]:
    """The objects `count` single grants in a row get."""
    return [one(store, pool, **request).obj for _ in range(count)]


def free(store: Store, *objects: int, pool: str = "default") -> None:
    for obj in objects:
        store.free(pool, obj, ANYONE, None)


def events_of(store: Store, kind: EventKind, pool: str = "default", after: int = 0) -> list[Event]:
    found: list[Event] = []
    # Every journal page in turn, bounded by the events a suite writes.
    for _ in range(100):
        page = store.events(pool, after, 1000)
        if not page:
            break
        found += [event for event in page if event.kind is kind]
        after = page[-1].seq
    return found


def last_seq(store: Store, pool: str = "default") -> int:
    """The seq of the pool's last event so far (0 for none)."""
    after = 0
    for _ in range(100):
        page = store.events(pool, after, 1000)
        if not page:
            break
        after = page[-1].seq
    return after
