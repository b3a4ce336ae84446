"""The SQLite store's connections, transactions and the helpers its operations share.

Writes go through the group committer (one `BEGIN IMMEDIATE` transaction per
batch, checked by the guard before its COMMIT); each change records the
waiters to wake and the watchers of the pools it wrote events to
(`watchers.py`), and they are woken only once it is durable. Reads use one
connection per process, checked against the file at the path each time.

Opening: the writer's connection makes the file on a service's first start
(`guard.py` says when it may), makes or migrates its tables (`schema.py`)
and claims its id, every time it connects; `open()` connects it and makes
the default pool. Operations open the store first if that has not happened
yet; `ping` and `check_ready` never do, and a reader never writes: a file
not made yet, or not yet of this version's layout, is refused.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from ...pool.errors import (
    StoreUnavailable,
    not_allocated,
    out_of_range,
)
from ...pool.events import DEFAULT_EVENTS_KEEP, Event, EventKind
from ...pool.lease import Lease, PoolStats
from ..group_commit import CommitRefused, GroupCommitter
from ..waking import Bell, Reaper, WaitRoom
from . import objects, schema, waiters, watchers
from .guard import DatabaseGuard, FileIdentity
from .journal import Journal
from .rows import PoolRow
from .wake import Listener

T = TypeVar("T")
log = logging.getLogger("app.stores.sqlite")

#: Expired leases the reaper reclaims per transaction. Each is an EXPIRED event
#: too (rule R9): a batch this size holds the write lock, which acquires wait
#: for during a mass expiry, for a few milliseconds.
REAP_BATCH = 250


class Effects:
    """What a change asks for once it committed: the listeners to wake, per pool,
    the events it wrote (rule R9), told to the store's listeners, and the other
    processes' watchers of the pools it wrote them to."""

    __slots__ = ("cooled", "journal", "wakes", "watchers")

    def __init__(self) -> None:
        self.wakes: set[tuple[str, bytes]] = set()
        self.journal = Journal()
        self.watchers: list[watchers.Watcher] = []
        # Objects began cooling: the reaper looks again at the next end (rule R13).
        self.cooled = False


Change = Callable[[sqlite3.Connection, Effects], T]


