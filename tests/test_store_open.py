"""What `open()` makes, and that a health check makes nothing.

`open()` makes the default pool (and, for SQLite, the file on a first start);
an operation opens a store nobody opened; `ping()` only looks and
`check_ready()` writes its scratch row or key only. Checked with a real
SQLite file and a real redis-server, read with their own clients.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from app import Settings, create_app
from app.pool.errors import StoreUnavailable
from app.pool.lease import AcquireRequest
from app.stores.base import Store
from app.stores.memory import MemoryStore
from app.stores.redis import STORE_MARK, RedisStore
from app.stores.redis.model import READY_KEY, pool_keys
from app.stores.sqlite import SQLiteStore

from .support.redis_server import RedisServer

DEFAULT = ("default", 5)


def dump(path: Path) -> list[str]:
    """Every row of the database, as SQL."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return list(conn.iterdump())


def pool_names(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [name for (name,) in conn.execute("SELECT name FROM pools ORDER BY name")]


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client


def keys_of(client: redis.Redis) -> set[str]:
    return {key.decode() for key in client.keys("*")}


# SQLite --------------------------------------------------------------------


def test_a_ping_on_a_fresh_path_makes_no_file(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db" / "objmgr.sqlite3", default_pool=DEFAULT)
    with pytest.raises(StoreUnavailable):
        store.ping()
    assert list(tmp_path.iterdir()) == []
    store.close()


def test_a_readiness_check_on_a_fresh_path_makes_no_pool(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    store = SQLiteStore(path, default_pool=DEFAULT)
    store.check_ready()
    assert pool_names(path) == []
    store.close()


def test_a_ping_writes_nothing_where_the_default_pool_was_deleted(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    first = SQLiteStore(path, default_pool=DEFAULT)
    first.open()
    first.delete_pool("default", force=False)
    first.close()
    before = dump(path)

    another = SQLiteStore(path, default_pool=DEFAULT)
    another.ping()
    assert dump(path) == before
    another.check_ready()
    assert pool_names(path) == []
    another.close()


def test_a_ping_migrates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE pools (name TEXT PRIMARY KEY, size INTEGER NOT NULL)")
        conn.commit()
    before = dump(path)
    store = SQLiteStore(path, default_pool=DEFAULT)
    with pytest.raises(StoreUnavailable):
        store.ping()
    assert dump(path) == before
    store.close()


def test_the_app_factory_opens_the_store(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    app = create_app(Settings(store=f"sqlite:///{path}", pool_size=3, workers=1))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT name, size FROM pools").fetchall() == [("default", 3)]
    app.extensions["objmgr"].store.close()


# Redis ---------------------------------------------------------------------


def test_a_ping_on_an_empty_redis_writes_nothing(redis_url: str, client: redis.Redis) -> None:
    store = RedisStore(redis_url, default_pool=DEFAULT)
    store.ping()
    assert client.dbsize() == 0
    store.check_ready()
    assert keys_of(client) == {READY_KEY}
    store.close()


def test_a_ping_where_the_default_pool_was_deleted_writes_nothing(
    redis_url: str, client: redis.Redis
) -> None:
    first = RedisStore(redis_url, default_pool=DEFAULT)
    first.open()
    first.delete_pool("default", force=False)
    first.close()
    before = keys_of(client)
    assert STORE_MARK in before and pool_keys("default")[0] not in before

    another = RedisStore(redis_url, default_pool=DEFAULT)
    another.ping()
    another.check_ready()
    assert keys_of(client) - {READY_KEY} == before - {READY_KEY}
    another.close()


def test_open_loads_every_script_and_makes_the_default_pool(
    redis_url: str, client: redis.Redis
) -> None:
    from app.stores.redis.commands import SCRIPTS

    store = RedisStore(redis_url, default_pool=DEFAULT)
    store.open()
    assert all(client.script_exists(*(script.sha for script in SCRIPTS.values())))
    assert client.exists(STORE_MARK, pool_keys("default")[0]) == 2
    store.close()


def test_a_redis_that_lost_its_data_gets_the_default_pool_from_an_operation(
    own_redis: RedisServer,
) -> None:
    store = RedisStore(own_redis.url, default_pool=DEFAULT, socket_timeout=0.5)
    store.open()
    store.acquire(AcquireRequest("default"))
    own_redis.kill()
    for entry in own_redis.datadir.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
    own_redis.start()
    with own_redis.client() as client:
        store.ping()
        store.check_ready()
        assert keys_of(client) == {READY_KEY}
        stats = store.pool("default")
        assert stats is not None and (stats.size, stats.in_use) == (5, 0)
    store.close()


# Every store ---------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Makes stores on one state, each given the default pool, none opened."""
    made: list[Store] = []

    def make() -> Store:
        store: Store
        if request.param == "memory":
            store = made[0] if made else MemoryStore(default_pool=DEFAULT)
        elif request.param == "sqlite":
            store = SQLiteStore(tmp_path / "objmgr.sqlite3", default_pool=DEFAULT)
        else:
            store = RedisStore(request.getfixturevalue("redis_url"), default_pool=DEFAULT)
        made.append(store)
        return store

    yield make
    for store in set(made):
        store.close()


def test_opening_twice_changes_nothing(open_store: Callable[[], Store]) -> None:
    store = open_store()
    store.open()
    lease = store.acquire(AcquireRequest("default"))
    store.resize_pool("default", 7)
    store.open()
    open_store().open()
    stats = store.pool("default")
    assert stats is not None and (stats.size, stats.in_use) == (7, 1)
    assert store.lease("default", lease.obj) == lease


def test_an_operation_opens_a_store_nobody_opened(open_store: Callable[[], Store]) -> None:
    store = open_store()
    assert store.acquire(AcquireRequest("default")).obj == 1
    stats = store.pool("default")
    assert stats is not None and stats.size == DEFAULT[1]


def test_a_default_pool_deleted_stays_deleted_for_the_store_that_deleted_it(
    open_store: Callable[[], Store],
) -> None:
    store = open_store()
    store.open()
    store.delete_pool("default", force=False)
    store.ping()
    store.check_ready()
    store.open()
    assert store.pool("default") is None
