"""What only the SQLite store's following of journals has: the `watchers` table of layout
4 and the files of layout 3 brought to it, a probe of its key per pool a change wrote
events to, watchers of a killed process skipped and removed, and a process's rows
removed once it no longer follows the pool."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sqlite3
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest

from app.pool.events import EventKind
from app.pool.lease import AcquireRequest
from app.stores.sqlite import SQLiteStore, schema, watchers

from .conditions import wait_until
from .store_support import ANYONE

BOUND = 20.0  # seconds; reached only when something is broken


def rows(path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return list(conn.execute(sql, args).fetchall())


def watcher_pids(path: Path) -> list[int]:
    found = rows(path, "SELECT l.pid FROM watchers w JOIN listeners l ON l.id = w.listener")
    return [int(str(pid)) for (pid,) in found]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "objmgr.sqlite3", default_pool=("default", 4))
    store.open()
    yield store
    store.close()


# The layout before the watchers: this one's tables and indexes, less theirs.
THIRD_LAYOUT = [
    statement for statement in schema.TABLES + schema.INDEXES if " watchers " not in statement
]


def test_a_file_of_the_layout_before_the_watchers_opens_and_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for statement in THIRD_LAYOUT:
            conn.execute(statement)
        conn.execute("INSERT INTO pools (name, size, created_at) VALUES ('p', 5, 1.0)")
        conn.execute(
            "INSERT INTO events (pool, seq, kind, at, size) VALUES ('p', 7, 'POOL_CREATED', 1.0, 5)"
        )
        conn.execute("PRAGMA user_version = 3")
    store = SQLiteStore(path)
    try:
        assert [(e.seq, e.kind) for e in store.wait_for_events("p", 0, 10, 5.0)] == [
            (7, EventKind.POOL_CREATED)
        ]
        store.acquire(AcquireRequest("p"))
        assert [e.seq for e in store.wait_for_events("p", 7, 10, 5.0)] == [8]
        assert watcher_pids(path) == [os.getpid()]
    finally:
        store.close()
    assert rows(path, "PRAGMA user_version") == [(schema.VERSION,)]
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    # Closed: its rows are gone with its listener.
    assert watcher_pids(path) == []


def test_a_change_reads_a_pool_s_watchers_by_one_probe_of_the_key(store: SQLiteStore) -> None:
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        plan = " ".join(
            str(row[-1])
            for row in conn.execute("EXPLAIN QUERY PLAN " + watchers._WATCHERS, ("default",))
        )
    assert "SEARCH w USING PRIMARY KEY (pool=?)" in plan, plan
    assert "SCAN" not in plan, plan


def test_a_process_s_own_commits_ring_it_without_a_datagram(store: SQLiteStore) -> None:
    store.wait_for_events("default", 0, 10, 0.0)
    ((listener,),) = rows(store.path, "SELECT listener FROM watchers")
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        assert watchers.of_pools(conn, ["default"], own=int(str(listener))) == []
        (found,) = watchers.of_pools(conn, ["default"], own=None)
    assert (found.pool, found.pid) == ("default", os.getpid())


def test_a_pool_no_longer_followed_is_no_longer_watched(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watchers, "IDLE_AFTER", 0.0)
    assert store.wait_for_events("default", 0, 10, 0.0)
    assert watcher_pids(store.path) == [os.getpid()]
    # The process's reaper drops the row on its next round.
    wait_until(lambda: watcher_pids(store.path) == [], BOUND, "the idle watcher's row to go")
    # Followed again, it is watched again.
    lease = store.acquire(AcquireRequest("default"))
    assert [e.token for e in store.wait_for_events("default", 1, 10, 0.0)] == [lease.token]
    assert watcher_pids(store.path) == [os.getpid()]


def _follow_forever(path: str) -> None:
    store = SQLiteStore(path)
    after = 0
    for _ in range(100_000):  # killed long before
        events = store.wait_for_events("default", after, 10, 1.0)
        after = events[-1].seq if events else after


@contextlib.contextmanager
def follower_process(path: Path) -> Iterator[BaseProcess]:
    context = multiprocessing.get_context("forkserver")
    process = context.Process(target=_follow_forever, args=(str(path),), daemon=True)
    process.start()
    try:
        yield process
    finally:
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        process.join(BOUND)


def test_a_killed_watcher_breaks_no_change_and_is_removed(store: SQLiteStore) -> None:
    with follower_process(store.path) as process:
        assert process.pid is not None
        wait_until(lambda: watcher_pids(store.path) == [process.pid], BOUND, "it to watch")
        os.kill(process.pid, signal.SIGKILL)
        process.join(BOUND)
        assert not process.is_alive()
        for _ in range(20):
            lease = store.acquire(AcquireRequest("default"))
            store.free("default", lease.obj, ANYONE, lease.token)
        # Found dead by the first send that failed, and swept with its listener.
        wait_until(lambda: watcher_pids(store.path) == [], BOUND, "the dead watcher's row to go")
        assert rows(store.path, "SELECT pid FROM listeners WHERE pid = ?", process.pid) == []
    kinds = [e.kind for e in store.events("default", 1, 100)]
    assert kinds == [EventKind.GRANTED, EventKind.FREED] * 20
