"""What only the Redis store has to show: durability, outages, server time,
cluster-ready keys, forks and gevent. The shared contract runs in
test_store_contract.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from app.pool.errors import StoreUnavailable
from app.pool.lease import Caller
from app.service import LeaseService
from app.stores.redis import KEY_PARTS, POOL_NAMES_KEY, STORE_MARK, RedisStore

from .support.redis_server import RedisServer

ANYONE = Caller.auth_off()
ROOT = Caller("root", is_admin=True)
TIMEOUT = 0.5
REPO = Path(__file__).resolve().parent.parent


def service_on(url: str, size: int = 10) -> LeaseService:
    return LeaseService(RedisStore(url, default_pool=("default", size), socket_timeout=TIMEOUT))


def test_leases_and_tokens_survive_a_sigkill_and_restart(own_redis: RedisServer) -> None:
    service = service_on(own_redis.url)
    held = service.acquire(ANYONE, owner="w1", label="job 1", ttl=3600, request_id="r1")
    freed = service.acquire(ANYONE)
    service.free(ANYONE, freed.obj)
    service.create_pool(ROOT, "gpu", 2)
    gpu = service.acquire(ANYONE, "gpu")
    service.delete_pool(ROOT, "gpu", force=True)

    own_redis.restart()  # SIGKILL, then the same port and AOF dir

    for again in (service, service_on(own_redis.url)):
        assert again.lease(held.obj) == held
        assert again.acquire(ANYONE, owner="w1", request_id="r1", ttl=3600) == held
        assert again.lease(freed.obj) is None
        assert again.pool().in_use == 1
    assert service.acquire(ANYONE).token > freed.token
    service.create_pool(ROOT, "gpu", 2)
    assert service.acquire(ANYONE, "gpu").token > gpu.token


def assert_fails_fast(action: Callable[[], object]) -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        action()
    assert time.monotonic() - started < TIMEOUT + 0.5


def test_while_redis_is_down_everything_is_unavailable_then_recovers(
    own_redis: RedisServer,
) -> None:
    service = service_on(own_redis.url)
    lease = service.acquire(ANYONE, ttl=3600)

    own_redis.kill()
    for action in (
        service.store.ping,
        lambda: service.acquire(ANYONE),
        lambda: service.acquire(ANYONE, wait=5),
        lambda: service.free(ANYONE, lease.obj),
        lambda: service.renew(ANYONE, lease.obj, lease.token),
        lambda: service.lease(lease.obj),
        lambda: service.leases("default"),
        service.pool,
        service.pools,
        lambda: service.create_pool(ROOT, "gpu", 2),
        lambda: service.delete_pool(ROOT, "default", force=True),
        lambda: service.store.join_queue("default"),
    ):
        assert_fails_fast(action)

    own_redis.start()
    service.store.ping()
    assert service.lease(lease.obj) == lease
    assert service.acquire(ANYONE).token > lease.token
    assert service.pool().in_use == 2


def test_a_hung_redis_is_unavailable_within_the_socket_timeout(own_redis: RedisServer) -> None:
    service = service_on(own_redis.url)
    lease = service.acquire(ANYONE)
    own_redis.pause()
    try:
        for action in (service.store.ping, lambda: service.lease(lease.obj)):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                action()
            assert TIMEOUT * 0.8 <= time.monotonic() - started < TIMEOUT + 0.5
    finally:
        own_redis.resume()
    assert service.lease(lease.obj) == lease


def test_the_default_pool_comes_back_when_redis_lost_its_data(own_redis: RedisServer) -> None:
    service = service_on(own_redis.url, size=7)
    service.acquire(ANYONE)
    own_redis.kill()
    for entry in own_redis.datadir.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
    own_redis.start()
    service.store.ping()
    stats = service.pool()
    assert stats is not None and (stats.size, stats.in_use) == (7, 0)


def test_an_admin_deleted_default_pool_stays_deleted(redis_url: str) -> None:
    service = service_on(redis_url)
    service.delete_pool(ROOT, "default")
    service.store.ping()
    assert service.pool() is None


def test_every_key_of_a_pool_is_in_the_pools_slot(redis_url: str) -> None:
    service = service_on(redis_url)
    service.create_pool(ROOT, "gpu.a-1:x", 3)
    for pool in ("default", "gpu.a-1:x"):
        held = service.acquire(ANYONE, pool, ttl=60, request_id="r")
        service.free(ANYONE, service.acquire(ANYONE, pool).obj, pool)
        ticket = service.store.join_queue(pool)
        assert held.token == 1 and ticket.id == 1
    with redis.Redis.from_url(redis_url) as client:
        keys = {key.decode() for key in client.keys("*")} - {POOL_NAMES_KEY, STORE_MARK}
    for pool in ("default", "gpu.a-1:x"):
        tag = f"objmgr:{{pool:{pool}}}:"
        mine = {key for key in keys if key.startswith(tag)}
        parts = {key.removeprefix(tag) for key in mine}
        sessions = {part for part in parts if part.startswith("session:")}
        # The waiter's process has its session in the pool's own slot.
        assert len(sessions) == 1 and parts - sessions <= set(KEY_PARTS)
        assert {key_slot(key.encode()) for key in mine} == {key_slot(f"pool:{pool}".encode())}
        keys -= mine
    assert not keys


def test_pools_skip_names_whose_pool_is_gone_and_read_the_old_set_once(redis_url: str) -> None:
    service = service_on(redis_url)
    with redis.Redis.from_url(redis_url) as client:
        # What an older version kept: a set of names, one of them stale.
        client.sadd("objmgr:pools", "legacy", "gone")
        client.hset("objmgr:{pool:legacy}:meta", mapping={"size": 2, "next_fresh": 1})
        for name in ("a", "b", "c"):
            service.create_pool(ROOT, name, 1)
        assert [p.name for p in service.pools(first=4)] == ["a", "b", "c", "default"]
        assert [p.name for p in service.pools(first=10, after="default")] == ["legacy"]
        assert not client.exists("objmgr:pools")
        assert client.zscore(POOL_NAMES_KEY, "gone") == 0


def test_without_a_clock_the_redis_server_tells_the_time(redis_url: str) -> None:
    service = service_on(redis_url)
    before = time.time()
    lease = service.acquire(ANYONE, ttl=30)
    after = time.time()
    assert before - 1 <= lease.acquired_at <= after + 1
    assert lease.expires_at == pytest.approx(lease.acquired_at + 30)
    assert service.lease(lease.obj) == lease


def test_a_forked_child_uses_the_store_it_inherited(redis_url: str) -> None:
    service = service_on(redis_url)
    assert service.acquire(ANYONE).obj == 1
    pid = os.fork()
    if pid == 0:  # the child: as a gunicorn worker forked after the app was built
        code = 1
        try:
            code = 0 if service.acquire(ANYONE).obj == 2 else 3
        finally:
            os._exit(code)
    status = None
    for _ in range(1000):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child did not finish within 10 s")
    assert os.waitstatus_to_exitcode(status) == 0
    assert service.lease(2) is not None
    assert service.acquire(ANYONE).obj == 3


GEVENT_WORKERS = """
from gevent import monkey

