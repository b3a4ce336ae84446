"""Following a pool's journal (`Store.wait_for_events`) on every store: what it answers
at once, what it waits for, and events committed by another store of the same state
and by another process.

The follower's own recheck is lengthened past every wait here, so that a wait that
returns an event committed later was woken by the store's own signal (a condition,
a datagram, a blocking stream read), never by reading again on its own.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sqlite3
import threading
from collections.abc import Callable, Iterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path

import pytest
import redis

from app.pool.events import Event, EventKind
from app.pool.lease import AcquireRequest
from app.stores import waking
from app.stores.base import Store

from .conditions import wait_until
from .conftest import StoreFactory
from .store_support import ANYONE, ROOT

#: A wait's timeout here: only reached when the wake-up under test never came.
LONG = 60.0
#: How long a test waits for a follower's answer, well below `LONG`.
BOUND = 20.0


@pytest.fixture(autouse=True)
def no_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waking, "RECHECK_EVERY", 2 * LONG)


class Follower(threading.Thread):
    """One `wait_for_events` call on a thread of its own; its answer or its error."""

    def __init__(self, store: Store, after: int, timeout: float = LONG, pool: str = "default"):
        super().__init__(daemon=True)
        self.store, self.after, self.timeout, self.pool = store, after, timeout, pool
        self.events: list[Event] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.events = self.store.wait_for_events(self.pool, self.after, 10, self.timeout)
        except BaseException as error:  # the test reads it
            self.error = error

    def answer(self) -> list[Event]:
        self.join(BOUND)
        assert not self.is_alive(), "the follower was never woken"
        assert self.error is None, self.error
        assert self.events is not None
        return self.events


def last_seq(store: Store, pool: str = "default") -> int:
    return store.events(pool, 0, 10_000)[-1].seq


def test_events_there_already_are_answered_at_once(store: Store) -> None:
    follower = Follower(store, after=0)
    follower.start()
    assert [(e.seq, e.kind) for e in follower.answer()] == [(1, EventKind.POOL_CREATED)]


def test_ascending_after_the_seq_given_and_at_most_first(store: Store) -> None:
    for _ in range(4):
        store.acquire(AcquireRequest("default"))
    assert [e.seq for e in store.wait_for_events("default", 2, 2, LONG)] == [3, 4]
    assert [e.seq for e in store.wait_for_events("default", 4, 10, LONG)] == [5]
    assert store.wait_for_events("default", 0, 0, 0.05) == []


def test_nothing_committed_is_an_empty_answer_once_the_timeout_passed(store: Store) -> None:
    assert store.wait_for_events("default", last_seq(store), 10, 0.2) == []
    # A pool that never existed has nothing to follow either, and is no error.
    assert store.wait_for_events("never-made", 0, 10, 0.2) == []


def test_an_event_committed_during_the_wait_is_answered(store: Store) -> None:
    follower = Follower(store, after=last_seq(store))
    follower.start()
    lease = store.acquire(AcquireRequest("default", owner="alice"))
    events = follower.answer()
    assert [(e.kind, e.obj, e.token, e.owner) for e in events] == [
        (EventKind.GRANTED, lease.obj, lease.token, "alice")
    ]


def test_another_store_of_the_same_state_wakes_the_follower(
    store_factory: StoreFactory,
) -> None:
    """As another worker or host does; the memory store's state is its one object."""
    follower_store, writer = store_factory(), store_factory()
    follower_store.ensure_pool("default", 3)
    after = last_seq(follower_store)
    follower = Follower(follower_store, after=after)
    follower.start()
    writer.free("default", writer.acquire(AcquireRequest("default")).obj, ANYONE, None)
    first = follower.answer()
    assert [e.seq for e in first] in ([after + 1], [after + 1, after + 2])
    # Following on from the last seq answered (both are committed by now): nothing
    # twice, nothing skipped.
    rest = follower_store.wait_for_events("default", first[-1].seq, 10, 0.1)
    assert [e.seq for e in first + rest] == [after + 1, after + 2]
    assert [e.kind for e in first + rest] == [EventKind.GRANTED, EventKind.FREED]


def test_a_deleted_pool_s_events_are_followed_while_kept(store: Store) -> None:
    store.create_pool("gone", 2)
    follower = Follower(store, after=1, pool="gone")
    follower.start()
    store.delete_pool("gone", force=False, principal=ROOT.principal)
    assert [e.kind for e in follower.answer()] == [EventKind.POOL_DELETED]
    assert [e.seq for e in store.wait_for_events("gone", 0, 10, LONG)] == [1, 2]


# Another process ----------------------------------------------------------------------


def _write_in_a_process(kind: str, where: str, go: ProcessEvent, done: Queue[object]) -> None:
    store: Store
    if kind == "sqlite":
        from app.stores.sqlite import SQLiteStore

        store = SQLiteStore(where)
    else:
        from app.stores.redis import RedisStore

        store = RedisStore(where)
    try:
        done.put("ready")
        if go.wait(BOUND):
            lease = store.acquire(AcquireRequest("default", owner="elsewhere"))
            done.put((lease.obj, lease.token))
    except Exception as error:  # the parent asserts on what it got
        done.put(repr(error))
    finally:
        store.close()


@contextlib.contextmanager
def writer_process(kind: str, where: str) -> Iterator[tuple[ProcessEvent, Queue[object]]]:
    # A fork server's child: a fork of this process would copy locks its threads hold.
    context = multiprocessing.get_context("forkserver")
    go, done = context.Event(), context.Queue()
    process = context.Process(target=_write_in_a_process, args=(kind, where, go, done))
    process.start()
    try:
        assert done.get(timeout=BOUND) == "ready"
        yield go, done
    finally:
        go.set()
        process.join(BOUND)
        if process.is_alive():
            process.kill()
            process.join(BOUND)


def _sqlite_followed(path: Path) -> Callable[[], bool]:
    def followed() -> bool:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return bool(conn.execute("SELECT count(*) FROM watchers").fetchone()[0])

    return followed


def _redis_blocked(url: str) -> Callable[[], bool]:
    def blocked() -> bool:
        with redis.Redis.from_url(url) as client:
            return any(
                "b" in str(c.get("flags", "")) and c.get("cmd") == "xread"
                for c in client.client_list()
            )

    return blocked


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_an_event_committed_by_another_process_wakes_the_follower(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store: Store
    if kind == "sqlite":
        from app.stores.sqlite import SQLiteStore

        path = tmp_path / "objmgr.sqlite3"
        store, where, waiting = SQLiteStore(path), str(path), _sqlite_followed(path)
    else:
        from app.stores.redis import RedisStore

        where = str(request.getfixturevalue("redis_url"))
        store, waiting = RedisStore(where), _redis_blocked(where)
    try:
        store.ensure_pool("default", 2)
        after = last_seq(store)
        with writer_process(kind, where) as (go, done):
            follower = Follower(store, after=after)
            follower.start()
            wait_until(waiting, BOUND, "the follower to wait")
            go.set()
            obj, token = done.get(timeout=BOUND)  # type: ignore[misc]
            events = follower.answer()
        assert [(e.seq, e.kind, e.obj, e.token, e.owner) for e in events] == [
            (after + 1, EventKind.GRANTED, obj, token, "elsewhere")
        ]
    finally:
        store.close()
