"""The Redis store's batches: concurrent callers' scripts share one pipeline,
and each caller still gets exactly the answer it would get alone.

Concurrency is forced, not hoped for: the first leader waits until the other
callers queued behind it, so its batch surely holds all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.exceptions import ResponseError

from app.pool.errors import NotOwner, PoolNotFound, StoreUnavailable
from app.pool.lease import AcquireRequest, Caller
from app.stores.batching import Batch
from app.stores.redis import RedisStore
from app.stores.redis.commands import _Pending

from .support.redis_server import RedisServer

WAIT = 10.0  # seconds; only ever reached when something is broken
CALLERS = 12


class Gate:
    """Wraps a store's batch executor: records batch sizes, and holds the
    first batch until `arrivals` more scripts queued behind its leader's, so
    that it takes them all; `before` is called just before it is sent."""

    def __init__(self, store: RedisStore, arrivals: int, before: Callable[[], None]) -> None:
        # The batcher is the store's own; only a test has reason to reach in.
        self.execute = store._commands._batcher._execute
        store._commands._batcher._execute = self
        self.arrivals = arrivals
        self.before = before
        self.sizes: list[int] = []
        self.leading = threading.Event()

    def __call__(self, batch: Batch[_Pending]) -> None:
        if not self.leading.is_set():
            self.leading.set()
            pause = threading.Event()
            for _ in range(int(WAIT / 0.001)):
                if len(batch._queue) >= self.arrivals + 1:
                    break
                pause.wait(0.001)
            self.before()
        try:
            self.execute(batch)
        finally:
            self.sizes.append(len(batch.jobs))


def concurrently(count: int, action: Callable[[int], Any]) -> dict[int, Any]:
    """`action(n)` on `count` threads at once: each one's result or exception."""
    outcomes: dict[int, Any] = {}

    def run(number: int) -> None:
        try:
            outcomes[number] = action(number)
        except Exception as error:  # the outcome under test
            outcomes[number] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads), "a caller never returned"
    return outcomes


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_url, default_pool=("default", 100))
    store.open()
    yield store
    store.close()


def test_concurrent_scripts_share_a_pipeline_and_each_gets_its_own_answer(
    store: RedisStore, redis_url: str
) -> None:
    with redis.Redis.from_url(redis_url) as client:
        # A pool whose meta key has the wrong type: its scripts fail in Redis.
        client.set("objmgr:{pool:broken}:meta", "not a hash")
    held = store.acquire(AcquireRequest("default", owner="alice"))
    gate = Gate(store, CALLERS - 1, lambda: None)

    def action(number: int) -> Any:
        kind = number % 4
        if kind == 0:
            return store.acquire(AcquireRequest("default", owner=f"c{number}"))
        if kind == 1:
            return store.acquire(AcquireRequest("nowhere"))
        if kind == 2:
            return store.acquire(AcquireRequest("broken"))
        return store.free("default", held.obj, Caller(f"c{number}", is_admin=False), None)

    outcomes = concurrently(CALLERS, action)

    assert gate.sizes == [CALLERS]
    granted = []
    for number, outcome in outcomes.items():
        kind = number % 4
        if kind == 0:
            assert outcome.owner == f"c{number}"
            granted.append(outcome.obj)
        elif kind == 1:
            assert isinstance(outcome, PoolNotFound)
        elif kind == 2:
            assert isinstance(outcome, ResponseError) and "WRONGTYPE" in str(outcome)
        else:
            assert isinstance(outcome, NotOwner)
    assert len(set(granted)) == len(granted) == CALLERS // 4
    assert held.obj not in granted
    stats = store.pool("default")
    assert stats is not None and stats.in_use == 1 + len(granted)


def test_a_batch_runs_again_once_after_redis_forgot_its_scripts(
    store: RedisStore, redis_url: str
) -> None:
    def flush() -> None:
        with redis.Redis.from_url(redis_url) as client:
            client.script_flush()

    gate = Gate(store, CALLERS - 1, flush)
    outcomes = concurrently(
        CALLERS, lambda number: store.acquire(AcquireRequest("default", owner=f"c{number}"))
    )

    assert gate.sizes == [CALLERS]
    objs = [outcome.obj for outcome in outcomes.values()]
    assert len(set(objs)) == CALLERS, outcomes
    stats = store.pool("default")
    assert stats is not None and stats.in_use == CALLERS


def test_a_lost_connection_fails_every_script_of_the_pipeline(own_redis: RedisServer) -> None:
    store = RedisStore(own_redis.url, default_pool=("default", 100), socket_timeout=0.5)
    store.open()
    gate = Gate(store, CALLERS - 1, own_redis.kill)
    outcomes = concurrently(CALLERS, lambda number: store.acquire(AcquireRequest("default")))

    assert gate.sizes == [CALLERS]
    assert all(isinstance(outcome, StoreUnavailable) for outcome in outcomes.values()), outcomes
    own_redis.start()
    store.ping()
    stats = store.pool("default")
    assert stats is not None and stats.in_use == 0
    store.close()
