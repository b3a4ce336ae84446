"""The Redis store under real faults, at bounded cost.

A mass expiry costs the next script a bounded batch; a reply lost to a stalled
server is OUTCOME_UNKNOWN, never a STORE_UNAVAILABLE that hides a grant; a
refusal Redis makes before anything changed is STORE_UNAVAILABLE; a hung
server is answered within the socket timeout; the readiness check writes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from app.pool.errors import OutcomeUnknown, PoolError, StoreUnavailable
from app.pool.lease import AcquireRequest, Caller
from app.service import LeaseService
from app.stores.redis import RedisStore
from app.stores.redis.model import FREE_SCAN, REAP_BATCH, RECLAIM_BATCH, pool_keys

from .conditions import wait_until
from .conftest import Clock
from .support.fills import fill_redis_leases
from .support.redis_server import DebuggableRedisServer, RedisServer

ANYONE = Caller.auth_off()
ROOT = Caller("root", is_admin=True)
TIMEOUT = 1.0
# What the README promises for a 1 s socket timeout, with room for a loaded host.
ANSWERED_WITHIN = 1.5
MASS = 100_000
# Redis-side CPU of one script, however many leases expired: generous.
SCRIPT_USEC_BOUND = 50_000


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client


def test_a_mass_expiry_costs_the_next_acquire_a_bounded_batch(
    redis_url: str, client: redis.Redis, clock: Clock
) -> None:
    store = RedisStore(redis_url, clock=clock)
    store.ensure_pool("mass", MASS)
    keys = pool_keys("mass")
    fill_redis_leases(client, "mass", MASS, ttl=1, expires_at=clock.now + 10, acquired_at=0)
    clock.advance(11)
    client.config_resetstat()

    lease = store.acquire(AcquireRequest("mass", owner="next"))

    # Every script this acquire ran (a first NOSCRIPT included), together.
    stats = client.info("commandstats")["cmdstat_evalsha"]
    assert stats["usec"] < SCRIPT_USEC_BOUND, stats
    assert client.zcard(keys[5]) == MASS - RECLAIM_BATCH
    # The free order holds: the earliest expiry first, ties by object.
    assert lease.obj == 1
    # Reads are exact before the reaper came by.
    pool = store.pool("mass")
    assert pool is not None and (pool.in_use, pool.available) == (1, MASS - 1)
    assert [held.obj for held in store.leases("mass", 10, 0)] == [1]

    # A lease with a TTL wakes this process's reaper, which reclaims the rest
    # in bounded batches: counted in scripts run, not in time, which a loaded
    # host stretches (a script preempted mid-run is slow, not large).
    client.config_resetstat()
    # Read after the reset: a batch between the two only adds to the scripts counted.
    expired = client.zcard(keys[5])
    store.acquire(AcquireRequest("mass", ttl=3600))
    wait_until(lambda: client.zcard(keys[5]) == 1, 120)
    # The acquire reclaims its own batch; every other script at most REAP_BATCH.
    reaped = expired - RECLAIM_BATCH
    calls = client.info("commandstats")["cmdstat_evalsha"]["calls"] - 1
    assert calls >= reaped / REAP_BATCH, f"{reaped} leases reclaimed by {calls} scripts"
    store.close()


def test_shrinking_below_many_freed_objects_costs_bounded_steps(redis_url: str) -> None:
    store = RedisStore(redis_url)
    service = LeaseService(store)
    many = 3 * FREE_SCAN
    service.create_pool(ROOT, "shrunk", many + 2)
    leases = [service.acquire(ANYONE, "shrunk") for _ in range(many + 2)]
    for lease in leases[2:]:
        service.free(ANYONE, lease.obj, "shrunk")
    service.free(ANYONE, 1, "shrunk")
    service.resize_pool(ROOT, "shrunk", 1)
    # Every freed object but 1 is above the size: set aside a batch at a time.
    assert service.acquire(ANYONE, "shrunk").obj == 1
    service.free(ANYONE, 1, "shrunk")
    service.resize_pool(ROOT, "shrunk", many + 2)
    # Growing gives them back in the place they were freed.
    again = [service.acquire(ANYONE, "shrunk").obj for _ in range(5)]
    assert again == [3, 4, 5, 6, 7]
    store.close()


def test_a_lost_reply_is_outcome_unknown_and_a_retry_finds_the_grant(
    debug_redis: DebuggableRedisServer,
) -> None:
    own_redis = debug_redis
    store = RedisStore(own_redis.url, default_pool=("default", 20), socket_timeout=TIMEOUT)
    store.open()
    sleeper = own_redis.client(timeout=10)
    outcomes: dict[int, Any] = {}
    asleep = threading.Event()

    def sleep_redis() -> None:
        asleep.set()
        sleeper.execute_command("DEBUG", "SLEEP", 3)

    def acquire(number: int) -> None:
        try:
            outcomes[number] = store.acquire(
                AcquireRequest("default", f"o{number}", request_id="r")
            )
        except PoolError as error:
            outcomes[number] = error

    blocker = threading.Thread(target=sleep_redis)
    blocker.start()
    asleep.wait(5)
    wait_until(own_redis.stalled, 5)
    callers = [threading.Thread(target=acquire, args=(n,)) for n in range(5)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(10)
    blocker.join(10)

    # Sent before the sleep ended: unknown. Still queued behind them when the
    # deadline passed, so never sent: unavailable, and nothing changed.
    unknown = {n for n, outcome in outcomes.items() if isinstance(outcome, OutcomeUnknown)}
    unsent = {n for n, outcome in outcomes.items() if isinstance(outcome, StoreUnavailable)}
    assert unknown and unknown | unsent == set(range(5)), outcomes
    granted = {lease.owner: lease for lease in store.leases("default", 100, 0)}
    assert set(granted) <= {f"o{n}" for n in unknown}
    retried = [store.acquire(AcquireRequest("default", f"o{n}", request_id="r")) for n in range(5)]
    for lease in retried:
        if lease.owner in granted:
            assert lease == granted[lease.owner], "the retry found another lease"
    pool = store.pool("default")
    assert pool is not None and pool.in_use == 5, "a lost reply leaked an object"
    store.close()


def test_a_hung_redis_answers_every_operation_within_the_socket_timeout(
    own_redis: RedisServer,
) -> None:
    service = LeaseService(
        RedisStore(own_redis.url, default_pool=("default", 5), socket_timeout=TIMEOUT)
    )
    lease = service.acquire(ANYONE, ttl=60)
    service.store.ping()
    reads: list[Callable[[], object]] = [
        service.store.ping,
        service.store.check_ready,
        lambda: service.lease(lease.obj),
        lambda: service.leases("default"),
        service.pool,
        service.pools,
    ]
    changes: list[Callable[[], object]] = [
        lambda: service.acquire(ANYONE),
        lambda: service.acquire(ANYONE, wait=5),
        lambda: service.free(ANYONE, lease.obj),
        lambda: service.renew(ANYONE, lease.obj, lease.token),
        lambda: service.create_pool(ROOT, "gpu", 2),
        lambda: service.store.join_queue("default"),
    ]
    own_redis.pause()
    try:
        # A change sent on an open connection may yet be applied: unknown; one
        # whose new connection hung in its handshake was never sent.
        changed = (OutcomeUnknown, StoreUnavailable)
        for actions, expected in ((reads, (StoreUnavailable,)), (changes, changed)):
            for action in actions:
                started = time.monotonic()
                with pytest.raises(expected):
                    action()
                assert time.monotonic() - started < ANSWERED_WITHIN
    finally:
        own_redis.resume()
    wait_until(lambda: service.lease(lease.obj) is not None, 30)
    service.store.close()


def test_a_refused_redis_is_unavailable_at_once(own_redis: RedisServer) -> None:
    store = RedisStore(own_redis.url, default_pool=("default", 5), socket_timeout=TIMEOUT)
    store.open()
    own_redis.kill()
    for action in (store.ping, lambda: store.acquire(AcquireRequest("default"))):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            action()
        assert time.monotonic() - started < ANSWERED_WITHIN
    own_redis.start()
    store.close()


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param({"maxmemory": "1", "maxmemory-policy": "noeviction"}, id="OOM"),
        pytest.param({"min-replicas-to-write": "1"}, id="NOREPLICAS"),
    ],
)
def test_writes_redis_refuses_are_unavailable_and_change_nothing(
    own_redis: RedisServer, refusal: dict[str, str]
) -> None:
    service = LeaseService(RedisStore(own_redis.url, default_pool=("default", 5)))
    held = service.acquire(ANYONE)
    service.acquire(ANYONE, "default", ttl=60)
    service.store.check_ready()
    with own_redis.client() as admin:
        before = {key: admin.config_get(key)[key] for key in refusal}
        for key, value in refusal.items():
            admin.config_set(key, value)
        try:
            # Refused at their first write, before anything changed. (A script
            # whose first write frees memory, as a free's does, runs to its end
            # under OOM: Redis refuses nothing once a script has written.)
            for action in (
                service.store.check_ready,
                lambda: service.acquire(ANYONE),
                lambda: service.store.join_queue("default"),
                lambda: service.create_pool(ROOT, "new", 3),
            ):
                with pytest.raises(StoreUnavailable):
                    action()
        finally:
            for key, value in before.items():
                admin.config_set(key, value)
    pool = service.pool()
    assert pool is not None and (pool.in_use, pool.waiting) == (2, 0)
    assert service.lease(held.obj) == held
    assert service.pool("new") is None
    service.store.check_ready()
    service.store.close()


def test_a_read_only_replica_is_not_ready(own_redis: RedisServer, redis_url: str) -> None:
    RedisStore(redis_url, default_pool=("default", 5)).open()
    store = RedisStore(own_redis.url)
    store.check_ready()
    primary = redis.Redis.from_url(redis_url)
    port = primary.connection_pool.connection_kwargs["port"]
    with own_redis.client() as admin:
        admin.replicaof("127.0.0.1", port)
        try:
            wait_until(lambda: admin.info("replication")["master_link_status"] == "up", 30)
            with pytest.raises(StoreUnavailable):
                store.check_ready()
            with pytest.raises(StoreUnavailable):
                store.acquire(AcquireRequest("default"))
        finally:
            admin.replicaof("NO", "ONE")
    primary.close()
    store.close()
