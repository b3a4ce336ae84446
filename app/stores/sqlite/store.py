"""`sqlite:///PATH`: the default store, shared by every worker on one host.

The data model is in `schema.py`. Every change is one `BEGIN IMMEDIATE`
transaction, which SQLite serialises across processes: two workers can never
grant the same object or token. Waiters are woken by the change that may
serve them, never by polling (`wake.py`), and so are the followers of a
pool's journal (`watchers.py`); expired leases are reclaimed in
bounded batches, `objects.RECLAIM_PER_WRITE` by each write to their pool and
the rest by a `waking.Reaper` in each process; pool counts are counters kept
by every change; a file that vanished or was replaced is refused (`guard.py`).
Grants and revocations are `granting.py`'s, which objects a grant takes
`taking.py`'s (over the runs of `runs.py`), cooling `cooling.py`'s and the
counts `counts.py`'s.
"""

from __future__ import annotations

import math
import sqlite3

from ...pool.errors import (
    PoolExists,
    PoolInUse,
    StoreUnavailable,
    out_of_range,
)
from ...pool.events import Event, EventKind
from ...pool.lease import Caller, Lease, PoolStats, check_release
from ...pool.policy import NO_POLICY, PoolPolicy, renewal_ttl
from ..base import Store, Ticket
from . import cooling, objects, waiters
from .core import Effects
from .granting import SQLiteGranting
from .objects import LEASE_COLUMNS, LIVE
from .rows import POLICY_COLUMNS, policy_values


