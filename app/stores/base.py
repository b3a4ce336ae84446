"""The one interface every store implements; the API knows nothing else.

Every method is one atomic step against shared state: two workers or two
hosts calling at once can never both be granted one object (R1). Each store
follows the rules below; the memory store's Python, the SQLite store's SQL
and the Redis store's Lua name the rule they implement (`rule R3`) where
they implement it, and tests/test_store_contract.py names the rule each of
its tests checks.

R1  One holder, in grant order. A pool's objects are exactly 1..size, and
    an object granted is not granted again until it is freed or its lease
    expired. Objects never used go first, ascending, size included; then
    freed objects, the longest free first. An expired lease counts as freed
    at its expiry time (equal expiries in object order). Objects never used
    are not stored: everything below the pool's next never-used object is
    held or freed, so a pool of any size costs the same to create.
R2  Idempotent acquire. An acquire with a request id whose (owner, request
    id) names a live lease of the pool returns that lease as it is, granting
    nothing (and takes the caller's ticket out of the queue). Once that lease
    is freed or expired, the same id acquires anew.
R3  Fencing tokens. Every grant takes the next token of its pool's counter,
    which is kept per pool name and never deleted, not with the pool either:
    tokens strictly increase across workers, hosts, restarts and re-creating
    the pool. A renewal keeps the lease's token.
R4  Expiry by the store's clock. Before a change reads or grants, it
    reclaims a bounded batch of its pool's expired leases, the earliest
    expiry first (as R1 orders them); a reaper reclaims the rest off the
    requests' path. Until then every read leaves expired leases out: they
    are not listed, counted as held, freed or renewed.
R5  Fairness. While a pool has live waiters, only the oldest live one (the
    head) is granted: an acquire without a ticket, or with a ticket that is
    not the head, is refused with POOL_EXHAUSTED. A grant to the head removes
    its ticket. Every change that may let the head be served (a free, a
    reclaim, a growing resize, a delete, a waiter served or leaving) wakes
    it. Waiters of a dead process are skipped, and dropped in bounded steps.
R6  Resizing. Leases held above a new, smaller size stay valid (they can be
    freed and renewed); objects above the size are never granted, and freed
    ones there retire: they come back when the pool grows over them again,
    in the place they were freed. `available` counts 1..size only.
R7  Creating and deleting. Creating an existing pool is POOL_EXISTS;
    `ensure_pool` leaves an existing pool alone. Deleting a pool with live
    leases is POOL_IN_USE unless forced; a forced delete drops its leases and
    waiters, and the waiters are woken to learn POOL_NOT_FOUND. The pool's
    token counter stays (R3).
R8  Free and renew refuse, in this order: POOL_NOT_FOUND; for an object with
    no live lease, OUT_OF_RANGE outside 1..size, else NOT_ALLOCATED;
    NOT_OWNER unless the caller is an admin or the lease's owner; STALE_TOKEN
    when a token is given and is not the lease's. Ownership goes before the
    token, so a stranger learns nothing of another holder's token. A renewal
    sets the expiry to now + ttl (the lease's last ttl when none is given;
    no expiry when it never had one).
R9  The journal. Every change writes its event (`pool.events.Event`) in the
    same transaction or script: GRANTED, FREED, RENEWED, EXPIRED (as each
    lease is reclaimed, `at` its expiry), POOL_CREATED, POOL_RESIZED,
    POOL_DELETED. A refused change, a replayed acquire (R2) and queue moves
    write none. `seq` comes from a counter per pool name that, like the token
    counter (R3), is never deleted. The journal keeps at least the last
    `events_keep` events of each pool and trims older ones a bounded batch
    per write. Once a change committed, the store tells its listeners of the
    events it wrote, in the calling thread (or greenlet): the reaper's
    events in the reaper's. REVOKED (R14) and POLICY_CHANGED (R12) too;
    POLICY_CHANGED's `reason` is the new policy's `PoolPolicy.to_json()`,
    and a create with a policy writes it after POOL_CREATED in the same step.
R10 Several objects. `count` c > 1 is all or nothing in one step: c leases
    with c increasing tokens, or none and POOL_EXHAUSTED. Without
    `contiguous`, the objects c single acquires in a row would take, in that
    order (R1, or R13's reuse order); with it, k..k+c-1 for the lowest k at
    which all c are available (fresh or freed alike, none held or cooling,
    all within 1..size). A contiguous request finds its run without scanning
    the pool: a structure of available runs kept in the same step as every
    change, in which never-used objects are one run. c above the pool's size
    can never be granted: BAD_USER_INPUT. A waiter for c is one ticket (R5).
    R2 for a set: the request id's live leases come back, in token order,
    `replayed` True; they are a set's survivors once some were freed.
R11 A named object (`obj` k, count 1): OUT_OF_RANGE outside 1..size;
    OBJECT_HELD while a live lease holds it or it is cooling (R13);
    otherwise k is granted, fresh or freed. Granting a fresh k above the
    lowest never-used object leaves the objects below k fresh and in their
    order: the store skips k when its fresh order reaches it, each named
    object at most once, so the cost stays O(1) amortized per grant.
R12 Policy. Every pool has one (`PoolPolicy`, all rules off by default),
    stored with the pool, replaced whole by `set_policy`, and applied in the
    same step as the grant or renewal it governs (`pool.policy`): a grant's
    TTL is `grant_ttl`, a renewal's `renewal_ttl` (BAD_USER_INPUT above
    max_ttl). `max_per_owner`: a grant that would give a non-null owner more
    live leases of the pool than it allows is QUOTA_EXCEEDED, checked after
    R2 and before R5, so it is refused at once and never queued; counted in
    the same step, so no two workers can overshoot it.
R13 Cooling and reuse. With `reuse_delay`, an object whose lease expired or
    was revoked is cooling until `cooling_until(policy, ended_at)`: neither
    held nor available, counted in `cooling` (within 1..size), never
    granted, a named acquire of it OBJECT_HELD. It then rejoins the free
    order as freed at its cooling end, moved in bounded batches as R4's
    reclaims are, and counted as available from that instant by every read.
    A holder's free never cools. With `reuse_first`, freed objects (longest
    free first) go before never-used ones, so the store keeps no more
    objects than were ever held at once.
R14 Revocation. `revoke` ends every live lease of the pool matching the
    filter, in object order, in bounded batches (one atomic step each): each
    a REVOKED event with the filter's reason and the principal; their objects
    cool (R13) or go back as freed now; their holders' later free or renew is
    NOT_ALLOCATED (or STALE_TOKEN for a new lease); waiters are woken (R5).
R15 Owners. `leases(owner=)` lists one owner's live leases of a pool in object
    order, `owner_leases` every pool's in (pool, object) order, each costing
    O(page) and, across pools, O(pools visited); neither counts expired
    leases (R4).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..pool.events import Event, EventListener
from ..pool.lease import AcquireRequest, Caller, Grant, Lease, PoolStats, RevokeFilter
from ..pool.policy import PoolPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ticket:
    """A place in a pool's queue of waiters; lower ids arrived earlier."""

    pool: str
    id: int


