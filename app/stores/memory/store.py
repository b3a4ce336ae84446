"""`memory://`: pools in this process only, each a `PoolState` (`pool_state.py`).

For tests and trying things out. Nothing survives a restart, and a second
worker would have pools of its own, which is why the server refuses to start
with this store and more than one worker. Each operation is one step under
the store's lock (`core.py`); a revocation is a step per batch.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

from ...pool.errors import (
    BadUserInput,
    PoolExists,
    PoolInUse,
    exhausted,
    out_of_range,
    pool_not_found,
    quota_exceeded,
)
from ...pool.events import EventKind
from ...pool.lease import (
    AcquireRequest,
    Caller,
    Grant,
    Lease,
    PoolStats,
    RevokeFilter,
    check_release,
)
from ...pool.policy import PoolPolicy, grant_ttl, renewal_ttl
from ..base import Ticket
from .core import RECLAIM_BATCH, MemoryCore
from .pool_state import PoolState

#: Held objects one step of a revocation looks at (rule R14): the lock is let
#: go between steps, so a revocation of a million leases never stalls the store.
REVOKE_BATCH = 256


class MemoryStore(MemoryCore):
    def ensure_pool(self, name: str, size: int) -> None:
        with self._locked():
            # rule R7: an existing pool is left alone
            if name not in self._pools:
                self._create(name, size, principal=None, policy=None)

    def create_pool(
        self,
        name: str,
        size: int,
        principal: str | None = None,
        policy: PoolPolicy | None = None,
    ) -> PoolStats:
        with self._locked():
            if name in self._pools:
                raise PoolExists(f"pool {name!r} exists already")
            return self._stats(self._create(name, size, principal, policy))

    def set_policy(self, name: str, policy: PoolPolicy, principal: str | None = None) -> PoolStats:
        with self._locked():
            pool = self._get(name)
            # rule R12: replaced whole; held leases and cooling objects keep their ends
            self._set_policy(pool, policy, principal)
            return self._stats(pool)

    def resize_pool(self, name: str, size: int, principal: str | None = None) -> PoolStats:
        with self._locked():
            pool = self._get(name)
            # rule R6: held objects above the size stay held; freed ones retire
            pool.objects.resize(size)
            self._journal.record(
                name, EventKind.POOL_RESIZED, self._clock(), principal=principal, size=size
            )
            self._room.changed(name)
            return self._stats(pool)

    def delete_pool(self, name: str, force: bool, principal: str | None = None) -> PoolStats:
        with self._locked():
            pool = self._get(name)
            stats = self._stats(pool)
            # rule R7: live leases need force; the token counter stays (rule R3)
            if stats.in_use and not force:
                raise PoolInUse(
                    f"pool {name!r} has {stats.in_use} leases held; "
                    "delete with force: true to drop them"
                )
            del self._pools[name]
            for owner in pool.by_owner:
                pools = self._owner_pools[owner]
                pools.discard(name)
                if not pools:
                    del self._owner_pools[owner]
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
            return self._stats(self._get(name))

    def pools(self, first: int, after: str) -> list[PoolStats]:
        with self._locked():
            names = sorted(name for name in self._pools if name > after)[:first]
            return [self._stats(self._get(name)) for name in names]

    # leases -------------------------------------------------------------
    def leases(self, pool: str, first: int, after: int, owner: str | None = None) -> list[Lease]:
        with self._locked():
            found = self._get(pool).live_leases(after, self._clock(), owner)
            return list(itertools.islice(found, first))

    def owner_leases(self, owner: str, first: int) -> list[Lease]:
        with self._locked():
            found: list[Lease] = []
            # rule R15: only the pools the owner holds leases of, in name order
            for name in sorted(self._owner_pools.get(owner, ())):
                if len(found) >= first:
                    break
                leases = self._get(name).live_leases(0, self._clock(), owner)
                found.extend(itertools.islice(leases, first - len(found)))
            return found

    def lease(self, pool: str, obj: int) -> Lease | None:
        with self._locked():
            state = self._get(pool)
            lease = state.live(state.leases.get(obj), self._clock())
            if lease is None and not 1 <= obj <= state.objects.size:
                raise out_of_range(pool, obj, state.objects.size)
            return lease

    def grant(self, request: AcquireRequest, ticket: Ticket | None = None) -> Grant:
        with self._locked():
            # rule R10: a set of c may need c reclaimed to be served
            pool = self._get(request.pool, max(RECLAIM_BATCH, request.count))
            now = self._clock()
            size = pool.objects.size
            # rule R12: the policy read in this very step
            ttl = grant_ttl(pool.policy, request.ttl)
            if request.count > size:
                raise BadUserInput(
                    f"count {request.count} is above the size {size} of pool {request.pool!r}"
                )
            if request.obj is not None and not 1 <= request.obj <= size:
                raise out_of_range(request.pool, request.obj, size)
            # rules R2, R10: the live leases of (owner, request id) come back as they are
            if request.request_id is not None:
                held = pool.replay(request.owner, request.request_id, now)
                if held:
                    if ticket is not None:
                        self._drop_ticket(pool, ticket)
                    return Grant(tuple(held), replayed=True)
            # rule R12: after R2, before R5: refused at once, never queued
            limit = pool.policy.max_per_owner
            if (
                limit is not None
                and request.owner is not None
                and pool.live_count_of(request.owner, limit, now) + request.count > limit
            ):
                raise quota_exceeded(request.pool, request.owner, limit)
            # rule R5: while anyone waits, only the head is granted
            head = pool.waiters[0] if pool.waiters else None
            if head is not None and (ticket is None or ticket.id != head):
                raise exhausted(request.pool)
            if request.obj is not None:
                objs = [self._named(pool, request.obj)]
            elif request.contiguous and request.count > 1:
                objs = pool.objects.get_run(request.count)
            elif request.count > 1:
                objs = pool.objects.get_objects(request.count, pool.policy.reuse_first)
            else:
                objs = [pool.objects.get_object(pool.policy.reuse_first)]
            granted = request if ttl == request.ttl else replace(request, ttl=ttl)
            leases = []
            for obj in objs:
                # rule R3: kept per pool name, never deleted with the pool
                token = self._last_token.get(request.pool, 0) + 1
                self._last_token[request.pool] = token
                lease = Lease.granted(granted, obj, token, now)
                self._keep(pool, lease)
                self._journal.record(request.pool, EventKind.GRANTED, now, lease, request.principal)
                leases.append(lease)
            if ticket is not None:
                # The next waiter may be served too.
                self._drop_ticket(pool, ticket)
            return Grant(tuple(leases))

    def _named(self, pool: PoolState, obj: int) -> int:
        """rule R11: k itself; an expiry of k not reclaimed yet is reclaimed now."""
        lease = pool.leases.get(obj)
        if lease is not None and lease.expires_at is not None and lease.expires_at <= self._clock():
            self._end(pool, lease, lease.expires_at)
            self._journal.record(pool.name, EventKind.EXPIRED, lease.expires_at, lease)
        until = pool.objects.cooling_end_of(obj)
        if until is not None and until <= self._clock():
            # rule R13: its cooling ended; those that ended before it go back first
            while pool.objects.cooling_end_of(obj) is not None:
                pool.objects.end_cooling()
        return pool.objects.get_named(obj)

    def free(self, pool: str, obj: int, caller: Caller, token: int | None) -> int:
        with self._locked():
            state = self._get(pool)
            lease = self._held(state, obj)
            check_release(lease, caller, token)
            self._release(state, lease)
            self._journal.record(pool, EventKind.FREED, self._clock(), lease, caller.principal)
            return obj

    def renew(self, pool: str, obj: int, token: int, caller: Caller, ttl: float | None) -> Lease:
        with self._locked():
            state = self._get(pool)
            lease = self._held(state, obj)
            check_release(lease, caller, token)
            now = self._clock()
            # rule R12: the policy's cap, after R8's refusals
            renewed = lease.renewed(now, renewal_ttl(state.policy, lease.ttl, ttl))
            self._keep(state, renewed)
            self._journal.record(pool, EventKind.RENEWED, now, renewed, caller.principal)
            return renewed

    # revocation ---------------------------------------------------------
    def revoke(self, pool: str, which: RevokeFilter, principal: str | None = None) -> list[Lease]:
        revoked: list[Lease] = []
        after: int | None = 0
        # rule R14: in object order, a bounded step at a time
        while after is not None:
            after = self._revoke_step(pool, which, principal, after, revoked)
        return revoked

    def _revoke_step(
        self,
        name: str,
        which: RevokeFilter,
        principal: str | None,
        after: int,
        revoked: list[Lease],
    ) -> int | None:
        """Revoke the matches among the next REVOKE_BATCH held objects above
        `after`; the last one looked at, or None when none are left."""
        with self._locked():
            pool = self._pools.get(name)
            if pool is None:
                if after == 0:
                    raise pool_not_found(name)
                return None  # deleted since the last step: nothing left to revoke
            self._reclaim(pool, RECLAIM_BATCH)
            now = self._clock()
            if which.objs is not None:
                candidates: Iterator[int] = iter(sorted(o for o in which.objs if o > after))
            elif which.owner is not None:
                owned = pool.by_owner.get(which.owner)
                candidates = iter(()) if owned is None else owned.above(after)
            else:
                candidates = pool.objects.held_above(after)
            batch = list(itertools.islice(candidates, REVOKE_BATCH))
            for obj in batch:
                lease = pool.live(pool.leases.get(obj), now)
                if lease is None or not which.matches(lease):
                    continue
                self._end(pool, lease, now)
                self._journal.record(
                    name, EventKind.REVOKED, now, lease, principal, reason=which.reason
                )
                revoked.append(lease)
            return batch[-1] if len(batch) == REVOKE_BATCH else None
