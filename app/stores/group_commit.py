"""Group commit for SQLite: the changes that arrive while one transaction is
being made durable go into the next transaction together, so one fsync
serves them all and every caller is answered only after its COMMIT.

Why: with `synchronous=FULL` each COMMIT waits for the disk, and a worker
that commits one change at a time spends most of its time there. The
transaction runs on a native thread under gevent, so the worker's other
requests keep being served (and queue up for the next batch) meanwhile.

Writers of every process take an `flock` on a file beside the database
before `BEGIN IMMEDIATE`: the kernel wakes the next writer as soon as the
lock is free, where SQLite's own busy handler would sleep for milliseconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Change = Callable[[sqlite3.Connection], T]


class _Job(Generic[T]):
    __slots__ = ("change", "done", "error", "leads", "result")

    def __init__(self, change: Change[T]) -> None:
        self.change = change
        self.result: T | None = None
        self.error: BaseException | None = None
        self.leads = False
        # Set when the job is finished, or when it is made the next leader.
        self.done = threading.Event()

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommitter:
    """Runs changes in shared transactions, one change per SAVEPOINT.

    A change that raises is rolled back alone and its caller gets the
    exception; the other changes of the batch commit. A `sqlite3.Error` of
    the transaction itself fails the whole batch.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], lock_path: Path) -> None:
        self._connect = connect
        self._lock_path = lock_path
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._pid = 0
        self._queue: deque[_Job[Any]] = deque()
        self._queue_lock = threading.Lock()
        self._leading = False

    def run(self, change: Change[T]) -> T:
        job = _Job(change)
        with self._queue_lock:
            self._queue.append(job)
            job.leads = not self._leading
            self._leading = True
        if not job.leads:
            job.done.wait()
            if not job.leads:
                return job.outcome()
        # The leader commits everything queued by the time it holds the write
        # lock, its own job included, then hands the lead to the oldest job
        # that arrived meanwhile. It first lets the requests that are ready to
        # run reach the queue too: a larger batch costs no more fsyncs.
        _let_others_run()
        batch: list[_Job[Any]] = []
        try:
            _off_the_event_loop(self._commit, batch)
        except BaseException as error:
            while self._queue and job not in batch:
                batch.append(self._queue.popleft())
            for queued in batch:
                queued.error = error
        with self._queue_lock:
            if self._queue:
                self._queue[0].leads = True
                self._queue[0].done.set()
            else:
                self._leading = False
        for queued in batch:
            if queued is not job:
                queued.done.set()
        return job.outcome()

    def _commit(self, batch: list[_Job[Any]]) -> None:
        """Take the queued jobs into `batch` and commit them; runs off the loop."""
        conn = self._connection()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # type: ignore[arg-type]
        try:
            # deque.popleft is atomic, so this thread can take jobs that
            # greenlets or threads append meanwhile.
            while self._queue:
                batch.append(self._queue.popleft())
            conn.execute("BEGIN IMMEDIATE")
            try:
                alone = len(batch) == 1
                for job in batch:
                    if alone:
                        # A change alone in its transaction needs no savepoint:
                        # its refusal rolls back the whole of it.
                        job.result = job.change(conn)
                        continue
                    conn.execute("SAVEPOINT change")
                    try:
                        job.result = job.change(conn)
                    except sqlite3.Error:
                        raise
                    except Exception as error:
                        conn.execute("ROLLBACK TO change")
                        job.error = error
                    conn.execute("RELEASE change")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error:
            self.close()
            raise
        finally:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _connection(self) -> sqlite3.Connection:
        # Neither the connection nor the lock's file description may cross a fork.
        if self._conn is None or self._pid != os.getpid():
            # Connecting first: it makes the database's folder, where the lock lives.
            self._conn = self._connect()
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._conn

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        if self._lock_fd is not None and self._pid == os.getpid():
            os.close(self._lock_fd)
        self._conn, self._lock_fd = None, None


def _off_the_event_loop(function: Callable[[Any], None], argument: Any) -> None:
    """Call `function` where blocking does not stall other requests.

    Under gevent that is a native thread of the hub's pool, waited for
    cooperatively; with plain threads, the calling thread itself.
    """
    if _gevent_patched():
        import gevent

        gevent.get_hub().threadpool.apply(function, (argument,))
    else:
        function(argument)


def _let_others_run() -> None:
    if _gevent_patched():
        import gevent

        gevent.sleep(0)


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("threading"))
