"""`memory://`: pools in this process only, built on `ObjectMgr`.

For tests and trying things out. Nothing survives a restart, and a second
worker would have pools of its own, which is why the server refuses to start
with this store and more than one worker.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..pool.errors import (
    PoolExists,
    PoolInUse,
    exhausted,
    not_allocated,
    out_of_range,
    pool_not_found,
)
from ..pool.lease import AcquireRequest, Caller, Lease, PoolStats, check_release
from ..pool.objectmgr import ObjectMgr
from .base import Store, Ticket


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
    ) -> None:
        self._clock = clock
        self._pools: dict[str, _Pool] = {}
        self._last_token: dict[str, int] = {}
        self._tickets = itertools.count(1)
        self._changed = threading.Condition(threading.RLock())
        if default_pool is not None:
            self.ensure_pool(*default_pool)

    # helpers ------------------------------------------------------------
    def _get(self, name: str) -> _Pool:
        pool = self._pools.get(name)
        if pool is None:
            raise pool_not_found(name)
        self._reclaim(pool)
        return pool

    def _reclaim(self, pool: _Pool) -> None:
        now = self._clock()
        while pool.expiries and pool.expiries[0][0] <= now:
            expires_at, obj, token = heapq.heappop(pool.expiries)
            lease = pool.leases.get(obj)
            # A renewal leaves the old entry behind: only the lease's current
            # expiry counts, or it would queue ahead of leases that expired earlier.
            if lease is not None and lease.token == token and lease.expires_at == expires_at:
                self._release(pool, lease)

    def _release(self, pool: _Pool, lease: Lease) -> None:
        del pool.leases[lease.obj]
        if lease.request_id is not None:
            pool.by_request.pop((lease.owner, lease.request_id), None)
        pool.objects.free_object(lease.obj)
        self._changed.notify_all()

    def _stats(self, name: str, pool: _Pool) -> PoolStats:
        return PoolStats(
            name=name,
            size=pool.objects.size,
            in_use=pool.objects.in_use,
            available=pool.objects.available,
            waiting=len(pool.waiters),
        )

    def _held(self, pool: _Pool, name: str, obj: int) -> Lease:
        lease = pool.leases.get(obj)
        if lease is None:
            if not 1 <= obj <= pool.objects.size:
                raise out_of_range(name, obj, pool.objects.size)
            raise not_allocated(name, obj)
        return lease

    # pools --------------------------------------------------------------
    def ensure_pool(self, name: str, size: int) -> None:
        with self._changed:
            if name not in self._pools:
                self._pools[name] = _Pool(ObjectMgr(size, name))

    def create_pool(self, name: str, size: int) -> PoolStats:
        with self._changed:
            if name in self._pools:
                raise PoolExists(f"pool {name!r} exists already")
            self._pools[name] = pool = _Pool(ObjectMgr(size, name))
            return self._stats(name, pool)

    def resize_pool(self, name: str, size: int) -> PoolStats:
        with self._changed:
            pool = self._get(name)
            pool.objects.resize(size)
            self._changed.notify_all()
            return self._stats(name, pool)

    def delete_pool(self, name: str, force: bool) -> PoolStats:
        with self._changed:
            pool = self._get(name)
            if pool.leases and not force:
                raise PoolInUse(
                    f"pool {name!r} has {len(pool.leases)} leases held; "
                    "delete with force: true to drop them"
                )
            stats = self._stats(name, pool)
            del self._pools[name]
            self._changed.notify_all()
            return stats

    def pool(self, name: str) -> PoolStats | None:
        with self._changed:
            if name not in self._pools:
                return None
            return self._stats(name, self._get(name))

    def pools(self, first: int, after: str) -> list[PoolStats]:
        with self._changed:
            names = sorted(name for name in self._pools if name > after)[:first]
            return [self._stats(name, self._get(name)) for name in names]

    # leases -------------------------------------------------------------
    def leases(self, pool: str, first: int, after: int) -> list[Lease]:
        with self._changed:
            held = self._get(pool).leases
            return [held[obj] for obj in sorted(o for o in held if o > after)[:first]]

    def lease(self, pool: str, obj: int) -> Lease | None:
        with self._changed:
            state = self._get(pool)
            lease = state.leases.get(obj)
            if lease is None and not 1 <= obj <= state.objects.size:
                raise out_of_range(pool, obj, state.objects.size)
            return lease

    def acquire(self, request: AcquireRequest, ticket: Ticket | None = None) -> Lease:
        with self._changed:
            pool = self._get(request.pool)
            if request.request_id is not None:
                held = pool.by_request.get((request.owner, request.request_id))
                if held is not None:
                    if ticket is not None:
                        self._drop_ticket(pool, ticket)
                    return pool.leases[held]
            head = pool.waiters[0] if pool.waiters else None
            if head is not None and (ticket is None or ticket.id != head):
                raise exhausted(request.pool)
            obj = pool.objects.get_object()
            if ticket is not None:
                pool.waiters.popleft()
            now = self._clock()
            token = self._last_token.get(request.pool, 0) + 1
            self._last_token[request.pool] = token
            lease = Lease.granted(request, obj, token, now)
            self._store_lease(pool, lease)
            if request.request_id is not None:
                pool.by_request[(request.owner, request.request_id)] = obj
            return lease

    def _store_lease(self, pool: _Pool, lease: Lease) -> None:
        pool.leases[lease.obj] = lease
        if lease.expires_at is not None:
            heapq.heappush(pool.expiries, (lease.expires_at, lease.obj, lease.token))

    def free(self, pool: str, obj: int, caller: Caller, token: int | None) -> int:
        with self._changed:
            state = self._get(pool)
            lease = self._held(state, pool, obj)
            check_release(lease, caller, token)
            self._release(state, lease)
            return obj

    def renew(self, pool: str, obj: int, token: int, caller: Caller, ttl: float | None) -> Lease:
        with self._changed:
            state = self._get(pool)
            lease = self._held(state, pool, obj)
            check_release(lease, caller, token)
            renewed = lease.renewed(self._clock(), ttl)
            self._store_lease(state, renewed)
            return renewed

    # waiting ------------------------------------------------------------
    def join_queue(self, pool: str) -> Ticket:
        with self._changed:
            state = self._get(pool)
            ticket = Ticket(pool, next(self._tickets))
            state.waiters.append(ticket.id)
            return ticket

    def _drop_ticket(self, pool: _Pool, ticket: Ticket) -> None:
        try:
            pool.waiters.remove(ticket.id)
        except ValueError:
            return
        self._changed.notify_all()

    def leave_queue(self, ticket: Ticket) -> None:
        with self._changed:
            pool = self._pools.get(ticket.pool)
            if pool is not None:
                self._drop_ticket(pool, ticket)

    def wait_for_change(self, ticket: Ticket, timeout: float) -> bool:
        # Expiry is not an event here, so sleep no longer than a poll interval.
        with self._changed:
            self._changed.wait(min(timeout, 0.1))
        return True

    def ping(self) -> None:
        return None
