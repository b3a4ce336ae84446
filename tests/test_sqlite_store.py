"""What only the SQLite store has: a file, its folder, and the process that opens it."""

from __future__ import annotations

import contextlib
import multiprocessing
import sqlite3
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from app import create_app
from app.config import Settings
from app.pool.errors import StoreUnavailable
from app.pool.lease import AcquireRequest, Caller
from app.stores.sqlite import SQLiteStore, schema

PROCESSES = 4


def test_a_store_in_a_folder_not_made_yet_makes_it(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "not" / "yet" / "objmgr.sqlite3", default_pool=("default", 3))
    assert store.acquire(AcquireRequest("default")).obj == 1
    assert (tmp_path / "not" / "yet" / "objmgr.sqlite3").exists()
    store.close()


def test_the_default_settings_serve_from_a_fresh_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    client = create_app(Settings.from_env({})).test_client()
    answer = client.post("/graphql", json={"query": "query {\n  getObject\n}"})
    assert answer.get_json() == {"data": {"getObject": 1}}
    assert (tmp_path / "var" / "objmgr.sqlite3").exists()


def test_an_unusable_file_is_store_unavailable_without_its_path(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    store = SQLiteStore(tmp_path / "a-file" / "objmgr.sqlite3")
    with pytest.raises(StoreUnavailable) as raised:
        store.acquire(AcquireRequest("default"))
    assert str(tmp_path) not in raised.value.message


def _open_and_acquire(path: str, start: Barrier, results: Queue[object]) -> None:
    store = SQLiteStore(path, default_pool=("default", 100))
    start.wait(timeout=30)
    try:
        results.put(store.acquire(AcquireRequest("default")).obj)
    except Exception as error:  # the parent asserts on what it got
        results.put(repr(error))


@pytest.mark.parametrize("attempt", range(5))
def test_workers_opening_a_new_file_at_once_all_get_in(tmp_path: Path, attempt: int) -> None:
    """gunicorn starts its workers together, and each opens the file: the first
    connection makes the schema and sets WAL while the others connect."""
    # Forked by a fork server: a fork of this process would copy SQLite mutexes
    # that threads of earlier tests' stores may hold.
    context = multiprocessing.get_context("forkserver")
    start, results = context.Barrier(PROCESSES), context.Queue()
    path = str(tmp_path / f"fresh-{attempt}.sqlite3")
    workers = [
        context.Process(target=_open_and_acquire, args=(path, start, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    got = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert [answer for answer in got if not isinstance(answer, int)] == []
    assert sorted(got) == list(range(1, PROCESSES + 1))  # type: ignore[type-var]


# The layout the first version wrote, as it wrote it.
FIRST_LAYOUT = """
CREATE TABLE pools (name TEXT PRIMARY KEY, size INTEGER NOT NULL,
    next_fresh INTEGER NOT NULL DEFAULT 1, created_at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE fencing (pool TEXT PRIMARY KEY, last_token INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE leases (pool TEXT NOT NULL, obj INTEGER NOT NULL, token INTEGER NOT NULL,
    owner TEXT, label TEXT, request_id TEXT, acquired_at REAL NOT NULL, expires_at REAL,
    ttl REAL, PRIMARY KEY (pool, obj)) WITHOUT ROWID;
CREATE INDEX leases_by_expiry ON leases (pool, expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX leases_by_request ON leases (pool, request_id) WHERE request_id IS NOT NULL;
CREATE TABLE free_objects (seq INTEGER PRIMARY KEY, pool TEXT NOT NULL, obj INTEGER NOT NULL);
CREATE INDEX free_objects_fifo ON free_objects (pool, seq);
CREATE TABLE waiters (id INTEGER PRIMARY KEY, pool TEXT NOT NULL, seen_at REAL NOT NULL);
CREATE INDEX waiters_by_pool ON waiters (pool, id);
INSERT INTO pools VALUES ('default', 6, 6, 1.0), ('shrunk', 2, 5, 1.0);
INSERT INTO fencing VALUES ('default', 9), ('shrunk', 4);
INSERT INTO leases VALUES ('default', 2, 8, 'alice', NULL, 'r-1', 1.0, NULL, NULL),
    ('default', 4, 9, 'bob', NULL, NULL, 1.0, 4000000000.0, 60.0),
    ('shrunk', 1, 3, NULL, NULL, NULL, 1.0, NULL, NULL),
    ('shrunk', 4, 4, NULL, NULL, NULL, 1.0, NULL, NULL);
INSERT INTO free_objects (seq, pool, obj) VALUES (1, 'default', 5), (2, 'default', 1),
    (3, 'default', 3), (4, 'shrunk', 2), (5, 'shrunk', 3);
INSERT INTO waiters VALUES (41, 'default', 1.0);
"""


def test_a_file_of_the_first_layout_opens_and_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(FIRST_LAYOUT)
    store = SQLiteStore(path, default_pool=("default", 100))

    default, shrunk = store.pool("default"), store.pool("shrunk")
    assert (default.size, default.in_use, default.available, default.waiting) == (6, 2, 4, 0)
    assert (shrunk.size, shrunk.in_use, shrunk.available, shrunk.waiting) == (2, 2, 1, 0)
    assert [lease.obj for lease in store.leases("default", 10, 0)] == [2, 4]
    # Never used first, then those freed before the upgrade in their order; tokens go on up.
    got = [store.acquire(AcquireRequest("default")) for _ in range(4)]
    assert [lease.obj for lease in got] == [6, 5, 1, 3]
    assert [lease.token for lease in got] == [10, 11, 12, 13]
    store.free("default", 3, Caller.auth_off(), None)
    assert store.acquire(AcquireRequest("default")).obj == 3
    # A retry of a lease granted before the upgrade is still recognised.
    assert store.acquire(AcquireRequest("default", owner="alice", request_id="r-1")).obj == 2
    # Waiter ids carry on above the old ones.
    assert store.join_queue("default").id > 41
    # Growing the shrunk pool gives back its retired object and counts the one held above.
    grown = store.resize_pool("shrunk", 4)
    assert (grown.in_use, grown.available) == (2, 2)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()
    # Opened again, nothing is migrated twice.
    again = SQLiteStore(path)
    assert again.pool("default").in_use == 6
    again.close()


def test_counts_stay_exact_through_frees_expiries_and_resizes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "objmgr.sqlite3")
    store.create_pool("p", 10)
    for _ in range(8):
        store.acquire(AcquireRequest("p"))
    store.resize_pool("p", 5)
    stats = store.pool("p")
    assert (stats.in_use, stats.available) == (8, 0)
    for obj in (7, 2):
        store.free("p", obj, Caller.auth_off(), None)
    stats = store.pool("p")
    assert (stats.in_use, stats.available) == (6, 1)
    stats = store.resize_pool("p", 8)
    assert (stats.in_use, stats.available) == (6, 2)
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        # The counters are what a count over the leases says.
        held, above = conn.execute("SELECT held, held_above FROM pools WHERE name = 'p'").fetchone()
        assert held == conn.execute("SELECT count(*) FROM leases WHERE pool = 'p'").fetchone()[0]
        assert above == 0
    store.close()
