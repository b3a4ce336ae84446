"""The memory store's machinery: its lock and steps, reclaiming, and waiting.

`MemoryCore` holds every pool's state and the helpers each step uses; the
operations themselves are `MemoryStore`'s (`store.py`). Expired leases are
reclaimed as in the other stores: each change first reclaims a bounded batch
of its pool's (oldest expiry first), and a `Reaper` reclaims the rest off every
request's path. Until then reads leave them out: a lease whose expiry has
passed is never listed or counted as held. Cooling objects (rule R13) go back
to the free queue in the same batches.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ...pool.errors import not_allocated, out_of_range, pool_not_found
from ...pool.events import DEFAULT_EVENTS_KEEP, Event, EventKind
from ...pool.lease import Lease, PoolStats
from ...pool.policy import PoolPolicy
from ..base import Store, Ticket
from ..waking import Bell, Reaper, WaitRoom, follow
from .journal import MemoryJournal
from .objects import ObjectMgr
from .pool_state import PoolState

#: Expired leases and ended coolings one change reclaims before it acts; the
#: reaper does the rest.
RECLAIM_BATCH = 64


class MemoryCore(Store):
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
        self._pools: dict[str, PoolState] = {}
        self._last_token: dict[str, int] = {}
        # rule R15: the pools each owner holds leases of.
        self._owner_pools: dict[str, set[str]] = {}
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
            self._create(*self._default_pool, principal=None, policy=None)
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
    def _get(self, name: str, reclaim: int = RECLAIM_BATCH) -> PoolState:
        pool = self._pools.get(name)
        if pool is None:
            raise pool_not_found(name)
        # rule R4: reclaim before reading or granting
        self._reclaim(pool, reclaim)
        return pool

    def _reclaim(self, pool: PoolState, limit: int) -> int:
        """Reclaim up to `limit` expired leases and cooling objects whose end
        passed, in the order they ended (rules R4, R1, R13)."""
        now = self._clock()
        reclaimed = 0
        objects, expiries = pool.objects, pool.expiries
        while reclaimed < limit:
            expiry = expiries[0] if expiries and expiries[0][0] <= now else None
            cooled = objects.next_cooling_end()
            if cooled is not None and cooled[0] > now:
                cooled = None
            if expiry is None and cooled is None:
                break
            if cooled is not None and (expiry is None or cooled < expiry[:2]):
                objects.end_cooling()
                reclaimed += 1
                self._room.changed(pool.name)
                continue
            expires_at, obj, token = heapq.heappop(expiries)
            lease = pool.leases.get(obj)
            if lease is not None and pool.current(lease, expires_at, token):
                self._end(pool, lease, expires_at)
                self._journal.record(pool.name, EventKind.EXPIRED, expires_at, lease)
                reclaimed += 1
        return reclaimed

    def _reclaim_all(self, limit: int) -> float | None:
        """The reaper's step: a bounded batch over every pool; seconds to the next end."""
        with self._locked():
            left = limit
            for pool in list(self._pools.values()):
                left -= self._reclaim(pool, left)
                if left <= 0:
                    return 0.0
            upcoming = [pool.expiries[0][0] for pool in self._pools.values() if pool.expiries]
            for pool in self._pools.values():
                cooled = pool.objects.next_cooling_end()
                if cooled is not None:
                    upcoming.append(cooled[0])
            return None if not upcoming else max(0.0, min(upcoming) - self._clock())

    def _end(self, pool: PoolState, lease: Lease, ended_at: float) -> None:
        """An expiry or a revocation: the object cools or is free (rule R13)."""
        self._forget_owner(pool, lease)
        pool.end(lease, ended_at)
        if pool.objects.next_cooling_end() is not None:
            self._reaper.soon()
        # rule R5: a reclaim or a revocation may let the head be served
        self._room.changed(pool.name)

    def _release(self, pool: PoolState, lease: Lease) -> None:
        """A holder's free: the object is free now, never cooling (rule R13)."""
        self._forget_owner(pool, lease)
        pool.drop(lease)
        pool.objects.free_object(lease.obj)
        # rule R5: a free may let the head be served
        self._room.changed(pool.name)

    def _forget_owner(self, pool: PoolState, lease: Lease) -> None:
        owned = pool.by_owner.get(lease.owner) if lease.owner is not None else None
        if lease.owner is not None and owned is not None and len(owned) == 1:
            pools = self._owner_pools[lease.owner]
            pools.discard(pool.name)
            if not pools:
                del self._owner_pools[lease.owner]

    def _keep(self, pool: PoolState, lease: Lease) -> None:
        if pool.put(lease):
            self._reaper.soon()
        if lease.owner is not None:
            pools = self._owner_pools.get(lease.owner)
            if pools is None:
                pools = self._owner_pools[lease.owner] = set()
            pools.add(pool.name)

    def _stats(self, pool: PoolState) -> PoolStats:
        return pool.stats(self._clock())

    def _held(self, pool: PoolState, obj: int) -> Lease:
        # rule R8: no live lease is OUT_OF_RANGE, else NOT_ALLOCATED
        lease = pool.live(pool.leases.get(obj), self._clock())
        if lease is None:
            if not 1 <= obj <= pool.objects.size:
                raise out_of_range(pool.name, obj, pool.objects.size)
            raise not_allocated(pool.name, obj)
        return lease

    def _head(self, name: str) -> int | None:
        with self._lock:
            pool = self._pools.get(name)
            return pool.waiters[0] if pool is not None and pool.waiters else None

    # pools --------------------------------------------------------------
    def _create(
        self, name: str, size: int, principal: str | None, policy: PoolPolicy | None
    ) -> PoolState:
        self._pools[name] = pool = PoolState(ObjectMgr(size, name))
        now = self._clock()
        self._journal.record(name, EventKind.POOL_CREATED, now, principal=principal, size=size)
        if policy is not None:
            # rule R9: a create with a policy journals it in the same step
            self._set_policy(pool, policy, principal)
        return pool

    def _set_policy(self, pool: PoolState, policy: PoolPolicy, principal: str | None) -> None:
        pool.policy = policy
        self._journal.record(
            pool.name,
            EventKind.POLICY_CHANGED,
            self._clock(),
            principal=principal,
            reason=policy.to_json(),
        )

    # waiting ------------------------------------------------------------
    def join_queue(self, pool: str) -> Ticket:
        with self._locked():
            state = self._get(pool)
            ticket = Ticket(pool, next(self._tickets))
            state.waiters.append(ticket.id)
            self._room.enter(ticket)
            return ticket

    def _drop_ticket(self, pool: PoolState, ticket: Ticket) -> None:
        self._room.leave(ticket)
        try:
            pool.waiters.remove(ticket.id)
        except ValueError:
            return
        self._room.changed(pool.name)

    def leave_queue(self, ticket: Ticket) -> None:
        with self._lock:
            pool = self._pools.get(ticket.pool)
            if pool is not None:
                self._drop_ticket(pool, ticket)
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
