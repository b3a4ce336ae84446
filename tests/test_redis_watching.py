"""What only the Redis store's following of journals has: a blocking stream read on a
connection of its own per pool, STORE_UNAVAILABLE when Redis is killed or hangs and
the read again once it is back, and connections let go once unused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from app.pool.errors import StoreUnavailable
from app.pool.events import EventKind
from app.pool.lease import AcquireRequest
from app.stores.redis import RedisStore, following

from .conditions import wait_until
from .support.redis_server import RedisServer
from .test_store_watching import BOUND, LONG, Follower, no_recheck

__all__ = ["no_recheck"]  # the recheck lengthened here too


def xread_clients(url: str) -> int:
    """Connections whose last command was XREAD: the followers'."""
    with redis.Redis.from_url(url) as client:
        return sum(1 for c in client.client_list() if c.get("cmd") == "xread")


def blocked(url: str) -> bool:
    with redis.Redis.from_url(url) as client:
        return any(
            "b" in str(c.get("flags", "")) and c.get("cmd") == "xread" for c in client.client_list()
        )


@pytest.fixture
def store(own_redis: RedisServer) -> Iterator[RedisStore]:
    store = RedisStore(own_redis.url, default_pool=("default", 2))
    store.open()
    yield store
    store.close()


def test_a_killed_redis_ends_the_wait_and_the_read_comes_back_with_it(
    store: RedisStore, own_redis: RedisServer
) -> None:
    follower = Follower(store, after=1)
    follower.start()
    wait_until(lambda: blocked(own_redis.url), BOUND, "the follower to block")
    own_redis.kill()
    follower.join(BOUND)
    assert not follower.is_alive()
    assert isinstance(follower.error, StoreUnavailable)
    # While it is down, every call says so (the connection is refused).
    with pytest.raises(StoreUnavailable):
        store.wait_for_events("default", 1, 10, LONG)
    own_redis.start()
    # Back with its data: the next call connects again and follows on.
    lease = store.acquire(AcquireRequest("default"))
    events = store.wait_for_events("default", 1, 10, LONG)
    assert [(e.kind, e.token) for e in events] == [(EventKind.GRANTED, lease.token)]


def test_a_hanging_redis_is_unavailable_after_the_block_and_the_socket_timeout(
    own_redis: RedisServer,
) -> None:
    store = RedisStore(own_redis.url, default_pool=("default", 2), socket_timeout=0.2)
    try:
        store.open()
        # Its connection made first, so that the read itself meets the hang.
        assert store.wait_for_events("default", 1, 10, 0.05) == []
        own_redis.pause()
        try:
            with pytest.raises(StoreUnavailable):
                store.wait_for_events("default", 1, 10, 0.2)
        finally:
            own_redis.resume()
        assert store.wait_for_events("default", 0, 10, 0.2)[0].kind is EventKind.POOL_CREATED
    finally:
        store.close()


def test_one_connection_per_pool_followed_let_go_once_unused(
    store: RedisStore, own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create_pool("other", 1)
    for _ in range(3):
        store.wait_for_events("default", 1, 10, 0.05)
    store.wait_for_events("other", 1, 10, 0.05)
    assert xread_clients(own_redis.url) == 2
    # Unused for longer than that: the next read of any pool closes it.
    monkeypatch.setattr(following, "IDLE_AFTER", 0.0)
    store.wait_for_events("other", 1, 10, 0.05)
    wait_until(lambda: xread_clients(own_redis.url) == 1, BOUND, "the idle one to close")
    store.close()
    wait_until(lambda: xread_clients(own_redis.url) == 0, BOUND, "the last one to close")