class SQLiteStore(SQLiteGranting, Store):
    # pools --------------------------------------------------------------
    def ensure_pool(self, name: str, size: int) -> None:
        return self._transact(lambda conn, fx: self._ensure(conn, fx, name, size))

    def create_pool(
        self,
        name: str,
        size: int,
        principal: str | None = None,
        policy: PoolPolicy | None = None,
    ) -> PoolStats:
        def change(conn: sqlite3.Connection, fx: Effects) -> PoolStats:
            now = self._clock()
            try:
                conn.execute(
                    f"INSERT INTO pools (name, size, created_at, {', '.join(POLICY_COLUMNS)}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (name, size, now, *policy_values(policy or NO_POLICY)),
                )
            except sqlite3.IntegrityError:
                raise PoolExists(f"pool {name!r} exists already") from None
            fx.journal.pool_event(
                conn, name, EventKind.POOL_CREATED, now, principal=principal, size=size
            )
            # rule R12: a policy given is journaled after the pool's creation, in its step
            if policy is not None:
                fx.journal.pool_event(
                    conn,
                    name,
                    EventKind.POLICY_CHANGED,
                    now,
                    principal=principal,
                    reason=policy.to_json(),
                )
            return PoolStats(name, size, 0, size, 0, 0, policy or NO_POLICY)

        return self._transact(change)

    def set_policy(self, name: str, policy: PoolPolicy, principal: str | None = None) -> PoolStats:
        def change(conn: sqlite3.Connection, fx: Effects) -> PoolStats:
            now = self._clock()
            self._row_after_reclaim(conn, name, now, fx)
            # rule R12: replaced whole; held leases and cooling objects keep their ends
            conn.execute(
                f"UPDATE pools SET {', '.join(f'{column} = ?' for column in POLICY_COLUMNS)} "
                "WHERE name = ?",
                (*policy_values(policy), name),
            )
            fx.journal.pool_event(
                conn,
                name,
                EventKind.POLICY_CHANGED,
                now,
                principal=principal,
                reason=policy.to_json(),
            )
            row = objects.pool_row(conn, name)
            # A shorter reuse delay may have ended some objects' cooling.
            self._wake_head(conn, name, row, now, fx)
            return self._stats(conn, name, row, now)

        return self._transact(change)

    def resize_pool(self, name: str, size: int, principal: str | None = None) -> PoolStats:
        def change(conn: sqlite3.Connection, fx: Effects) -> PoolStats:
            now = self._clock()
            before = self._row_after_reclaim(conn, name, now, fx)
            objects.resize(conn, name, before, size)
            fx.journal.pool_event(
                conn, name, EventKind.POOL_RESIZED, now, principal=principal, size=size
            )
            row = objects.pool_row(conn, name)
            if size > before.size:
                self._wake_head(conn, name, row, now, fx)
            return self._stats(conn, name, row, now)

        return self._transact(change)

    def delete_pool(self, name: str, force: bool, principal: str | None = None) -> PoolStats:
        def change(conn: sqlite3.Connection, fx: Effects) -> PoolStats:
            now = self._clock()
            stats = self._stats(conn, name, self._row_after_reclaim(conn, name, now, fx), now)
            # rule R7: live leases need force; its waiters are woken to learn it is gone
            if stats.in_use and not force:
                raise PoolInUse(
                    f"pool {name!r} has {stats.in_use} leases held; "
                    "delete with force: true to drop them"
                )
            # Every process with waiters here tells them the pool is gone.
            for (address,) in conn.execute(
                "SELECT DISTINCT l.address FROM waiters w JOIN listeners l ON l.id = w.listener "
                "WHERE w.pool = ?",
                (name,),
            ).fetchall():
                fx.wakes.add((name, bytes(address)))
            # rule R3: `fencing` keeps the pool's token counter
            for table, column in (
                ("leases", "pool"),
                ("expiries", "pool"),
                ("free_objects", "pool"),
                ("free_runs", "pool"),
                ("skips", "pool"),
                ("cooling", "pool"),
                ("cooling_ends", "pool"),
                ("waiters", "pool"),
                ("pools", "name"),
            ):
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))
            # rule R9: the journal and its counter stay, as the token counter does
            fx.journal.pool_event(
                conn,
                name,
                EventKind.POOL_DELETED,
                now,
                principal=principal,
                reason="forced" if stats.in_use else None,
            )
            return stats

        return self._transact(change)

    def pool(self, name: str) -> PoolStats | None:
        with self._read() as conn:
            found = self._counted(conn, self._clock(), name=name)
        return found[0] if found else None

    def pools(self, first: int, after: str) -> list[PoolStats]:
        with self._read() as conn:
            return self._counted(conn, self._clock(), after=after, first=first)

    # leases -------------------------------------------------------------
    def leases(self, pool: str, first: int, after: int, owner: str | None = None) -> list[Lease]:
        # rule R15: one owner's are one range of the (owner, pool, obj) index
        mine = "owner = :owner AND " if owner is not None else ""
        with self._read() as conn:
            objects.pool_row(conn, pool)
            rows = conn.execute(
                f"SELECT {LEASE_COLUMNS} FROM leases WHERE {mine}pool = :pool AND obj > :after "
                f"AND {LIVE} ORDER BY obj LIMIT :first",
                {
                    "pool": pool,
                    "after": after,
                    "first": first,
                    "now": self._clock(),
                    "owner": owner,
                },
            ).fetchall()
            return [Lease(*row) for row in rows]

    def owner_leases(self, owner: str, first: int) -> list[Lease]:
        # rule R15: one range of the (owner, pool, obj) index, over the pools it holds in
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {LEASE_COLUMNS} FROM leases WHERE owner = :owner AND {LIVE} "
                "ORDER BY pool, obj LIMIT :first",
                {"owner": owner, "first": first, "now": self._clock()},
            ).fetchall()
            return [Lease(*row) for row in rows]

    def lease(self, pool: str, obj: int) -> Lease | None:
        with self._read() as conn:
            row = objects.pool_row(conn, pool)
            lease = objects.held(conn, pool, obj, self._clock())
            if lease is None and not 1 <= obj <= row.size:
                raise out_of_range(pool, obj, row.size)
            return lease

    def free(self, pool: str, obj: int, caller: Caller, token: int | None) -> int:
        def change(conn: sqlite3.Connection, fx: Effects) -> int:
            now = self._clock()
            row, lease = self._held(conn, pool, obj, now, fx)
            check_release(lease, caller, token)
            objects.put_free(conn, lease, row.size, now)
            fx.journal.lease_event(conn, EventKind.FREED, now, lease, caller.principal)
            if obj <= row.size:
                self._wake_head(conn, pool, objects.pool_row(conn, pool), now, fx)
            return obj

        return self._transact(change)

    def renew(self, pool: str, obj: int, token: int, caller: Caller, ttl: float | None) -> Lease:
        def change(conn: sqlite3.Connection, fx: Effects) -> Lease:
            now = self._clock()
            row, lease = self._held(conn, pool, obj, now, fx)
            check_release(lease, caller, token)
            # rule R12: the policy's TTL, refused above max_ttl after rule R8's refusals
            renewed = lease.renewed(now, renewal_ttl(row.policy, lease.ttl, ttl))
            objects.renew(conn, lease, renewed)
            fx.journal.lease_event(conn, EventKind.RENEWED, now, renewed, caller.principal)
            return renewed

        renewed = self._transact(change)
        self._expires(renewed)
        return renewed

    # waiting ------------------------------------------------------------
    def join_queue(self, pool: str) -> Ticket:
        address = self._listener.address()

        def change(conn: sqlite3.Connection, fx: Effects) -> tuple[Ticket, int]:
            objects.pool_row(conn, pool)
            listener = waiters.register(conn, self._listener_id, address, self._liveness.me())
            # Processes that died with waiters are forgotten here, as well as by the reaper.
            self._sweep(conn, fx)
            (ticket_id,) = conn.execute(
                "INSERT INTO waiters (pool, listener) VALUES (?, ?) RETURNING id", (pool, listener)
            ).fetchone()
            conn.execute("UPDATE pools SET waiting = waiting + 1 WHERE name = ?", (pool,))
            return Ticket(pool, ticket_id), listener

        ticket, self._listener_id = self._transact(change)
        with self._lock:
            self._local.setdefault(pool, set()).add(ticket.id)
        self._room.enter(ticket)
        return ticket

    def leave_queue(self, ticket: Ticket) -> None:
        if not self._forget(ticket):
            return  # served, or gone with its pool and told so

        def change(conn: sqlite3.Connection, fx: Effects) -> bool:
            pool = waiters.drop_ticket(conn, ticket.id)
            row = objects.find_pool_row(conn, ticket.pool)
            if pool is not None and row is not None:
                self._wake_head(conn, ticket.pool, row, self._clock(), fx)
            return row is not None

        try:
            pool_exists = self._transact(change)
        except StoreUnavailable:
            # Not an error of the request that waited: its row goes with the next sweep.
            self._orphans.add(ticket.id)
            self._reaper.soon()
            return
        if not pool_exists:
            # The next of this process's waiters of a deleted pool learns it now.
            self._room.changed(ticket.pool)

    def wait_until_woken(self, ticket: Ticket, timeout: float) -> bool:
        return self._room.wait(ticket, timeout)

    def _head(self, pool: str) -> int | None:
        """The oldest live waiter of `pool`, for the wait room; one indexed read.

        For a pool that is gone, one of this process's own waiters of it, so
        that it tries, learns `POOL_NOT_FOUND`, and leaves.
        """
        with self._look() as conn:
            head = self._live_head(conn, pool)
            if head is not None:
                return head[0]
            with self._lock:
                local = sorted(self._local.get(pool, ()))
            if local and objects.find_pool_row(conn, pool) is None:
                return local[0]
            return None

    # reclaiming ---------------------------------------------------------
    def _reap(self, limit: int) -> float | None:
        """The reaper's round: forget dead waiters, reclaim at most `limit` expired
        leases in a transaction of their own; seconds until the next expiry."""
        try:
            return self._reap_round(limit)
        except StoreUnavailable:
            if self._closed:
                return None
            raise

    def _reap_round(self, limit: int) -> float | None:
        if self._closed:
            return None
        self._unwatch_idle()
        if self._sweep_due or self._orphans:
            self._sweep_due = False
            try:
                self._commit(self._sweep)
            except StoreUnavailable:
                self._sweep_due = True
                raise
        now = self._clock()
        with self._look() as conn:
            (next_expiry,) = conn.execute(
                "SELECT min(expires_at) FROM leases WHERE expires_at IS NOT NULL"
            ).fetchone()
            # rule R13: cooled objects go back to the free order by the same rounds
            next_end = cooling.next_end(conn)
        ends = [at for at in (next_expiry, next_end) if at is not None]
        if not ends or min(ends) > now:
            self._reap_at = min(ends, default=math.inf)
            return None if not ends else min(ends) - now

        def change(conn: sqlite3.Connection, fx: Effects) -> int:
            freed = objects.reclaim_oldest(conn, now, limit, fx.journal)
            for pool, count in objects.move_cooled_oldest(conn, now, limit).items():
                freed[pool] = freed.get(pool, 0) + count
            for pool, count in freed.items():
                row = objects.find_pool_row(conn, pool) if count else None
                if row is not None:
                    self._wake_head(conn, pool, row, now, fx)
            return sum(freed.values())

        self._commit(change)
        return 0.0

    def _sweep(self, conn: sqlite3.Connection, fx: Effects) -> None:
        """Remove the waiters of dead processes and this process's orphaned tickets."""
        pools = waiters.drop_listeners(conn, self._liveness.dead(conn))
        orphans, self._orphans = self._orphans, set()
        for ticket in orphans:
            pool = waiters.drop_ticket(conn, ticket)
            if pool is not None:
                pools.add(pool)
        now = self._clock()
        for pool in pools:
            row = objects.find_pool_row(conn, pool)
            if row is not None:
                self._wake_head(conn, pool, row, now, fx)

    # the journal (rule R9) ---------------------------------------------
    def events(self, pool: str, after: int, first: int) -> list[Event]:
        return self._events(pool, after, first)

    # health -------------------------------------------------------------
    def ping(self) -> None:
        with self._look() as conn:
            conn.execute("SELECT 1 FROM pools LIMIT 1").fetchone()

    def check_ready(self) -> None:
        """A real write through the committer (so the file is there, is ours and takes
        a COMMIT), and room on its disk for the next ones. It writes the `health`
        row only: on a service's first start the writer's connection makes the
        file and its tables, never a pool."""
        with self._unavailable_on_error():
            self._guard.check_room()
        self._commit(
            lambda conn, fx: conn.execute(
                "INSERT INTO health (id, checked_at) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                (self._clock(),),
            )
        )
        self.ping()
