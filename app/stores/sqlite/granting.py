"""Granting and revoking in the SQLite store: each one `BEGIN IMMEDIATE`
transaction (a revocation, one per bounded batch), as every change is."""

from __future__ import annotations

import dataclasses
import sqlite3

from ...pool.errors import (
    BadUserInput,
    PoolNotFound,
    exhausted,
    object_cooling,
    object_held,
    out_of_range,
    quota_exceeded,
)
from ...pool.events import EventKind
from ...pool.lease import AcquireRequest, Grant, Lease, RevokeFilter
from ...pool.policy import above_max_ttl, grant_ttl
from ..base import Ticket
from . import cooling, objects, waiters
from .core import Effects
from .following import SQLiteFollowing
from .objects import LEASE_COLUMNS, LIVE
from .rows import PoolRow
from .taking import Taking

#: Leases one transaction of a revocation looks at (rule R14): a big pool's
#: revocation holds the write lock a few milliseconds at a time.
REVOKE_BATCH = 250


class SQLiteGranting(SQLiteFollowing):
    def grant(self, request: AcquireRequest, ticket: Ticket | None = None) -> Grant:
        if ticket is not None and not self._may_be_served(request, ticket):
            raise exhausted(request.pool)

        def change(conn: sqlite3.Connection, fx: Effects) -> Grant:
            return self._grant(conn, fx, request, ticket)

        grant = self._transact(change)
        if ticket is not None:
            self._forget(ticket)
        self._expires(grant.leases[0])
        return grant

    def _grant(
        self, conn: sqlite3.Connection, fx: Effects, request: AcquireRequest, ticket: Ticket | None
    ) -> Grant:
        now = self._clock()
        pool, count, named = request.pool, request.count, request.obj
        row = objects.pool_row(conn, pool)
        # rule R12: the pool's policy, in this step
        ttl = grant_ttl(row.policy, request.ttl)
        # rule R10: more than the pool holds can never be granted
        if count > row.size:
            raise BadUserInput(f"count {count} is above the size {row.size} of pool {pool!r}")
        # rule R11
        if named is not None and not 1 <= named <= row.size:
            raise out_of_range(pool, named, row.size)
        row = self._row_after_reclaim(conn, pool, now, fx, row, count)
        # rule R2, R10: the live leases of (owner, request id) come back as they are
        if request.request_id is not None:
            found = objects.by_request(conn, pool, request.request_id, request.owner, now)
            if found:
                self._served(conn, ticket, now, fx)
                return Grant(tuple(found), replayed=True)
        # rule R12: refused at once, never queued; counted in this step
        limit = row.policy.max_per_owner
        if (
            limit is not None
            and request.owner is not None
            and objects.owned(conn, pool, request.owner, now, limit) + count > limit
        ):
            raise quota_exceeded(pool, request.owner, limit)
        # rule R5: while anyone waits, only the head is granted
        if row.waiting or ticket is not None:
            head = self._live_head(conn, pool)
            if head is not None and (ticket is None or ticket.id != head[0]):
                raise exhausted(pool)
            if ticket is not None and head is None:
                # Its place is gone (the pool was deleted and made again).
                raise exhausted(pool)
        taking = Taking(conn, pool, row)
        if named is not None:
            self._check_named(conn, fx, pool, row, named, now)
            taking.named(named)
        elif request.contiguous and count > 1:
            taking.contiguous(count)
        else:
            taking.several(count, row.policy.reuse_first)
        taking.finish(row)
        granted = request if ttl == request.ttl else dataclasses.replace(request, ttl=ttl)
        tokens = objects.next_tokens(conn, pool, count)
        leases = [
            Lease.granted(granted, obj, token, now)
            for obj, token in zip(taking.taken, tokens, strict=True)
        ]
        objects.insert_leases(conn, leases)
        fx.journal.lease_events(conn, EventKind.GRANTED, now, leases, request.principal)
        self._served(conn, ticket, now, fx)
        return Grant(tuple(leases))

    def _check_named(
        self, conn: sqlite3.Connection, fx: Effects, pool: str, row: PoolRow, obj: int, now: float
    ) -> None:
        """Refuse a named object held or cooling (rule R11); reclaim it first if its
        lease expired, and free it if its cooling ended."""
        if objects.held(conn, pool, obj, now) is not None:
            raise object_held(pool, obj)
        objects.reclaim_one(conn, pool, row, obj, now, fx.journal)
        current = objects.pool_row(conn, pool)
        until = cooling.end_of(conn, pool, current, obj)
        if until is None:
            return
        if until > now:
            fx.cooled = fx.cooled or current.cooling > row.cooling
            raise object_cooling(pool, obj)
        objects.add_free(conn, pool, cooling.take_ended_one(conn, pool, current, obj, until))

    def _forget(self, ticket: Ticket) -> bool:
        """Drop `ticket` from this process's waiters; whether it was one."""
        self._room.leave(ticket)
        with self._lock:
            tickets = self._local.get(ticket.pool, set())
            known = ticket.id in tickets
            tickets.discard(ticket.id)
            if not tickets:
                self._local.pop(ticket.pool, None)
        return known

    def _served(
        self, conn: sqlite3.Connection, ticket: Ticket | None, now: float, fx: Effects
    ) -> None:
        """A ticket served leaves the queue; the next waiter is woken if something is left."""
        if ticket is not None and waiters.drop_ticket(conn, ticket.id) is not None:
            self._wake_head(conn, ticket.pool, objects.pool_row(conn, ticket.pool), now, fx)

    def _may_be_served(self, request: AcquireRequest, ticket: Ticket) -> bool:
        """Whether a woken waiter's try could succeed, or be refused otherwise than
        POOL_EXHAUSTED (it heads the queue and what it asks for is there, or its
        request id found its leases), asked without the write lock: a spurious
        wake-up costs a read, not a transaction."""
        with self._read() as conn:
            now = self._clock()
            row = objects.pool_row(conn, request.pool)
            policy, named = row.policy, request.obj
            # Refusals that go before the queue are the grant's to give (rules R10-R12).
            if (
                request.count > row.size
                or (named is not None and not 1 <= named <= row.size)
                or above_max_ttl(policy, request.ttl)
            ):
                return True
            if request.request_id is not None and objects.by_request(
                conn, request.pool, request.request_id, request.owner, now
            ):
                # A retry may find its leases granted to the first attempt meanwhile.
                return True
            limit = policy.max_per_owner
            if (
                limit is not None
                and request.owner is not None
                and objects.owned(conn, request.pool, request.owner, now, limit) + request.count
                > limit
            ):
                return True
            head = self._live_head(conn, request.pool)
            if head is None or head[0] != ticket.id:
                return False
            if request.obj is not None:
                # Its refusal, when its object is held, is OBJECT_HELD: the grant's to say.
                return True
            if request.count > 1:
                stats = objects.stats(conn, request.pool, row, now, 0)
                return stats.available >= request.count
            return objects.available(conn, request.pool, row, now)

    # rule R14 -------------------------------------------------------------
    def revoke(self, pool: str, which: RevokeFilter, principal: str | None = None) -> list[Lease]:
        revoked: list[Lease] = []
        after = 0
        while True:

            def change(
                conn: sqlite3.Connection, fx: Effects, after: int = after
            ) -> tuple[list[Lease], int, bool]:
                return self._revoke_batch(conn, fx, pool, which, principal, after)

            try:
                batch, after, done = self._transact(change)
            except PoolNotFound:
                if not revoked and after == 0:
                    raise
                break  # deleted between two batches: nothing is left to revoke
            revoked.extend(batch)
            if done:
                return revoked
        return revoked

    def _revoke_batch(
        self,
        conn: sqlite3.Connection,
        fx: Effects,
        pool: str,
        which: RevokeFilter,
        principal: str | None,
        after: int,
    ) -> tuple[list[Lease], int, bool]:
        """One bounded batch: the leases above `after` that the filter names (by
        its objects, or its owner's index, or the pool's), at most REVOKE_BATCH
        looked at; what it revoked, where the next batch starts, whether it was
        the last."""
        now = self._clock()
        row = self._row_after_reclaim(conn, pool, now, fx)
        params = {"pool": pool, "after": after, "now": now, "batch": REVOKE_BATCH}
        if which.objs is not None:
            wanted = sorted(obj for obj in which.objs if obj > after)[:REVOKE_BATCH]
            done = len(wanted) < REVOKE_BATCH
            marks = ", ".join("?" * len(wanted))
            rows = conn.execute(
                f"SELECT {LEASE_COLUMNS} FROM leases WHERE pool = ? AND obj IN ({marks}) "
                "AND (expires_at IS NULL OR expires_at > ?) ORDER BY obj",
                (pool, *wanted, now),
            ).fetchall()
            last = wanted[-1] if wanted else after
        else:
            owner = "owner = :owner AND " if which.owner is not None else ""
            scanned = conn.execute(
                f"SELECT {LEASE_COLUMNS}, {LIVE} FROM leases "
                f"WHERE {owner}pool = :pool AND obj > :after ORDER BY obj LIMIT :batch",
                {**params, "owner": which.owner},
            ).fetchall()
            done = len(scanned) < REVOKE_BATCH
            last = scanned[-1][1] if scanned else after
            rows = [found[:-1] for found in scanned if found[-1]]
        ended = [lease for lease in (Lease(*found) for found in rows) if which.matches(lease)]
        freed = 0
        for lease in ended:
            freed += objects.end_lease(conn, lease, objects.pool_row(conn, pool), now)
        fx.journal.lease_events(conn, EventKind.REVOKED, now, ended, principal, which.reason)
        if ended and row.policy.reuse_delay:
            fx.cooled = True
        if freed:
            self._wake_head(conn, pool, objects.pool_row(conn, pool), now, fx)
        return ended, last, done