class Store(ABC):
    _listeners: tuple[EventListener, ...] = ()

    # opening ----------------------------------------------------------
    @abstractmethod
    def open(self) -> None:
        """Create what must exist before the first operation: the database and
        its layout where the store has one, and the default pool the store was
        given. The app factory calls it once per process; calling it again
        changes nothing. Raises `StoreUnavailable` when the store cannot be
        reached: an operation then opens the store before it acts, so a
        service started during an outage carries on once the store is back.
        `ping` and `check_ready` never open a store."""

    # pools ------------------------------------------------------------
    @abstractmethod
    def ensure_pool(self, name: str, size: int) -> None:
        """Create the pool unless it exists (its size is then left alone)."""

    @abstractmethod
    def create_pool(
        self,
        name: str,
        size: int,
        principal: str | None = None,
        policy: PoolPolicy | None = None,
    ) -> PoolStats:
        """`principal` is who asked, for the journal (rule R9); so for the
        changes below. `policy` None is the pool's default policy, and writes no
        POLICY_CHANGED (rule R12)."""

    @abstractmethod
    def set_policy(self, name: str, policy: PoolPolicy, principal: str | None = None) -> PoolStats:
        """Replace the pool's whole policy (rule R12); held leases keep their
        expiry, objects cooling keep their end."""

    @abstractmethod
    def resize_pool(self, name: str, size: int, principal: str | None = None) -> PoolStats: ...

    @abstractmethod
    def delete_pool(self, name: str, force: bool, principal: str | None = None) -> PoolStats:
        """Delete the pool; its leases and waiters go with it when `force`."""

    @abstractmethod
    def pool(self, name: str) -> PoolStats | None: ...

    @abstractmethod
    def pools(self, first: int, after: str) -> list[PoolStats]:
        """Pools in name order, names above `after`, at most `first`."""

    # leases -----------------------------------------------------------
    @abstractmethod
    def leases(self, pool: str, first: int, after: int, owner: str | None = None) -> list[Lease]:
        """Live leases in object order, objects above `after`, at most `first`;
        only `owner`'s when given (rule R15)."""

    @abstractmethod
    def owner_leases(self, owner: str, first: int) -> list[Lease]:
        """`owner`'s live leases of every pool, in (pool, object) order, at most
        `first` (rule R15)."""

    @abstractmethod
    def lease(self, pool: str, obj: int) -> Lease | None: ...

    @abstractmethod
    def grant(self, request: AcquireRequest, ticket: Ticket | None = None) -> Grant:
        """Grant `request.count` objects (or `request.obj`), or raise.

        Refuses, in this order: POOL_NOT_FOUND; BAD_USER_INPUT for a TTL above
        the policy's max_ttl or a count above the size (R10, R12); OUT_OF_RANGE
        for a named object outside 1..size (R11). Then the live leases with the
        same owner and request id are returned as they are (R2, `replayed`).
        Then QUOTA_EXCEEDED (R12). Without a ticket nothing is granted while
        anyone waits; with one, only to the oldest live waiter, whose ticket
        the grant then removes (R5). Then OBJECT_HELD for a named object held
        or cooling (R11), POOL_EXHAUSTED when too few are available (R10).
        A refusal after the queue was passed leaves the ticket in place.
        """

    def acquire(self, request: AcquireRequest, ticket: Ticket | None = None) -> Lease:
        """Grant one object (`grant` of a request for one): its lease."""
        return self.grant(request, ticket).leases[0]

    @abstractmethod
    def revoke(self, pool: str, which: RevokeFilter, principal: str | None = None) -> list[Lease]:
        """End every live lease of `pool` that `which` matches (rule R14): the
        leases revoked, in object order. POOL_NOT_FOUND for no such pool."""

    @abstractmethod
    def free(self, pool: str, obj: int, caller: Caller, token: int | None) -> int: ...

    @abstractmethod
    def renew(self, pool: str, obj: int, token: int, caller: Caller, ttl: float | None) -> Lease:
        """Rule R8, with the TTL of `renewal_ttl` (rule R12): BAD_USER_INPUT
        for a `ttl` above the policy's max_ttl, after R8's refusals."""

    # waiting ----------------------------------------------------------
    @abstractmethod
    def join_queue(self, pool: str) -> Ticket: ...

    @abstractmethod
    def leave_queue(self, ticket: Ticket) -> None:
        """Give up a place in the queue; a no-op when it is already gone."""

    @abstractmethod
    def wait_until_woken(self, ticket: Ticket, timeout: float) -> bool:
        """Block until `ticket` heads its queue and its pool changed, or `timeout`
        seconds passed; True when woken. Costs nothing while it blocks: stores wake
        waiters through `waking.WaitRoom`, never by polling. Spurious wake-ups are
        allowed: the caller tries again and waits again."""

    # the journal (rule R9) ---------------------------------------------
    @abstractmethod
    def events(self, pool: str, after: int, first: int) -> list[Event]:
        """The journal's events of pool name `pool` with `seq > after`, ascending,
        at most `first`. A deleted pool's events stay readable while kept."""

    def wait_for_events(self, pool: str, after: int, first: int, timeout: float) -> list[Event]:
        """The journal's events of `pool` with `seq > after`, ascending, at most
        `first`; when there are none yet, wait up to `timeout` seconds for the
        first to be committed, by this process or any other on any host, and
        answer [] if none came.

        What watching (`app.watching`) reads: one caller per process and pool,
        so the cost of waiting is per process, never per subscriber. A commit
        elsewhere is seen within a second, usually at once (SQLite: the host's
        datagram wake-ups; Redis: a blocking stream read; memory: a condition).
        Raises `StoreUnavailable` when the store cannot be read.
        """
        raise NotImplementedError

    def listen(self, listener: EventListener) -> None:
        """Have `listener` told of every event this store commits from now on."""
        self._listeners = (*self._listeners, listener)

    def _published(self, events: list[Event]) -> None:
        """Tell the listeners of `events`, committed already. A listener that
        raises is logged and skipped: the change stands whatever it does."""
        if not events:
            return
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:
                log.exception("an event listener failed")

    # health -----------------------------------------------------------
    @abstractmethod
    def ping(self) -> None:
        """Raise `StoreUnavailable` unless the store answers reads. Only looks:
        it writes nothing and creates nothing, not even on a store never opened."""

    def check_ready(self) -> None:
        """Raise `StoreUnavailable` unless the store can read and durably write.

        `/readyz` asks this. Stores override it with a write that changes no
        lease and creates no pool (a scratch row or key); the default only reads.
        """
        self.ping()

    def close(self) -> None:  # noqa: B027 - most stores hold nothing to close
        """Release connections."""
