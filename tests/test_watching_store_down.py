"""Watching while the store is away: a real redis-server stopped, paused and restarted."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.pool.events import EventKind
from app.stores.redis import RedisStore
from app.watching import STORE_UNAVAILABLE, StreamEnded, WatchHub, WatchLimits, WatchRefused

from .support.redis_server import RedisServer

ARRIVAL = 10.0
#: Bounds the reads a test makes of a stream that returns None while it retries.
MAX_READS = 200


@pytest.fixture
def store(own_redis: RedisServer) -> Iterator[RedisStore]:
    store = RedisStore(own_redis.url, default_pool=("default", 10))
    store.open()
    yield store
    store.close()


def test_a_short_outage_loses_nothing(own_redis: RedisServer, store: RedisStore) -> None:
    hub = WatchHub(store, WatchLimits(store_patience=60.0))
    try:
        stream = hub.subscribe("default", None, None)
        store.resize_pool("default", 11)
        first = stream.get(ARRIVAL)
        assert first is not None and first.size == 11
        own_redis.restart()
        store.resize_pool("default", 12)
        event = None
        for _ in range(MAX_READS):
            event = stream.get(ARRIVAL)
            if event is not None:
                break
        assert event is not None
        assert (event.seq, event.kind, event.size) == (first.seq + 1, EventKind.POOL_RESIZED, 12)
    finally:
        hub.shut_down()


def test_a_long_outage_ends_streams_with_store_unavailable(
    own_redis: RedisServer, store: RedisStore
) -> None:
    hub = WatchHub(store, WatchLimits(store_patience=0.5))
    try:
        stream = hub.subscribe("default", None, None)
        own_redis.stop()
        with pytest.raises(StreamEnded) as ended:
            for _ in range(MAX_READS):
                stream.get(ARRIVAL)
        assert ended.value.code == STORE_UNAVAILABLE
        assert "after" in ended.value.message
        assert hub.open_streams() == 0
        # Opening one needs the journal's end: refused while the store is away.
        with pytest.raises(WatchRefused) as refused:
            hub.subscribe("default", None, None)
        assert refused.value.code == STORE_UNAVAILABLE
        own_redis.start()
        again = hub.subscribe("default", 0, None)
        created = again.get(ARRIVAL)
        assert created is not None and created.kind is EventKind.POOL_CREATED
    finally:
        hub.shut_down()


def test_a_replay_from_a_store_gone_away_ends_with_store_unavailable(
    own_redis: RedisServer, store: RedisStore
) -> None:
    """The replay reads the journal itself: it retries, then gives up the same way."""
    for size in range(11, 15):
        store.resize_pool("default", size)
    hub = WatchHub(store, WatchLimits(store_patience=0.5))
    try:
        stream = hub.subscribe("default", 0, None)
        own_redis.stop()
        with pytest.raises(StreamEnded) as ended:
            for _ in range(MAX_READS):
                stream.get(ARRIVAL)
        assert ended.value.code == STORE_UNAVAILABLE
    finally:
        hub.shut_down()
