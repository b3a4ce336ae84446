"""The stores a hypothesis state machine runs against, one mixin each.

A machine class defines `make_store(clock)` as abstract and its rules; a
test module then makes one machine per store by putting a mixin first
(`class SQLitePool(OnSQLite, PoolMachine)`). A state machine gets no pytest
fixtures, so the Redis mixin reads its server's URL from a class attribute
that the module's autouse fixture sets (`use_redis_url`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import redis

from app.stores.base import Store
from app.stores.memory import MemoryStore
from app.stores.redis import RedisStore
from app.stores.sqlite import SQLiteStore

from .conftest import Clock


class OnMemory:
    def make_store(self, clock: Clock) -> Store:
        return MemoryStore(clock=clock)


class OnSQLite:
    def make_store(self, clock: Clock) -> Store:
        self._dir = tempfile.TemporaryDirectory()
        return SQLiteStore(Path(self._dir.name) / "machine.sqlite3", clock=clock)

    def teardown(self) -> None:
        super().teardown()  # type: ignore[misc]
        self._dir.cleanup()


class OnRedis:
    url = ""  # set by use_redis_url

    def make_store(self, clock: Clock) -> Store:
        with redis.Redis.from_url(self.url) as client:
            client.flushdb()  # hypothesis runs many examples in one test
        return RedisStore(self.url, clock=clock)


def use_redis_url(
    request: pytest.FixtureRequest, test_case: type[Any], machine: type[OnRedis]
) -> None:
    """In a module's autouse fixture: give `machine` the session's redis-server
    when the test running is `test_case`'s."""
    if request.cls is test_case:
        machine.url = request.getfixturevalue("redis_url")
