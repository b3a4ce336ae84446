"""`sqlite:///PATH`: the default store, shared by every worker on one host.

Data model (one file, WAL journal):

    pools(name PK, size, next_fresh, created_at)
        next_fresh: the lowest object never handed out; every object below it
        is either in `leases` or in `free_objects`, every object from it up
        has never been used, so a pool of any size costs one row.
    fencing(pool PK, last_token)
        The last token granted per pool name. Never deleted, not even with
        the pool, so tokens grow across restarts and re-creations.
    leases(pool, obj, token, owner, label, request_id, acquired_at,
           expires_at, ttl; PK (pool, obj))
        Held objects. A row whose expires_at has passed is reclaimed at the
        start of the next write to the pool and ignored by reads until then.
    free_objects(seq PK, pool, obj)
        Objects that were freed (or reclaimed), oldest first by seq. The
        index on (pool, seq) makes the next free object one index probe
        however many objects are held.
    waiters(id PK, pool, seen_at)
        Blocking acquires in arrival order. A waiter refreshes seen_at while
        it waits; one not seen for `WAITER_LIVENESS` seconds died and is
        skipped.

Every change is one `BEGIN IMMEDIATE` transaction, which SQLite serialises
across processes: two workers can never grant the same object or token.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from ..pool.errors import (
    PoolExists,
    PoolInUse,
    StoreUnavailable,
    exhausted,
    not_allocated,
    out_of_range,
    pool_not_found,
)
from ..pool.lease import AcquireRequest, Caller, Lease, PoolStats, check_release
from .base import Store, Ticket
from .group_commit import Change, GroupCommitter

T = TypeVar("T")
log = logging.getLogger(__name__)

WAITER_LIVENESS = 1.0
WAITER_HEARTBEAT = 0.2

SCHEMA = """
CREATE TABLE IF NOT EXISTS pools (
    name TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    next_fresh INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fencing (
    pool TEXT PRIMARY KEY,
    last_token INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    pool TEXT NOT NULL,
    obj INTEGER NOT NULL,
    token INTEGER NOT NULL,
    owner TEXT,
    label TEXT,
    request_id TEXT,
    acquired_at REAL NOT NULL,
    expires_at REAL,
    ttl REAL,
    PRIMARY KEY (pool, obj)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS leases_by_expiry ON leases (pool, expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS leases_by_request ON leases (pool, request_id)
    WHERE request_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS free_objects (
    seq INTEGER PRIMARY KEY,
    pool TEXT NOT NULL,
    obj INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS free_objects_fifo ON free_objects (pool, seq);
CREATE TABLE IF NOT EXISTS waiters (
    id INTEGER PRIMARY KEY,
    pool TEXT NOT NULL,
    seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS waiters_by_pool ON waiters (pool, id);
"""

LEASE_COLUMNS = "pool, obj, token, owner, label, acquired_at, expires_at, ttl, request_id"
LIVE = "(expires_at IS NULL OR expires_at > :now)"


class SQLiteStore(Store):
    poll_interval = 0.025

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        default_pool: tuple[str, int] | None = None,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self._default_pool = default_pool
        self._synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._clock = clock
        self._lock = threading.RLock()
        self._reader_conn: sqlite3.Connection | None = None
        self._reader_pid = 0
        self._schema_ready = False
        self._committer = GroupCommitter(
            self._open_writer, self.path.with_name(self.path.name + ".lock")
        )
        self._heartbeats: dict[int, float] = {}

    # connections --------------------------------------------------------
    def _open_writer(self) -> sqlite3.Connection:
        # The committer made the folder already: its lock file lives beside the database.
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
            if self._default_pool is not None:
                name, size = self._default_pool
                conn.execute(
                    "INSERT INTO pools (name, size, created_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO NOTHING",
                    (name, size, self._clock()),
                )
        except BaseException:
            conn.close()
            raise
        return conn

    def _reader(self) -> sqlite3.Connection:
        # A connection must not cross a fork: gunicorn workers each open their own.
        if self._reader_conn is None or self._reader_pid != os.getpid():
            if not self._schema_ready:
                self._transact(lambda conn: None)
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA query_only=1")
            self._reader_conn, self._reader_pid = conn, os.getpid()
        return self._reader_conn

    def _transact(self, change: Change[T]) -> T:
        """Run `change` in a write transaction; answer once it is durable."""
        with self._unavailable_on_error():
            result = self._committer.run(change)
        self._schema_ready = True
        return result

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._unavailable_on_error():
            yield self._reader()

    @contextmanager
    def _unavailable_on_error(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as error:
            # Clients learn that the store failed; only the log learns the path.
            log.warning("SQLite store %s: %s", self.path, error)
            self._drop_reader()
            raise StoreUnavailable(
                "the SQLite store cannot be used right now; the server log says why"
            ) from error

    def _drop_reader(self) -> None:
        if self._reader_conn is not None and self._reader_pid == os.getpid():
            with suppress(sqlite3.Error):
                self._reader_conn.close()
        self._reader_conn = None

    def close(self) -> None:
        with self._lock:
            self._drop_reader()
        self._committer.close()

    # helpers ------------------------------------------------------------
    @staticmethod
    def _size(conn: sqlite3.Connection, pool: str) -> tuple[int, int]:
        row = conn.execute("SELECT size, next_fresh FROM pools WHERE name = ?", (pool,)).fetchone()
        if row is None:
            raise pool_not_found(pool)
        return row[0], row[1]

    def _settle(
        self, conn: sqlite3.Connection, pool: str, now: float
    ) -> tuple[int, int, int | None]:
        """Size, next fresh object and oldest live waiter of `pool`, once its
        expired leases are reclaimed; one query when nothing expired."""
        row = conn.execute(
            "SELECT size, next_fresh, "
            "  (SELECT min(id) FROM waiters WHERE pool = :pool AND seen_at > :alive), "
            "  EXISTS (SELECT 1 FROM leases WHERE pool = :pool AND expires_at <= :now) "
            "FROM pools WHERE name = :pool",
            {"pool": pool, "now": now, "alive": now - WAITER_LIVENESS},
        ).fetchone()
        if row is None:
            raise pool_not_found(pool)
        size, next_fresh, head, has_expired = row
        if has_expired:
            self._reclaim(conn, pool, now)
        return size, next_fresh, head

    def _reclaim(self, conn: sqlite3.Connection, pool: str, now: float) -> None:
        expired = conn.execute(
            "DELETE FROM leases WHERE pool = ? AND expires_at <= ? RETURNING obj, expires_at",
            (pool, now),
        ).fetchall()
        # RETURNING gives no order: queue them by when they expired.
        for obj, _ in sorted(expired, key=lambda row: (row[1], row[0])):
            conn.execute("INSERT INTO free_objects (pool, obj) VALUES (?, ?)", (pool, obj))

    @staticmethod
    def _lease(row: tuple) -> Lease:
        return Lease(*row)

    def _held(self, conn: sqlite3.Connection, pool: str, obj: int, now: float) -> Lease:
        size, _, _ = self._settle(conn, pool, now)
        row = conn.execute(
            f"SELECT {LEASE_COLUMNS} FROM leases WHERE pool = ? AND obj = ?", (pool, obj)
        ).fetchone()
        if row is None:
            if not 1 <= obj <= size:
                raise out_of_range(pool, obj, size)
            raise not_allocated(pool, obj)
        return self._lease(row)

    def _stats(self, conn: sqlite3.Connection, name: str, size: int, now: float) -> PoolStats:
        in_use, below_size = conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE obj <= :size) FROM leases "
            f"WHERE pool = :pool AND {LIVE}",
            {"pool": name, "size": size, "now": now},
        ).fetchone()
        (waiting,) = conn.execute(
            "SELECT count(*) FROM waiters WHERE pool = ? AND seen_at > ?",
            (name, now - WAITER_LIVENESS),
        ).fetchone()
        return PoolStats(name, size, in_use, size - below_size, waiting)

    # pools --------------------------------------------------------------
    def ensure_pool(self, name: str, size: int) -> None:
        def change(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO pools (name, size, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (name, size, self._clock()),
            )

        return self._transact(change)

    def create_pool(self, name: str, size: int) -> PoolStats:
        def change(conn: sqlite3.Connection) -> PoolStats:
            now = self._clock()
            try:
                conn.execute(
                    "INSERT INTO pools (name, size, created_at) VALUES (?, ?, ?)",
                    (name, size, now),
                )
            except sqlite3.IntegrityError:
                raise PoolExists(f"pool {name!r} exists already") from None
            return PoolStats(name, size, 0, size, 0)

        return self._transact(change)

    def resize_pool(self, name: str, size: int) -> PoolStats:
        def change(conn: sqlite3.Connection) -> PoolStats:
            now = self._clock()
            self._settle(conn, name, now)
            conn.execute("UPDATE pools SET size = ? WHERE name = ?", (size, name))
            return self._stats(conn, name, size, now)

        return self._transact(change)

    def delete_pool(self, name: str, force: bool) -> PoolStats:
        def change(conn: sqlite3.Connection) -> PoolStats:
            now = self._clock()
            size, _, _ = self._settle(conn, name, now)
            stats = self._stats(conn, name, size, now)
            if stats.in_use and not force:
                raise PoolInUse(
                    f"pool {name!r} has {stats.in_use} leases held; "
                    "delete with force: true to drop them"
                )
            for table, column in (
                ("leases", "pool"),
                ("free_objects", "pool"),
                ("waiters", "pool"),
                ("pools", "name"),
            ):
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))
            return stats

        return self._transact(change)

    def pool(self, name: str) -> PoolStats | None:
        with self._read() as conn:
            row = conn.execute("SELECT size FROM pools WHERE name = ?", (name,)).fetchone()
            return None if row is None else self._stats(conn, name, row[0], self._clock())

    def pools(self, first: int, after: str) -> list[PoolStats]:
        with self._read() as conn:
            now = self._clock()
            rows = conn.execute(
                "SELECT name, size FROM pools WHERE name > ? ORDER BY name LIMIT ?", (after, first)
            ).fetchall()
            return [self._stats(conn, name, size, now) for name, size in rows]

    # leases -------------------------------------------------------------
    def leases(self, pool: str, first: int, after: int) -> list[Lease]:
        with self._read() as conn:
            self._size(conn, pool)
            rows = conn.execute(
                f"SELECT {LEASE_COLUMNS} FROM leases WHERE pool = :pool AND obj > :after "
                f"AND {LIVE} ORDER BY obj LIMIT :first",
                {"pool": pool, "after": after, "first": first, "now": self._clock()},
            ).fetchall()
            return [self._lease(row) for row in rows]

    def lease(self, pool: str, obj: int) -> Lease | None:
        with self._read() as conn:
            size, _ = self._size(conn, pool)
            row = conn.execute(
                f"SELECT {LEASE_COLUMNS} FROM leases WHERE pool = :pool AND obj = :obj AND {LIVE}",
                {"pool": pool, "obj": obj, "now": self._clock()},
            ).fetchone()
            if row is None and not 1 <= obj <= size:
                raise out_of_range(pool, obj, size)
            return None if row is None else self._lease(row)

    def acquire(self, request: AcquireRequest, ticket: Ticket | None = None) -> Lease:
        if ticket is not None and not self._worth_a_write(request, ticket):
            raise exhausted(request.pool)

        def change(conn: sqlite3.Connection) -> Lease:
            now = self._clock()
            pool = request.pool
            size, next_fresh, head = self._settle(conn, pool, now)
            if request.request_id is not None:
                row = conn.execute(
                    f"SELECT {LEASE_COLUMNS} FROM leases "
                    "WHERE pool = ? AND request_id = ? AND owner IS ?",
                    (pool, request.request_id, request.owner),
                ).fetchone()
                if row is not None:
                    self._remove_ticket(conn, ticket)
                    return self._lease(row)
            if head is not None and (ticket is None or ticket.id != head):
                raise exhausted(pool)
            if next_fresh <= size:
                obj = next_fresh
                conn.execute("UPDATE pools SET next_fresh = ? WHERE name = ?", (obj + 1, pool))
            else:
                row = conn.execute(
                    "SELECT seq, obj FROM free_objects WHERE pool = ? AND obj <= ? "
                    "ORDER BY seq LIMIT 1",
                    (pool, size),
                ).fetchone()
                if row is None:
                    raise exhausted(pool)
                conn.execute("DELETE FROM free_objects WHERE seq = ?", (row[0],))
                obj = row[1]
            (token,) = conn.execute(
                "INSERT INTO fencing (pool, last_token) VALUES (?, 1) ON CONFLICT (pool) "
                "DO UPDATE SET last_token = last_token + 1 RETURNING last_token",
                (pool,),
            ).fetchone()
            lease = Lease.granted(request, obj, token, now)
            conn.execute(
                f"INSERT INTO leases ({LEASE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pool,
                    obj,
                    token,
                    lease.owner,
                    lease.label,
                    lease.acquired_at,
                    lease.expires_at,
                    lease.ttl,
                    lease.request_id,
                ),
            )
            self._remove_ticket(conn, ticket)
            return lease

        return self._transact(change)

    def _worth_a_write(self, request: AcquireRequest, ticket: Ticket) -> bool:
        """Whether a waiter's next try could succeed, asked without a write lock.

        Waiters poll; this keeps their polls from queueing behind writers.
        A waiter that is not worth a write still refreshes its heartbeat now
        and then, so that others do not take it for dead.
        """
        with self._read() as conn:
            now = self._clock()
            row = conn.execute(
                "SELECT p.size, p.next_fresh, "
                "  (SELECT min(id) FROM waiters WHERE pool = p.name AND seen_at > :alive), "
                "  EXISTS (SELECT 1 FROM free_objects WHERE pool = p.name AND obj <= p.size), "
                "  EXISTS (SELECT 1 FROM leases WHERE pool = p.name AND expires_at <= :now), "
                "  EXISTS (SELECT 1 FROM leases WHERE pool = p.name AND request_id = :request "
                "          AND owner IS :owner) "
                "FROM pools p WHERE p.name = :pool",
                {
                    "pool": request.pool,
                    "now": now,
                    "alive": now - WAITER_LIVENESS,
                    "request": request.request_id,
                    "owner": request.owner,
                },
            ).fetchone()
        if row is None:
            raise pool_not_found(request.pool)
        if now - self._heartbeats.get(ticket.id, 0.0) >= WAITER_HEARTBEAT:
            self._heartbeats[ticket.id] = now
            self._transact(
                lambda conn: conn.execute(
                    "UPDATE waiters SET seen_at = ? WHERE id = ?", (now, ticket.id)
                )
            )
        size, next_fresh, head, has_free, has_expired, granted_to_request = row
        # A retry may find its lease granted to the first attempt meanwhile.
        return bool(granted_to_request) or (
            head in (None, ticket.id) and (next_fresh <= size or has_free or has_expired)
        )

    def _remove_ticket(self, conn: sqlite3.Connection, ticket: Ticket | None) -> None:
        if ticket is not None:
            conn.execute("DELETE FROM waiters WHERE id = ?", (ticket.id,))
            self._heartbeats.pop(ticket.id, None)

    def free(self, pool: str, obj: int, caller: Caller, token: int | None) -> int:
        def change(conn: sqlite3.Connection) -> int:
            lease = self._held(conn, pool, obj, self._clock())
            check_release(lease, caller, token)
            conn.execute("DELETE FROM leases WHERE pool = ? AND obj = ?", (pool, obj))
            conn.execute("INSERT INTO free_objects (pool, obj) VALUES (?, ?)", (pool, obj))
            return obj

        return self._transact(change)

    def renew(self, pool: str, obj: int, token: int, caller: Caller, ttl: float | None) -> Lease:
        def change(conn: sqlite3.Connection) -> Lease:
            now = self._clock()
            lease = self._held(conn, pool, obj, now)
            check_release(lease, caller, token)
            renewed = lease.renewed(now, ttl)
            conn.execute(
                "UPDATE leases SET expires_at = ?, ttl = ? WHERE pool = ? AND obj = ?",
                (renewed.expires_at, renewed.ttl, pool, obj),
            )
            return renewed

        return self._transact(change)

    # waiting ------------------------------------------------------------
    def join_queue(self, pool: str) -> Ticket:
        def change(conn: sqlite3.Connection) -> Ticket:
            now = self._clock()
            self._size(conn, pool)
            # Waiters dead for long are forgotten here rather than by a sweeper.
            conn.execute(
                "DELETE FROM waiters WHERE pool = ? AND seen_at < ?",
                (pool, now - 10 * WAITER_LIVENESS),
            )
            (ticket_id,) = conn.execute(
                "INSERT INTO waiters (pool, seen_at) VALUES (?, ?) RETURNING id", (pool, now)
            ).fetchone()
            self._heartbeats[ticket_id] = now
            return Ticket(pool, ticket_id)

        return self._transact(change)

    def leave_queue(self, ticket: Ticket) -> None:
        def change(conn: sqlite3.Connection) -> None:
            self._remove_ticket(conn, ticket)

        return self._transact(change)

    def wait_for_change(self, ticket: Ticket, timeout: float) -> bool:
        # SQLite cannot notify another process, so waiters poll.
        time.sleep(min(timeout, self.poll_interval))
        return True

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute("SELECT count(*) FROM pools").fetchone()
