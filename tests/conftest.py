"""Shared fixtures: a clock the tests move, a real redis-server, and a store of every kind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import Settings, create_app
from app.service import LeaseService
from app.stores.base import Store
from app.stores.memory import MemoryStore
from app.stores.sqlite import SQLiteStore

from .api_support import Api, MakeApi, memory_app
from .support.redis_cluster import RedisCluster, launch_cluster
from .support.redis_sentinel import SentinelRedis, launch_sentinels
from .support.redis_server import DebuggableRedisServer, RedisServer, launch_redis


class Clock:
    """Seconds since the epoch that move only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


StoreFactory = Callable[[], Store]

STORE_KINDS = ["memory", "sqlite", "redis", "redis-cluster"]


@pytest.fixture(autouse=True)
def every_redis_store_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each Redis store a test opens is closed after it: an open one keeps its
    threads (the waiters' session, the listener) writing into the server the
    next test empties and reads."""
    from app.stores.redis import RedisStore

    opened: list[RedisStore] = []
    init = RedisStore.__init__

    def recorded(store: RedisStore, *args: Any, **kwargs: Any) -> None:
        init(store, *args, **kwargs)
        opened.append(store)

    monkeypatch.setattr(RedisStore, "__init__", recorded)
    yield
    for store in opened:
        store.close()


@pytest.fixture(scope="module")
def sentinels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelRedis]:
    """A primary, its replica and three Sentinels, for the module that asks."""
    topology = launch_sentinels(tmp_path_factory.mktemp("sentinels"))
    yield topology
    topology.close()


@pytest.fixture
def watched(sentinels: SentinelRedis) -> SentinelRedis:
    """The module's Sentinel topology, both nodes replicating and the data emptied."""
    sentinels.reset()
    return sentinels


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session, not the one a developer may run on 6379."""
    server = launch_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def emptied(redis_server: RedisServer) -> str:
    """The URL of the session's server, at db 0, with nothing in it."""
    if not redis_server.running:  # a test that killed it and failed before starting it again
        redis_server.start()
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's server, emptied for this test, at db 0."""
    return emptied(redis_server)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """One three-primary Redis Cluster for the session, started on first use."""
    with launch_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisCluster) -> str:
    """The session's cluster, emptied on every primary for this test."""
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, free to be killed, paused and restarted."""
    server = launch_redis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def debug_redis(tmp_path: Path) -> Iterator[DebuggableRedisServer]:
    """As `own_redis`, with DEBUG commands enabled (DEBUG SLEEP hangs it for real)."""
    server = launch_redis(tmp_path / "redis", DebuggableRedisServer)
    yield server
    server.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "events_keep(n): the stores of `store_factory` keep n events per pool"
    )


def _factory(
    kind: str, tmp_path: Path, clock: Clock, request: pytest.FixtureRequest
) -> StoreFactory:
    # Only a test that asks for a journal's length passes one: the others open
    # every store as the server does, with its default.
    keep = request.node.get_closest_marker("events_keep")
    options: dict[str, int] = {} if keep is None else {"events_keep": int(keep.args[0])}
    if kind == "memory":
        shared = MemoryStore(clock=clock, **options)
        return lambda: shared
    if kind == "sqlite":
        path = tmp_path / "objmgr.sqlite3"
        return lambda: SQLiteStore(path, clock=clock, **options)
    if kind == "redis":
        redis_url = request.getfixturevalue("redis_url")
        from app.stores.redis import RedisStore

        return lambda: RedisStore(redis_url, clock=clock, **options)
    if kind == "redis-cluster":
        cluster_url = request.getfixturevalue("redis_cluster_url")
        from app.stores.redis import RedisStore

        return lambda: RedisStore(cluster_url, clock=clock, **options)
    raise ValueError(kind)


@pytest.fixture(params=STORE_KINDS)
def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
) -> Iterator[StoreFactory]:
    """Opens stores that share one state, as workers or hosts do."""
    opened: list[Store] = []
    make = _factory(request.param, tmp_path, clock, request)

    def open_one() -> Store:
        store = make()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    store = store_factory()
    store.ensure_pool("default", 10)
    return store


@pytest.fixture
def service(store: Store) -> LeaseService:
    return LeaseService(store, max_wait=5.0)


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL of every kind; the Redis one is the session's server, emptied."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/objmgr.sqlite3"
    if request.param == "redis-cluster":
        return str(request.getfixturevalue("redis_cluster_url"))
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def make_api(store_url: str) -> Iterator[MakeApi]:
    """Apps on one store; a second app shares the first one's state, as workers do."""
    apps: list[Flask] = []

    def make(pool_size: int = 3, **options: Any) -> Api:
        app = create_app(Settings(store=store_url, pool_size=pool_size, workers=1, **options))
        apps.append(app)
        return Api(app)

    yield make
    for app in apps:
        app.extensions["objmgr"].store.close()


@pytest.fixture
def api(make_api: MakeApi) -> Api:
    """The API through Flask's test client: a pool `default` of 3 objects, auth off, on every
    store."""
    return make_api(pool_size=3)


@pytest.fixture
def http() -> Api:
    """For HTTP-level behaviour, which does not depend on the store."""
    return Api(memory_app(pool_size=3))
