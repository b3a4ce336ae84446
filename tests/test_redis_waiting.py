"""Waiting on Redis: woken by changes, alive by session, never by polling.

Real processes on a real redis-server: a waiter's process killed, a process
whose event loop is stalled by a heavy request, Redis restarted under the
listener, and what idle waiters cost Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from app.pool.errors import PoolError, PoolNotFound
from app.pool.lease import Caller
from app.service import LeaseService
from app.stores.redis import RedisStore
from app.stores.redis.model import DEAD_BATCH, SESSION_TTL

from .conditions import wait_until
from .support.redis_server import RedisServer

ANYONE = Caller.auth_off()
ROOT = Caller("root", is_admin=True)
REPO = Path(__file__).resolve().parent.parent
WAIT = 30.0  # seconds; reached only when something is broken
IDLE_WAITERS = 200
DEAD_WAITERS = 2 * DEAD_BATCH + 5
# What clients send while waiters idle (scripts call no SET but a joining waiter's).
SENT = ("evalsha", "set", "ping")


class Waiter(threading.Thread):
    def __init__(self, service: LeaseService, owner: str, wait: float, pool: str = "default"):
        super().__init__(daemon=True)
        self.service, self.owner, self.wait, self.pool = service, owner, wait, pool
        self.result: Any = None

    def run(self) -> None:
        try:
            self.result = self.service.acquire(ANYONE, self.pool, owner=self.owner, wait=self.wait)
        except PoolError as error:
            self.result = error


@pytest.fixture
def service(redis_url: str) -> Iterator[LeaseService]:
    service = LeaseService(RedisStore(redis_url, default_pool=("default", 1)), max_wait=WAIT)
    yield service
    service.store.close()


def start_script(source: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(source), *args],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_line(process: subprocess.Popen[str], expected: str) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line.startswith(expected), (
        f"{line!r}; stderr: {process.stderr and process.stderr.read()}"
    )
    return line


JOIN_AND_HANG = """
import sys, time
from app.stores.redis import RedisStore

store = RedisStore(sys.argv[1])
for _ in range(int(sys.argv[2])):
    ticket = store.join_queue("default")
print("joined", ticket.id, flush=True)
time.sleep(60)
"""


def test_the_waiters_of_a_killed_process_are_passed_once_its_session_ends(
    service: LeaseService, redis_url: str
) -> None:
    held = service.acquire(ANYONE)
    # More than one script drops at a time.
    doomed = start_script(JOIN_AND_HANG, redis_url, str(DEAD_WAITERS))
    try:
        read_line(doomed, "joined")
        assert service.pool().waiting == DEAD_WAITERS
        os.kill(doomed.pid, signal.SIGKILL)
    finally:
        doomed.kill()
        doomed.wait(WAIT)
    service.free(ANYONE, held.obj)
    # Its ticket heads the queue until Redis lets its session's key expire.
    started = time.monotonic()
    wait_until(lambda: service.pool().waiting == 0, WAIT)
    assert time.monotonic() - started < SESSION_TTL + 5
    assert service.acquire(ANYONE).obj == held.obj


STALLED_WAITER = """
from gevent import monkey

monkey.patch_all()

import sys, time
import gevent
from app.pool.lease import Caller
from app.service import LeaseService
from app.stores.redis import RedisStore

service = LeaseService(RedisStore(sys.argv[1]), max_wait=60)
stall = float(sys.argv[2])
waiter = gevent.spawn(service.acquire, Caller.auth_off(), owner="stalled", wait=60)
while service.pool().waiting < 1:
    gevent.sleep(0.01)
print("waiting", flush=True)
sys.stdin.readline()
# A heavy request: the event loop runs nothing else for a while.
started = time.monotonic()
while time.monotonic() - started < stall:
    sum(range(1000))
