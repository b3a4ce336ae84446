"""The journal's events: every change of a pool, as the store recorded it.

A store writes an event in the same atomic step as the change it records, so
the journal never tells of a change that did not happen nor misses one that
did. `seq` numbers the events of one pool name, strictly increasing and never
reused, not across restarts nor deleting and re-creating the pool: a reader
that remembers the last `seq` it saw resumes exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class EventKind(StrEnum):
    """What changed. Lease events carry the lease; pool events carry `reason`."""

    GRANTED = "GRANTED"
    FREED = "FREED"
    # `at` is the lease's expiry time, not the moment it was reclaimed.
    EXPIRED = "EXPIRED"
    RENEWED = "RENEWED"
    REVOKED = "REVOKED"
    POOL_CREATED = "POOL_CREATED"
    POOL_RESIZED = "POOL_RESIZED"
    POOL_DELETED = "POOL_DELETED"
    POLICY_CHANGED = "POLICY_CHANGED"


LEASE_EVENTS = frozenset(
    {EventKind.GRANTED, EventKind.FREED, EventKind.EXPIRED, EventKind.RENEWED, EventKind.REVOKED}
)


@dataclass(frozen=True)
class Event:
    """One change of a pool. Times are seconds since the epoch, on the store's clock.

    - Lease events (`LEASE_EVENTS`) carry the lease's `obj`, `token`, `owner`
      and `label`; a RENEWED event's `expires_at` is the new expiry.
    - POOL_CREATED and POOL_RESIZED carry the pool's new `size`; POOL_DELETED
      has `reason` "forced" when its leases went with it.
    - `principal` is who made the change: None with auth off, and for an expiry.
    """

    pool: str
    seq: int
    kind: EventKind
    at: float
    obj: int | None = None
    token: int | None = None
    owner: str | None = None
    label: str | None = None
    principal: str | None = None
    reason: str | None = None
    size: int | None = None
    expires_at: float | None = None


# Told of every event a store committed, once it committed, in the process
# (and, for a request's change, the greenlet) that made the change.
EventListener = Callable[[Sequence[Event]], None]

DEFAULT_EVENTS_KEEP = 10_000
