"""Waiting on SQLite across real processes: woken by changes, never by polling;
live while their process lives (a killed one is skipped at once, a stopped one
keeps its place); ids never used twice.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path

import pytest

from app.pool.errors import PoolExhausted
from app.pool.lease import AcquireRequest, Caller
from app.service import LeaseService
from app.stores.sqlite import SQLiteStore

WAIT = 30.0
CAP = 20.0  # seconds; only reached when something is broken
ANYONE = Caller.auth_off()


def wait_for(condition: Callable[[], bool], what: str, seconds: float = CAP) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def _wait_in_a_process(path: str, owner: str, results: Queue[object]) -> None:
    store = SQLiteStore(path)
    try:
        lease = LeaseService(store, max_wait=WAIT).acquire(ANYONE, owner=owner, wait=WAIT)
        results.put((owner, lease.obj, lease.token))
    except Exception as error:  # the parent asserts on what it got
        results.put((owner, repr(error), None))
    finally:
        store.close()


@contextlib.contextmanager
def waiting_processes(path: Path) -> Iterator[tuple[Callable[[str], BaseProcess], Queue[object]]]:
    # Forked by a fork server: a fork of this process would copy SQLite mutexes
    # that this process's threads (the store's reaper) may hold.
    context = multiprocessing.get_context("forkserver")
    results: Queue[object] = context.Queue()
    started: list[BaseProcess] = []

    def start(owner: str) -> BaseProcess:
        process = context.Process(target=_wait_in_a_process, args=(str(path), owner, results))
        process.start()
        started.append(process)
        return process

    try:
        yield start, results
    finally:
        for process in started:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGCONT)
                    os.kill(process.pid, signal.SIGKILL)
            process.join(5)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "objmgr.sqlite3", default_pool=("default", 1))
    assert store.acquire(AcquireRequest("default", owner="holder")).obj == 1
    yield store
    store.close()


def test_a_killed_waiter_is_passed_at_once_and_forgotten(store: SQLiteStore) -> None:
    with waiting_processes(store.path) as (start, _results):
        doomed = start("doomed")
        wait_for(lambda: store.pool("default").waiting == 1, "the waiter to queue")
        assert doomed.pid is not None
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.join(CAP)
        # Its process is gone, so it no longer counts, and no longer stands in the way.
        assert store.pool("default").waiting == 0
        store.free("default", 1, ANYONE, None)
        assert store.acquire(AcquireRequest("default", owner="next")).owner == "next"
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        # Removed, its count with it, by the sweep of the next write that asks.
        store.join_queue("default")
        assert conn.execute("SELECT count(*) FROM waiters").fetchone()[0] == 1


def test_a_stopped_waiter_keeps_its_place(store: SQLiteStore) -> None:
    with waiting_processes(store.path) as (start, results):
        first = start("first")
        wait_for(lambda: store.pool("default").waiting == 1, "the first waiter to queue")
        assert first.pid is not None
        os.kill(first.pid, signal.SIGSTOP)
        start("second")
        wait_for(lambda: store.pool("default").waiting == 2, "the second waiter to queue")

        store.free("default", 1, ANYONE, None)
        # Longer than a heartbeat-based liveness would have waited before passing it.
        time.sleep(1.5)
        assert store.lease("default", 1) is None
        with pytest.raises(PoolExhausted):
            store.acquire(AcquireRequest("default", owner="newcomer"))

        os.kill(first.pid, signal.SIGCONT)
        assert results.get(timeout=CAP) == ("first", 1, 2)
        store.free("default", 1, ANYONE, None)
        assert results.get(timeout=CAP) == ("second", 1, 3)
    assert store.pool("default").waiting == 0


def test_a_waiting_process_writes_nothing_while_it_waits(store: SQLiteStore) -> None:
    """No heartbeat and no polled write: the file's data version stays put."""
    with waiting_processes(store.path) as (start, results):
        start("patient")
        wait_for(lambda: store.pool("default").waiting == 1, "the waiter to queue")
        with contextlib.closing(sqlite3.connect(store.path)) as observer:

            def version() -> int:
                return int(observer.execute("PRAGMA data_version").fetchone()[0])

            # The waiter's process sweeps once when it starts; let that land first.
            time.sleep(0.5)
            before = version()
            time.sleep(2.0)
            assert version() == before
        store.free("default", 1, ANYONE, None)
        assert results.get(timeout=CAP) == ("patient", 1, 2)


def test_waiter_ids_are_never_used_again(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "objmgr.sqlite3", default_pool=("default", 1))
    store.create_pool("doomed", 1)
    gone = store.join_queue("doomed")
    store.delete_pool("doomed", force=True)
    store.create_pool("doomed", 1)
    store.acquire(AcquireRequest("doomed"))
    kept = store.join_queue("doomed")
    assert kept.id > gone.id
    # The ticket of the deleted pool leaves without touching anyone else's place.
    store.leave_queue(gone)
    assert store.pool("doomed").waiting == 1
    store.leave_queue(kept)
    again = store.join_queue("doomed")
    assert again.id > kept.id
    store.leave_queue(again)
    assert store.pool("doomed").waiting == 0
    store.close()
