"""`memory://`: pools in this process only, each on an `ObjectMgr` (`objects.py`).

For tests and trying things out. Nothing survives a restart, and a second
worker would have pools of its own, which is why the server refuses to start
with this store and more than one worker.

Expired leases are reclaimed as in the other stores: each change first
reclaims a bounded batch of its pool's (oldest expiry first), and a `Reaper`
reclaims the rest off every request's path. Until then reads leave them out:
a lease whose expiry has passed is never listed or counted as held.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ...pool.errors import (
    PoolExists,
    PoolInUse,
    exhausted,
    not_allocated,
    out_of_range,
    pool_not_found,
)
from ...pool.events import DEFAULT_EVENTS_KEEP, Event, EventKind
from ...pool.lease import AcquireRequest, Caller, Lease, PoolStats, check_release
from ..base import Store, Ticket
from ..waking import Bell, Reaper, WaitRoom, follow
from .journal import MemoryJournal
from .objects import ObjectMgr

#: Expired leases one change reclaims before it acts; the reaper does the rest.
RECLAIM_BATCH = 64


@dataclass
class _Pool:
    objects: ObjectMgr
    leases: dict[int, Lease] = field(default_factory=dict)
    by_request: dict[tuple[str | None, str], int] = field(default_factory=dict)
    expiries: list[tuple[float, int, int]] = field(default_factory=list)
    waiters: deque[int] = field(default_factory=deque)


class MemoryStore(Store):
    def __init__(
        self,
        *,
        default_pool: tuple[str, int] | None = None,
        clock: Callable[[], float] = time.time,
        events_keep: int = DEFAULT_EVENTS_KEEP,
    ) -> None:
        self._clock = clock
        self._journal = MemoryJournal(events_keep)
        self._default_pool = default_pool
        self._opened = False
        self._pools: dict[str, _Pool] = {}
        self._last_token: dict[str, int] = {}
        self._tickets = itertools.count(1)
        self._lock = threading.RLock()
        self._room = WaitRoom(head=self._head)
        self._reaper = Reaper(self._reclaim_all)
        self._bell = Bell()

    def open(self) -> None:
        # A step of its own, so that the default pool's event is told now, not
        # with the next operation's (and under that request's id).
        with self._locked():
            pass

    def _open(self) -> None:
        if self._default_pool is not None:
            self._create(*self._default_pool, principal=None)
        self._opened = True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Every operation's step: under the lock, on an opened store. The
        events the step wrote (rule R9) are told once the lock is let go,
        whether the step then succeeded or was refused after reclaiming."""
        written: list[Event] = []
        try:
            with self._lock:
                try:
                    if not self._opened:
                        self._open()
                    yield
                finally:
                    written = self._journal.take_written()
        finally:
            for pool in {event.pool for event in written}:
                self._bell.ring(pool)
            self._published(written)

    # helpers ------------------------------------------------------------
    def _get(self, name: str) -> _Pool:
        pool = self._pools.get(name)
        if pool is None:
            raise pool_not_found(name)
        # rule R4: reclaim before reading or granting
        self._reclaim(name, pool, RECLAIM_BATCH)
        return pool

    def _reclaim(self, name: str, pool: _Pool, limit: int) -> int:
        """Reclaim up to `limit` expired leases of `pool`, oldest expiry first (rules R4, R1)."""
        now = self._clock()
        reclaimed = 0
        while pool.expiries and pool.expiries[0][0] <= now and reclaimed < limit:
            expires_at, obj, token = heapq.heappop(pool.expiries)
            lease = pool.leases.get(obj)
            if self._current(lease, expires_at, token):
                assert lease is not None
                self._release(name, pool, lease)
                self._journal.record(name, EventKind.EXPIRED, expires_at, lease)
                reclaimed += 1
        return reclaimed

    @staticmethod
    def _current(lease: Lease | None, expires_at: float, token: int) -> bool:
        # A renewal leaves the old entry behind: only the lease's current expiry
        # counts, or it would queue ahead of leases that expired earlier.
        return lease is not None and lease.token == token and lease.expires_at == expires_at

    def _reclaim_all(self, limit: int) -> float | None:
        """The reaper's step: a bounded batch over every pool; seconds to the next expiry."""
        with self._locked():
            left = limit
            for name, pool in list(self._pools.items()):
                left -= self._reclaim(name, pool, left)
                if left <= 0:
                    return 0.0
            upcoming = [pool.expiries[0][0] for pool in self._pools.values() if pool.expiries]
            return None if not upcoming else max(0.0, min(upcoming) - self._clock())

    def _release(self, name: str, pool: _Pool, lease: Lease) -> None:
        del pool.leases[lease.obj]
        if lease.request_id is not None:
            pool.by_request.pop((lease.owner, lease.request_id), None)
        pool.objects.free_object(lease.obj)
        # rule R5: a free or a reclaim may let the head be served
        self._room.changed(name)

    def _expired_unreclaimed(self, pool: _Pool, now: float) -> tuple[int, int]:
        """Leases past their expiry still in `pool` (all, and those within its size).

        Visits only the heap entries due by `now`, so it costs what awaits
        reclamation, not what is held.
        """
        heap, size = pool.expiries, pool.objects.size
        found = within = 0
        stack = [0] if heap else []
        while stack:
            index = stack.pop()
            expires_at, obj, token = heap[index]
            if expires_at > now:
                continue
            if self._current(pool.leases.get(obj), expires_at, token):
                found += 1
                within += obj <= size
            stack.extend(child for child in (2 * index + 1, 2 * index + 2) if child < len(heap))
        return found, within

    def _stats(self, name: str, pool: _Pool) -> PoolStats:
        expired, expired_within = self._expired_unreclaimed(pool, self._clock())
        return PoolStats(
            name=name,
            size=pool.objects.size,
            in_use=pool.objects.in_use - expired,
            available=pool.objects.available + expired_within,
            waiting=len(pool.waiters),
        )

    def _live(self, lease: Lease | None) -> Lease | None:
        # rule R4: an expired lease is left out until it is reclaimed
        if lease is None or (lease.expires_at is not None and lease.expires_at <= self._clock()):
            return None
        return lease

    def _held(self, pool: _Pool, name: str, obj: int) -> Lease:
        # rule R8: no live lease is OUT_OF_RANGE, else NOT_ALLOCATED
        lease = self._live(pool.leases.get(obj))
        if lease is None:
            if not 1 <= obj <= pool.objects.size:
                raise out_of_range(name, obj, pool.objects.size)
            raise not_allocated(name, obj)
        return lease

    def _head(self, name: str) -> int | None:
        with self._lock:
            pool = self._pools.get(name)
            return pool.waiters[0] if pool is not None and pool.waiters else None

    # pools --------------------------------------------------------------
    def _create(self, name: str, size: int, principal: str | None) -> _Pool:
        self._pools[name] = pool = _Pool(ObjectMgr(size, name))
        self._journal.record(
            name, EventKind.POOL_CREATED, self._clock(), principal=principal, size=size
        )
        return pool

    def ensure_pool(self, name: str, size: int) -> None:
        with self._locked():
            # rule R7: an existing pool is left alone
            if name not in self._pools:
                self._create(name, size, principal=None)

    def create_pool(self, name: str, size: int, principal: str | None = None) -> PoolStats:
        with self._locked():
            if name in self._pools:
                raise PoolExists(f"pool {name!r} exists already")
            return self._stats(name, self._create(name, size, principal))

    def resize_pool(self, name: str, size: int, principal: str | None = None) -> PoolStats:
        with self._locked():
            pool = self._get(name)
            # rule R6: held objects above the size stay held; freed ones retire
            pool.objects.resize(size)
            self._journal.record(
                name, EventKind.POOL_RESIZED, self._clock(), principal=principal, size=size
            )
            self._room.changed(name)
            return self._stats(name, pool)

    def delete_pool(self, name: str, force: bool, principal: str | None = None) -> PoolStats:
        with self._locked():
            pool = self._get(name)
            stats = self._stats(name, pool)
            # rule R7: live leases need force; the token counter stays (rule R3)
            if stats.in_use and not force:
                raise PoolInUse(
                    f"pool {name!r} has {stats.in_use} leases held; "
                    "delete with force: true to drop them"
                )
            del self._pools[name]
            reason = "forced" if stats.in_use else None
            self._journal.record(
                name, EventKind.POOL_DELETED, self._clock(), principal=principal, reason=reason
            )
            # Its waiters wake, find no pool and are told so.
            self._room.wake_all(name)
            return stats

    def pool(self, name: str) -> PoolStats | None:
        with self._locked():
            if name not in self._pools:
                return None
            return self._stats(name, self._get(name))

    def pools(self, first: int, after: str) -> list[PoolStats]:
        with self._locked():
            names = sorted(name for name in self._pools if name > after)[:first]
            return [self._stats(name, self._get(name)) for name in names]

    # leases -------------------------------------------------------------
    def leases(self, pool: str, first: int, after: int) -> list[Lease]:
        with self._locked():
            held = self._get(pool).leases
            found = (self._live(held[obj]) for obj in sorted(o for o in held if o > after))
            return list(itertools.islice((lease for lease in found if lease), first))

    def lease(self, pool: str, obj: int) -> Lease | None:
        with self._locked():
            state = self._get(pool)
            lease = self._live(state.leases.get(obj))
            if lease is None and not 1 <= obj <= state.objects.size:
                raise out_of_range(pool, obj, state.objects.size)
            return lease

    def acquire(self, request: AcquireRequest, ticket: Ticket | None = None) -> Lease:
        with self._locked():
            pool = self._get(request.pool)
            # rule R2: the live lease of (owner, request id) comes back as it is
            if request.request_id is not None:
                held = self._live(
                    pool.leases.get(pool.by_request.get((request.owner, request.request_id), 0))
                )
                if held is not None:
                    if ticket is not None:
                        self._drop_ticket(request.pool, pool, ticket)
                    return held
            # rule R5: while anyone waits, only the head is granted
            head = pool.waiters[0] if pool.waiters else None
            if head is not None and (ticket is None or ticket.id != head):
                raise exhausted(request.pool)
            obj = pool.objects.get_object()
            now = self._clock()
            # rule R3: kept per pool name, never deleted with the pool
            token = self._last_token.get(request.pool, 0) + 1
            self._last_token[request.pool] = token
            lease = Lease.granted(request, obj, token, now)
            self._store_lease(pool, lease)
            if request.request_id is not None:
                pool.by_request[(request.owner, request.request_id)] = obj
            self._journal.record(request.pool, EventKind.GRANTED, now, lease, request.principal)
            if ticket is not None:
                # The next waiter may be served too.
                self._drop_ticket(request.pool, pool, ticket)
            return lease

    def _store_lease(self, pool: _Pool, lease: Lease) -> None:
        pool.leases[lease.obj] = lease
        if lease.expires_at is not None:
            heapq.heappush(pool.expiries, (lease.expires_at, lease.obj, lease.token))
            self._reaper.soon()

    def free(self, pool: str, obj: int, caller: Caller, token: int | None) -> int:
        with self._locked():
            state = self._get(pool)
            lease = self._held(state, pool, obj)
            check_release(lease, caller, token)
            self._release(pool, state, lease)
            self._journal.record(pool, EventKind.FREED, self._clock(), lease, caller.principal)
            return obj

    def renew(self, pool: str, obj: int, token: int, caller: Caller, ttl: float | None) -> Lease:
        with self._locked():
            state = self._get(pool)
            lease = self._held(state, pool, obj)
            check_release(lease, caller, token)
            now = self._clock()
            renewed = lease.renewed(now, ttl)
            self._store_lease(state, renewed)
            self._journal.record(pool, EventKind.RENEWED, now, renewed, caller.principal)
            return renewed

    # waiting ------------------------------------------------------------
    def join_queue(self, pool: str) -> Ticket:
        with self._locked():
            state = self._get(pool)
            ticket = Ticket(pool, next(self._tickets))
            state.waiters.append(ticket.id)
            self._room.enter(ticket)
            return ticket

    def _drop_ticket(self, name: str, pool: _Pool, ticket: Ticket) -> None:
        self._room.leave(ticket)
        try:
            pool.waiters.remove(ticket.id)
        except ValueError:
            return
        self._room.changed(name)

    def leave_queue(self, ticket: Ticket) -> None:
        with self._lock:
            pool = self._pools.get(ticket.pool)
            if pool is not None:
                self._drop_ticket(ticket.pool, pool, ticket)
            else:
                self._room.leave(ticket)

    def wait_until_woken(self, ticket: Ticket, timeout: float) -> bool:
        return self._room.wait(ticket, timeout)

    def events(self, pool: str, after: int, first: int) -> list[Event]:
        with self._locked():
            return self._journal.events(pool, after, first)

    def wait_for_events(self, pool: str, after: int, first: int, timeout: float) -> list[Event]:
        return follow(self._bell, lambda: self.events(pool, after, first), pool, timeout)

    def ping(self) -> None:
        return None

    def close(self) -> None:
        self._room.close()
        self._reaper.close()
