"""Group commit for SQLite: the changes that arrive while one transaction is
being made durable go into the next transaction together, so one fsync
serves them all and every caller is answered only after its COMMIT.

Why: with `synchronous=FULL` each COMMIT waits for the disk, and a worker
that commits one change at a time spends most of its time there. Under
gevent the two waits, for another process's write lock and for the fsync of
COMMIT, happen on a native thread, so the worker's other requests keep being
served (and queue up for the next batch) meanwhile.

The queueing, the lead and the hand-over are `batching.Batcher`'s; what is
SQLite's is the executor: one transaction per batch, one SAVEPOINT per change.

Writers of every process take an `flock` on a file beside the database
before `BEGIN IMMEDIATE`: the kernel wakes the next writer as soon as the
lock is free, where SQLite's own busy handler would sleep for milliseconds.
The batch takes in the queued changes only once it holds that lock, so the
changes that arrived while it waited share its transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from .batching import Batch, Batcher, gevent_patched

T = TypeVar("T")
Change = Callable[[sqlite3.Connection], T]


class CommitRefused(Exception):
    """Raised by a `before_commit` check: the batch is rolled back and the
    connection closed, so the next batch connects afresh."""


class GroupCommitter:
    """Runs changes in shared transactions, one change per SAVEPOINT.

    A change that raises is rolled back alone and its caller gets the
    exception; the other changes of the batch commit. A `sqlite3.Error` of
    the transaction itself fails the whole batch.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        lock_path: Path,
        before_commit: Callable[[], None] = lambda: None,
    ) -> None:
        """`before_commit` runs after a batch's changes, under the lock, before its
        COMMIT; it raises `CommitRefused` to have nothing of the batch acknowledged."""
        self._connect = connect
        self._lock_path = lock_path
        self._before_commit = before_commit
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._pid = 0
        self._closed = False
        # Held while a batch runs, so that `close` never pulls a connection from under it.
        self._running = threading.Lock()
        self._batcher: Batcher[Change[Any]] = Batcher(self._run_batch)

    def run(self, change: Change[T]) -> T:
        return cast(T, self._batcher.submit(change))

    def _run_batch(self, batch: Batch[Change[Any]]) -> None:
        if self._pid != os.getpid():
            # A lock held by a thread of the parent stays held in the child.
            self._running = threading.Lock()
        with self._running:
            if self._closed:
                raise CommitRefused("the store is closed")
            self._run_batch_now(batch)

    def _run_batch_now(self, batch: Batch[Change[Any]]) -> None:
        """Run the queued changes in one transaction; wait for the disk off the loop.

        Only the two waits leave the event loop (for another process's write
        lock, and for the COMMIT's fsync): the statements themselves take
        microseconds, and running them on a native thread would make both
        threads fight for the GIL at every statement.
        """
        lock_fd = self._lock_file()
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _off_the_event_loop(fcntl.flock, lock_fd, fcntl.LOCK_EX)
        try:
            # Connecting under the lock: the first connection to a new file sets
            # WAL and makes the schema, which SQLite refuses ("database is
            # locked") to a process that races it without waiting.
            conn = self._connection()
            jobs = batch.take()
            conn.execute("BEGIN IMMEDIATE")
            try:
                alone = len(jobs) == 1
                for job in jobs:
                    if alone:
                        # A change alone in its transaction needs no savepoint:
                        # its refusal rolls back the whole of it.
                        job.result = job.work(conn)
                        continue
                    conn.execute("SAVEPOINT change")
                    try:
                        job.result = job.work(conn)
                    except sqlite3.Error:
                        raise
                    except Exception as error:
                        conn.execute("ROLLBACK TO change")
                        job.error = error
                    conn.execute("RELEASE change")
                self._before_commit()
                _off_the_event_loop(conn.execute, "COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, CommitRefused):
            self._close_connection()
            raise
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)

    def _lock_file(self) -> int:
        # Neither the lock's file description nor the connection may cross a fork.
        if self._lock_fd is None or self._pid != os.getpid():
            self._lock_path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._conn = None
            self._pid = os.getpid()
        return self._lock_fd

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _close_connection(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._running:
            self._closed = True
            self._close_connection()
            if self._lock_fd is not None and self._pid == os.getpid():
                os.close(self._lock_fd)
            self._lock_fd = None


def _off_the_event_loop(function: Callable[..., Any], *arguments: Any) -> None:
    """Call `function` where blocking does not stall other requests.

    Under gevent that is a native thread of the hub's pool, waited for
    cooperatively; with plain threads, the calling thread itself.
    """
    if gevent_patched():
        import gevent

        gevent.get_hub().threadpool.apply(function, arguments)
    else:
        function(*arguments)