monkey.patch_all()

import sys

import gevent

from app.pool.lease import Caller
from app.service import LeaseService
from app.stores.redis import RedisStore

service = LeaseService(RedisStore(sys.argv[1], default_pool=("default", 3)), max_wait=10)
holding = set()
overlaps = []


def worker(number):
    lease = service.acquire(Caller.auth_off(), owner=f"g{number}", wait=10)
    if lease.obj in holding:
        overlaps.append(lease.obj)
    holding.add(lease.obj)
    gevent.sleep(0.02)
    holding.discard(lease.obj)
    service.free(Caller.auth_off(), lease.obj, token=lease.token)


jobs = [gevent.spawn(worker, number) for number in range(30)]
gevent.joinall(jobs, timeout=30)
failed = [job.exception for job in jobs if not job.successful()]
print(f"{len(jobs) - len(failed)} served, overlaps {overlaps}, failed {failed}")
sys.exit(0 if not failed and not overlaps else 1)
"""


def test_gevent_greenlets_share_a_store_and_wait_their_turn(redis_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(GEVENT_WORKERS), redis_url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "30 served" in result.stdout


def test_any_text_in_owners_labels_and_request_ids_comes_back_as_it_went_in(
    redis_url: str,
) -> None:
    service = service_on(redis_url)
    text = 'ünï "cödé" \\ / \n\t 🚀 {pool:default} \x00'
    lease = service.acquire(ANYONE, owner=text, label=text, request_id=text, ttl=0.1 + 0.2)
    assert (lease.owner, lease.label, lease.request_id, lease.ttl) == (text, text, text, 0.1 + 0.2)
    assert service.lease(lease.obj) == lease
    assert service.acquire(ANYONE, owner=text, request_id=text, ttl=1) == lease
    nobody = service.acquire(ANYONE, request_id=text)
    empty = service.acquire(ANYONE, owner="", request_id=text)
    assert len({lease.obj, nobody.obj, empty.obj}) == 3
    assert (nobody.owner, empty.owner) == (None, "")
    assert service.acquire(ANYONE, request_id=text) == nobody