print("resumed", flush=True)
lease = waiter.get(timeout=30)
print("got", lease.obj, flush=True)
"""


def test_a_stalled_event_loop_keeps_its_waiters_turn(service: LeaseService, redis_url: str) -> None:
    held = service.acquire(ANYONE)
    stalled = start_script(STALLED_WAITER, redis_url, repr(3 * SESSION_TTL))
    late = None
    try:
        read_line(stalled, "waiting")
        late = Waiter(service, "late", wait=WAIT)
        # Stall it, then free the object and queue a later waiter meanwhile.
        assert stalled.stdin is not None
        stalled.stdin.write("\n")
        stalled.stdin.flush()
        service.free(ANYONE, held.obj)
        late.start()
        wait_until(lambda: service.pool().waiting == 2, WAIT)
        read_line(stalled, "resumed")
        assert read_line(stalled, "got") == f"got {held.obj}"
        assert late.is_alive(), f"the later waiter took the turn: {late.result}"
        service.free(ANYONE, held.obj)
        late.join(WAIT)
        assert late.result.owner == "late"
    finally:
        stalled.kill()
        stalled.wait(WAIT)


def test_idle_waiters_cost_redis_nothing_per_waiter(own_redis: RedisServer) -> None:
    # A server of its own: no other test's handles refresh sessions on it.
    redis_url = own_redis.url
    service = LeaseService(RedisStore(redis_url, default_pool=("default", 1)), max_wait=WAIT)
    service.acquire(ANYONE)
    waiters = [Waiter(service, f"w{n}", wait=WAIT) for n in range(IDLE_WAITERS)]
    for waiter in waiters:
        waiter.start()
    wait_until(lambda: service.pool().waiting == IDLE_WAITERS, WAIT)
    with redis.Redis.from_url(redis_url) as client:
        client.config_resetstat()
        threading.Event().wait(3.0)  # an idle stretch to count over, not a timing
        stats = client.info("commandstats")
    # Commands the scripts run are counted too: count what clients sent (no
    # acquire or join runs meanwhile, so every SET is a session's refresh).
    calls = sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in SENT)
    # The room's check of its pool and the session's refresh, a few a second,
    # whatever the number of waiters (polling waiters made tens per waiter).
    assert calls < 40, stats
    # Deleting the pool tells every waiter at once.
    service.delete_pool(ROOT, "default", force=True)
    for waiter in waiters:
        waiter.join(WAIT)
    assert all(isinstance(waiter.result, PoolNotFound) for waiter in waiters)
    service.store.close()


def test_the_listener_subscribes_again_after_redis_restarts(own_redis: RedisServer) -> None:
    store = RedisStore(own_redis.url, default_pool=("default", 1))
    service = LeaseService(store, max_wait=WAIT)
    held = service.acquire(ANYONE)
    waiter = Waiter(service, "patient", wait=WAIT)
    waiter.start()
    wait_until(lambda: service.pool().waiting == 1, WAIT)
    assert store._queues.listener.subscribed.wait(WAIT)

    own_redis.restart()  # the queue and the session are in the AOF
    wait_until(lambda: store._queues.listener.subscribed.is_set(), WAIT)
    other = LeaseService(RedisStore(own_redis.url))
    other.free(ANYONE, held.obj)
    waiter.join(WAIT)
    assert waiter.result.owner == "patient" and waiter.result.obj == held.obj
    other.store.close()
    store.close()


def test_ticket_ids_are_never_used_twice(own_redis: RedisServer) -> None:
    store = RedisStore(own_redis.url, default_pool=("default", 1))
    service = LeaseService(store)
    first = store.join_queue("default")
    store.leave_queue(first)
    service.delete_pool(ROOT, "default", force=True)
    service.create_pool(ROOT, "default", 1)
    second = store.join_queue("default")
    store.leave_queue(second)
    own_redis.restart()
    third = store.join_queue("default")
    store.leave_queue(third)
    assert first.id < second.id < third.id
    store.close()