class SQLiteCore:
    # `Store._published`, which the store mixes in beside this class.
    _published: Callable[[list[Event]], None]

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        default_pool: tuple[str, int] | None = None,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        reaper: bool = True,
        events_keep: int = DEFAULT_EVENTS_KEEP,
    ) -> None:
        """`reaper=False` leaves reclamation to the writes alone, a bounded batch each
        (benchmarks and tests measure them so). The journal keeps at least the last
        `events_keep` events of each pool (rule R9)."""
        self.path = Path(path)
        self._events_keep = events_keep
        self._default_pool = default_pool
        self._synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._clock = clock
        self._lock = threading.RLock()
        self._guard = DatabaseGuard(self.path)
        self._writer_file: FileIdentity | None = None
        self._reader_conn: sqlite3.Connection | None = None
        self._reader_file: FileIdentity | None = None
        self._reader_pid = 0
        self._opened = False
        self._closed = False
        self._failure: str | None = None
        self._committer = GroupCommitter(
            self._open_writer,
            self.path.with_name(self.path.name + ".lock"),
            before_commit=self._check_writer,
        )
        self._liveness = waiters.Liveness()
        self._room = WaitRoom(head=self._head)
        name = hashlib.sha256(str(self.path.absolute()).encode()).hexdigest()[:16]
        self._bell = Bell()
        self._following = watchers.Following()
        self._listener = Listener(name, self._woken)
        self._listener_id: int | None = None
        self._local: dict[str, set[int]] = {}
        self._orphans: set[int] = set()
        self._sweep_due = True
        self._reaper = Reaper(self._reap if reaper else _no_reaping, batch=REAP_BATCH)
        self._reap_at = math.inf

    # connections --------------------------------------------------------
    def _open_writer(self) -> sqlite3.Connection:
        # The committer made the folder already: its lock file lives beside the database.
        conn, opened = self._guard.connect(create=True, timeout=self._busy_timeout)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("BEGIN IMMEDIATE")
            schema.prepare(conn)
            database_id = self._guard.claim(conn)
            conn.execute("COMMIT")
            self._guard.opened(database_id)
        except BaseException:
            with suppress(sqlite3.Error):
                conn.close()
            raise
        self._writer_file = opened
        return conn

    def _check_writer(self) -> None:
        if self._writer_file is not None:
            self._guard.check(self._writer_file)

    def open(self) -> None:
        if self._opened:
            return

        def make_default(conn: sqlite3.Connection, fx: Effects) -> None:
            if self._default_pool is not None:
                self._ensure(conn, fx, *self._default_pool)

        self._commit(make_default)
        self._opened = True

    def _ensure(self, conn: sqlite3.Connection, fx: Effects, name: str, size: int) -> None:
        """Make the pool unless it exists; nobody asked for it, so no principal."""
        now = self._clock()
        # rule R7: an existing pool is left alone
        made = conn.execute(
            "INSERT INTO pools (name, size, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING RETURNING name",
            (name, size, now),
        ).fetchone()
        if made is not None:
            fx.journal.pool_event(
                conn, name, EventKind.POOL_CREATED, now, principal=None, size=size
            )

    def _ensure_open(self) -> None:
        if not self._opened:
            self.open()

    def _reader(self) -> sqlite3.Connection:
        # A connection must not cross a fork: gunicorn workers each open their own.
        if self._reader_conn is None or self._reader_pid != os.getpid():
            conn, opened = self._guard.connect(create=False, timeout=self._busy_timeout)
            try:
                conn.execute("PRAGMA query_only=1")
                (layout,) = conn.execute("PRAGMA user_version").fetchone()
                self._guard.check_layout(layout, schema.VERSION)
                row = conn.execute("SELECT value FROM meta WHERE key = 'database_id'").fetchone()
                self._guard.check_same(None if row is None else row[0])
            except BaseException:
                conn.close()
                raise
            self._reader_conn, self._reader_file, self._reader_pid = conn, opened, os.getpid()
        assert self._reader_file is not None
        self._guard.check(self._reader_file)
        return self._reader_conn

    def _transact(self, change: Change[T]) -> T:
        """An operation's write: on an opened store, as `_commit`."""
        self._ensure_open()
        return self._commit(change)

    def _commit(self, change: Change[T]) -> T:
        """Run `change` in a write transaction; answer once it is durable, then wake
        and tell the listeners, in the calling thread (rule R9)."""
        if self._closed:
            raise StoreUnavailable("the SQLite store is closed")
        effects = Effects()
        keep = self._events_keep

        def journaled(conn: sqlite3.Connection) -> T:
            # In the change's own SAVEPOINT: its trim is undone with it.
            result = change(conn, effects)
            pools = effects.journal.pools()
            if pools:
                effects.watchers = watchers.of_pools(conn, pools, self._following.own())
            effects.journal.trim(conn, keep)
            return result

        with self._unavailable_on_error():
            result = self._committer.run(journaled)
        self._reaper.start()
        for pool, address in effects.wakes:
            self._listener.send(address, pool)
        events = effects.journal.events()
        if events:
            for pool in {event.pool for event in events}:
                self._bell.ring(pool)
            if effects.watchers and watchers.tell(effects.watchers, self._listener, self._liveness):
                self._sweep_due = True
                self._reaper.soon()
        if effects.cooled:
            self._reaper.soon()
        self._published(events)
        return result

    def _woken(self, pool: str) -> None:
        """A datagram named `pool`: its journal got events, or its queue may move."""
        self._bell.ring(pool)
        self._room.changed(pool)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """An operation's read: on an opened store, as `_look`."""
        self._ensure_open()
        with self._look() as conn:
            yield conn

    @contextmanager
    def _look(self) -> Iterator[sqlite3.Connection]:
        """A read that writes nothing, on the reader's connection."""
        with self._lock, self._unavailable_on_error():
            if self._closed:
                raise StoreUnavailable("the SQLite store is closed")
            yield self._reader()

    @contextmanager
    def _unavailable_on_error(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError, CommitRefused) as error:
            # Clients learn that the store failed; only the log learns the path, once.
            if str(error) != self._failure:
                self._failure = str(error)
                log.error("SQLite store %s: %s", self.path, error)
            self._drop_reader()
            raise StoreUnavailable(
                "the SQLite store cannot be used right now; the server log says why"
            ) from error
        self._failure = None

    def _drop_reader(self) -> None:
        with self._lock:
            if self._reader_conn is not None and self._reader_pid == os.getpid():
                with suppress(sqlite3.Error):
                    self._reader_conn.close()
            self._reader_conn = None

    def close(self) -> None:
        if self._listener_id is not None and not self._closed:
            with suppress(StoreUnavailable):
                listener = self._listener_id
                self._commit(lambda conn, fx: waiters.drop_listeners(conn, [listener]))
        self._closed = True
        self._reaper.close()
        self._room.close()
        self._listener.close()
        with self._lock:
            self._drop_reader()
        self._committer.close()

    # helpers ------------------------------------------------------------
    def _row_after_reclaim(
        self,
        conn: sqlite3.Connection,
        pool: str,
        now: float,
        fx: Effects,
        row: PoolRow | None = None,
        wanted: int = 0,
    ) -> PoolRow:
        """The pool's row once a bounded batch of its expired leases is reclaimed
        and one of its cooled objects freed; for a grant of `wanted` objects, a
        batch of at least that many."""
        if row is None:
            row = objects.pool_row(conn, pool)
        limit = max(objects.RECLAIM_PER_WRITE, wanted)
        # rule R4: every change reclaims before it reads or grants
        reclaimed, freed = objects.reclaim(conn, pool, row, now, limit, fx.journal)
        cools = bool(row.cooling or row.policy.reuse_delay)
        if reclaimed or cools:
            current = objects.pool_row(conn, pool)
            fx.cooled = fx.cooled or current.cooling > row.cooling
            # rule R13: and frees a bounded batch of the objects whose cooling ended
            moved = objects.move_cooled(conn, pool, current, now, limit)
            row = objects.pool_row(conn, pool) if moved else current
            freed += moved
        if freed:
            self._wake_head(conn, pool, row, now, fx)
        return row

    def _wake_head(
        self, conn: sqlite3.Connection, pool: str, row: PoolRow, now: float, fx: Effects
    ) -> None:
        """Have the head of `pool`'s queue woken after COMMIT, if it can be served (rule R5)."""
        if row.waiting and objects.available(conn, pool, row, now):
            head = self._live_head(conn, pool)
            if head is not None:
                fx.wakes.add((pool, head[1]))

    def _live_head(self, conn: sqlite3.Connection, pool: str) -> tuple[int, bytes] | None:
        dead: list[int] = []
        head = waiters.live_head(conn, pool, self._liveness, dead)
        if dead:
            self._sweep_due = True
            self._reaper.soon()
        return head

    def _held(
        self, conn: sqlite3.Connection, pool: str, obj: int, now: float, fx: Effects
    ) -> tuple[PoolRow, Lease]:
        row = self._row_after_reclaim(conn, pool, now, fx)
        lease = objects.held(conn, pool, obj, now)
        # rule R8: no live lease is OUT_OF_RANGE, else NOT_ALLOCATED
        if lease is None:
            if not 1 <= obj <= row.size:
                raise out_of_range(pool, obj, row.size)
            raise not_allocated(pool, obj)
        return row, lease

    def _stats(self, conn: sqlite3.Connection, name: str, row: PoolRow, now: float) -> PoolStats:
        """A pool's counts inside a write transaction (which sees one snapshot)."""
        return objects.stats(conn, name, row, now, self._waiting(conn, name, row, None))

    def _counted(
        self,
        conn: sqlite3.Connection,
        now: float,
        *,
        name: str | None = None,
        after: str = "",
        first: int = 1,
    ) -> list[PoolStats]:
        """Pools' counts outside a write transaction, their rows and expiry counts
        read in one statement (`objects.counted_pools`)."""
        counted = objects.counted_pools(conn, now, name=name, after=after, first=first)
        dead = self._liveness.dead(conn) if any(row.waiting for _, row, _ in counted) else []
        return [
            objects.counted_stats(pool, row, counts, self._waiting(conn, pool, row, dead))
            for pool, row, counts in counted
        ]

    def _waiting(
        self, conn: sqlite3.Connection, name: str, row: PoolRow, dead: list[int] | None
    ) -> int:
        if dead is None:
            dead = self._liveness.dead(conn) if row.waiting else []
        return waiters.waiting_of(conn, name, row.waiting, dead)

    def _head(self, pool: str) -> int | None:
        """The ticket id heading `pool`'s queue, for the wait room (the store's own)."""
        raise NotImplementedError

    def _reap(self, limit: int) -> float | None:
        """One round of the reaper (the store's own)."""
        raise NotImplementedError

    def _expires(self, lease: Lease) -> None:
        # The reaper sleeps until the next expiry it knows of: tell it of an earlier one.
        if lease.expires_at is not None and lease.expires_at < self._reap_at:
            self._reap_at = lease.expires_at
            self._reaper.soon()


def _no_reaping(limit: int) -> None:
    return None
