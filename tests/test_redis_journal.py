"""What only the Redis store's journal has to show (rule R9): the stream of each
pool survives a kill -9 and a restart from the append-only file, its trimming
keeps it within a bounded slack of `events_keep` after every change, every key
its scripts touch carries the pool's hash tag, and the seq counter outlives the
pool. What every store's journal promises runs in test_store_journal.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
from redis.crc import key_slot

from app.pool.events import Event, EventKind
from app.pool.lease import Caller
from app.service import LeaseService
from app.stores.redis import KEY_PARTS, RedisStore
from app.stores.redis.commands import SCRIPTS
from app.stores.redis.model import events_key, pool_keys

from .conditions import wait_until
from .support.redis_server import RedisServer

ANYONE = Caller.auth_off()
ROOT = Caller("root", is_admin=True)
EVERYTHING = 1000
EVENTS_KEY = events_key("default")


ServiceOn = Callable[..., LeaseService]


@pytest.fixture
def service_on() -> Iterator[ServiceOn]:
    """Services on Redis URLs, a pool `default` of 10 objects; closed after the test."""
    stores: list[RedisStore] = []

    def open_one(url: str, keep: int = 10_000) -> LeaseService:
        store = RedisStore(url, default_pool=("default", 10), socket_timeout=1.0, events_keep=keep)
        stores.append(store)
        return LeaseService(store)

    yield open_one
    for store in stores:
        store.close()


def journal(service: LeaseService, pool: str = "default") -> list[Event]:
    return service.events(pool, after=0, first=EVERYTHING)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client


def test_the_journal_and_its_seq_survive_a_sigkill_and_restart(
    own_redis: RedisServer, service_on: ServiceOn
) -> None:
    service = service_on(own_redis.url)
    held = service.acquire(ANYONE, owner="w1", label="job 1", ttl=3600)
    freed = service.acquire(ANYONE)
    service.free(ANYONE, freed.obj)
    service.renew(ANYONE, held.obj, held.token, ttl=7200)
    before = journal(service)
    assert [event.kind for event in before] == [
        EventKind.POOL_CREATED,
        EventKind.GRANTED,
        EventKind.GRANTED,
        EventKind.FREED,
        EventKind.RENEWED,
    ]

    own_redis.restart()  # SIGKILL, then the same port and AOF dir

    for again in (service, service_on(own_redis.url)):
        assert journal(again) == before
    # The counter came back with the stream: the next event follows the last one.
    service.free(ANYONE, held.obj)
    assert [event.seq for event in journal(service)] == [1, 2, 3, 4, 5, 6]


def test_trimming_keeps_the_stream_within_a_node_of_keep_after_every_change(
    redis_url: str, client: redis.Redis, service_on: ServiceOn
) -> None:
    keep = 20
    service = service_on(redis_url, keep=keep)
    # `XADD ... MAXLEN ~` drops whole nodes only, each of at most this many entries.
    node = int(str(client.config_get("stream-node-max-entries")["stream-node-max-entries"]))
    written = 1
    lengths = []
    for _ in range(300):
        lease = service.acquire(ANYONE)
        service.free(ANYONE, lease.obj, token=lease.token)
        written += 2
        length = client.xlen(EVENTS_KEY)
        assert min(written, keep) <= length < keep + node, (written, length)
        lengths.append(length)
    assert max(lengths) > keep, "approximate trimming drops whole nodes only"
    assert lengths[-1] < written, "and it does drop them"
    kept = journal(service)
    assert [event.seq for event in kept] == list(range(written - len(kept) + 1, written + 1))


def test_the_seq_counter_outlives_a_deleted_pool_and_its_events_stay_readable(
    redis_url: str, client: redis.Redis, service_on: ServiceOn
) -> None:
    service = service_on(redis_url)
    service.create_pool(ROOT, "gpu", 2)
    service.acquire(ANYONE, "gpu")
    service.delete_pool(ROOT, "gpu", force=True)
    gpu_counters = pool_keys("gpu")[KEY_PARTS.index("counters")]
    assert client.hget(gpu_counters, "event_seq") == b"3"
    assert not client.exists(pool_keys("gpu")[0]), "the pool is gone"
    assert [(e.seq, e.kind, e.reason) for e in journal(service, "gpu")][-1] == (
        3,
        EventKind.POOL_DELETED,
        "forced",
    )

    service.create_pool(ROOT, "gpu", 2)
    assert journal(service, "gpu")[-1].seq == 4


@dataclass(frozen=True)
class Seen:
    """One command MONITOR reported: who sent it (a client, or "lua" for a script) and its
    arguments."""

    source: str
    args: tuple[str, ...]


MONITOR_LINE = re.compile(r"^\S+ \[\d+ (?P<source>[^\]]*)\] (?P<args>.*)$")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
END = "objmgr-test-end"
# What scripts send that names no key: the wake-up channel, the server's clock.
KEYLESS = {"PUBLISH", "TIME"}


def monitored(monitor: redis.client.Monitor) -> Iterator[Seen]:
    """The commands MONITOR saw, up to the ECHO of END."""
    while True:
        line = monitor.connection.read_response()
        text = line.decode(errors="replace") if isinstance(line, bytes) else str(line)
        match = MONITOR_LINE.match(text)
        assert match, text
        args = tuple(arg.encode().decode("unicode_escape") for arg in QUOTED.findall(text))
        if args == ("ECHO", END):
            return
        yield Seen(match["source"], args)


def test_every_key_a_script_touches_carries_its_pools_tag(
    redis_url: str, client: redis.Redis, service_on: ServiceOn
) -> None:
    service = service_on(redis_url)
    store = service.store
    with client.monitor() as monitor:
        service.create_pool(ROOT, "gpu.a-1:x", 3)
        for pool in ("default", "gpu.a-1:x"):
            held = service.acquire(ANYONE, pool, owner="o", ttl=0.2, request_id="r")
            service.acquire(ANYONE, pool, owner="o", ttl=0.2, request_id="r")
            other = service.acquire(ANYONE, pool, ttl=3600)
            service.renew(ANYONE, other.obj, other.token, pool, ttl=3600)
            service.lease(other.obj, pool)
            service.leases(pool)
            ticket = store.join_queue(pool)
            service.free(ANYONE, other.obj, pool)
            # The waiter is woken by the free: the wait room asks its head script.
            assert store.wait_until_woken(ticket, 5)
            store.leave_queue(ticket)
            # Nothing else runs on the pool now: this process's reaper reclaims
            # the lease of 0.2 s.
            wait_until(expired(service, pool, held.obj), 10, "the reaper's EXPIRED")
        service.pools()
        service.resize_pool(ROOT, "gpu.a-1:x", 1)
        service.resize_pool(ROOT, "gpu.a-1:x", 5)
        service.delete_pool(ROOT, "gpu.a-1:x", force=True)
        client.echo(END)
        seen = list(monitored(monitor))

    scripts = [command for command in seen if command.args[0].upper() == "EVALSHA"]
    ran = {name for name, script in SCRIPTS.items() for c in scripts if c.args[1] == script.sha}
    assert ran >= {"create", "acquire", "renew", "free", "lease", "leases", "join", "head"}
    assert ran >= {"leave", "reap", "stats", "resize", "delete"}
    declared = {key for command in scripts for key in declared_keys(command)}
    from_lua = [command for command in seen if command.source == "lua"]
    assert any(command.args[0].upper() == "XADD" for command in from_lua)
    tags = {pool: f"objmgr:{{pool:{pool}}}:" for pool in ("default", "gpu.a-1:x")}
    for command in from_lua:
        if command.args[0].upper() in KEYLESS:
            continue
        for key in keys_of(client, command):
            tagged = next((name for name, tag in tags.items() if key.startswith(tag)), None)
            assert tagged is not None, (key, command)
            assert key_slot(key.encode()) == key_slot(f"pool:{tagged}".encode())
            # Sessions are looked up by the waiters' ids, so they cannot be declared
            # beforehand; every other key is one of the script's KEYS.
            part = key.removeprefix(tags[tagged])
            assert key in declared or part.startswith("session:"), (key, command)


def expired(service: LeaseService, pool: str, obj: int) -> Callable[[], bool]:
    def journaled() -> bool:
        return any((e.kind, e.obj) == (EventKind.EXPIRED, obj) for e in journal(service, pool))

    return journaled


def keys_of(client: redis.Redis, command: Seen) -> list[str]:
    """The keys of a command, as Redis itself finds them in its arguments."""
    keys = client.command_getkeys(*command.args)
    return [key.decode() if isinstance(key, bytes) else str(key) for key in keys]


def declared_keys(command: Seen) -> list[str]:
    """The KEYS of an EVALSHA: sha, their count, then the keys."""
    count = int(command.args[2])
    return list(command.args[3 : 3 + count])
