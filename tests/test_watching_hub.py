"""The WatchHub on every store: replay then live, no gap or repeat, its limits and endings."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from app.pool.events import Event, EventKind
from app.pool.lease import AcquireRequest, Caller
from app.stores.base import Store
from app.watching import (
    EVENTS_TRIMMED,
    SHUTTING_DOWN,
    SLOW_CONSUMER,
    TOO_MANY_SUBSCRIPTIONS,
    EventStream,
    StreamEnded,
    WatchHub,
    WatchLimits,
    WatchRefused,
)
from app.watching.positions import last_seq

from .conditions import wait_until
from .conftest import StoreFactory

#: Long enough for any event to arrive on a loaded machine; only a failing test waits it out.
ARRIVAL = 10.0
ADMIN = Caller.auth_off()


@pytest.fixture
def hub(store: Store) -> Iterator[WatchHub]:
    hub = WatchHub(store, WatchLimits())
    yield hub
    hub.shut_down()


def change(store: Store, times: int = 1) -> None:
    """`times` events: a grant each, its object freed every other time."""
    for index in range(times):
        if index % 2:
            store.free("default", store.acquire(AcquireRequest("default")).obj, ADMIN, None)
        else:
            store.resize_pool("default", 10 + index)


def read(stream: EventStream, count: int) -> list[Event]:
    events = []
    for _ in range(count):
        event = stream.get(ARRIVAL)
        assert event is not None, f"only {len(events)} of {count} events came"
        events.append(event)
    return events


def seqs(events: list[Event]) -> list[int]:
    return [event.seq for event in events]


def test_after_null_gives_only_what_comes_next(store: Store, hub: WatchHub) -> None:
    change(store, 3)
    before = last_seq(store, "default")
    stream = hub.subscribe("default", None, None)
    store.resize_pool("default", 42)
    [event] = read(stream, 1)
    assert (event.seq, event.kind, event.size) == (before + 1, EventKind.POOL_RESIZED, 42)
    assert stream.get(0.05) is None


def test_replay_from_after_then_live_in_order(store: Store, hub: WatchHub) -> None:
    change(store, 5)
    end = last_seq(store, "default")
    stream = hub.subscribe("default", 2, None)
    store.resize_pool("default", 7)
    events = read(stream, end - 2 + 1)
    assert seqs(events) == list(range(3, end + 2))
    assert events[-1].size == 7
    # Replay and live agree with the journal itself, field for field.
    assert events == store.events("default", 2, 100)


def test_last_seq_finds_the_end_however_far(store: Store) -> None:
    assert last_seq(store, "never-made") == 0
    change(store, 37)
    end = store.events("default", 0, 1000)[-1].seq
    assert last_seq(store, "default") == end
    assert last_seq(store, "default", known=end - 5) == end
    assert last_seq(store, "default", known=end) == end


def test_hand_over_under_concurrent_changes(store: Store, hub: WatchHub) -> None:
    """Subscribers joining while changes are committed, from every point of the
    journal, each get every seq after theirs exactly once, in order."""
    change(store, 4)
    total = 120
    done = threading.Event()

    def changer() -> None:
        try:
            change(store, total)
        finally:
            done.set()

    worker = threading.Thread(target=changer)
    worker.start()
    streams: list[tuple[int, EventStream]] = []
    try:
        for index in range(12):
            after = max(0, last_seq(store, "default") - (index % 4) * 7)
            streams.append((after, hub.subscribe("default", after, None)))
        wait_until(done.is_set, 60, "the changes")
    finally:
        worker.join(60)
    end = last_seq(store, "default")
    for after, stream in streams:
        assert seqs(read(stream, end - after)) == list(range(after + 1, end + 1))
        assert stream.get(0.05) is None


@pytest.mark.events_keep(20)
def test_a_replay_past_the_journal_ends_with_events_trimmed(store: Store, hub: WatchHub) -> None:
    # Redis trims whole stream nodes, keeping fewer than keep + 100 events.
    change(store, 20 + 130)
    stream = hub.subscribe("default", 1, None)
    with pytest.raises(StreamEnded) as ended:
        stream.get(ARRIVAL)
    assert ended.value.code == EVENTS_TRIMMED
    # One that asks only for what is kept reads on.
    end = last_seq(store, "default")
    kept = hub.subscribe("default", end - 10, None)
    assert seqs(read(kept, 10)) == list(range(end - 9, end + 1))


def test_a_slow_consumer_is_dropped_and_no_one_else(store: Store) -> None:
    hub = WatchHub(store, WatchLimits(buffer=5))
    try:
        slow = hub.subscribe("default", None, None)
        keeping_up = hub.subscribe("default", None, None)
        start = last_seq(store, "default")
        for index in range(12):
            change(store)
            assert read(keeping_up, 1)[0].seq == start + index + 1
        with pytest.raises(StreamEnded) as ended:
            slow.get(ARRIVAL)
        assert ended.value.code == SLOW_CONSUMER
        assert hub.open_streams() == 1
    finally:
        hub.shut_down()


def test_limits_per_worker_and_per_principal(store: Store) -> None:
    hub = WatchHub(store, WatchLimits(per_worker=3, per_principal=2))
    try:
        first = hub.subscribe("default", None, "ann")
        hub.subscribe("default", None, "ann")
        with pytest.raises(WatchRefused) as refused:
            hub.subscribe("other", None, "ann")
        assert refused.value.code == TOO_MANY_SUBSCRIPTIONS
        hub.subscribe("default", None, None)
        with pytest.raises(WatchRefused) as refused:
            hub.subscribe("default", None, "bob")
        assert refused.value.code == TOO_MANY_SUBSCRIPTIONS
        # A closed stream frees its place at once.
        first.close()
        first.close()
        hub.subscribe("default", None, "bob")
        assert hub.open_streams() == 3
    finally:
        hub.shut_down()


def test_shut_down_ends_every_stream_and_refuses_new_ones(store: Store, hub: WatchHub) -> None:
    streams = [hub.subscribe(pool, None, None) for pool in ("default", "default", "p2")]
    waiting: list[BaseException] = []

    def reader() -> None:
        try:
            streams[0].get(ARRIVAL)
        except StreamEnded as error:
            waiting.append(error)

    thread = threading.Thread(target=reader)
    thread.start()
    hub.shut_down()
    thread.join(ARRIVAL)
    assert [error.code for error in waiting if isinstance(error, StreamEnded)] == [SHUTTING_DOWN]
    for stream in streams[1:]:
        with pytest.raises(StreamEnded) as ended:
            stream.get(ARRIVAL)
        assert ended.value.code == SHUTTING_DOWN
    with pytest.raises(WatchRefused) as refused:
        hub.subscribe("default", None, None)
    assert refused.value.code == SHUTTING_DOWN
    wait_until(lambda: hub.followers() == 0, ARRIVAL, "the followers to stop")


def test_one_follower_per_pool_stopped_after_the_last_leaves(
    store_factory: StoreFactory,
) -> None:
    """Followers follow commits of another store object (another worker or host)."""
    store, elsewhere = store_factory(), store_factory()
    store.ensure_pool("default", 10)
    hub = WatchHub(store, WatchLimits())
    try:
        streams = [hub.subscribe("default", None, None) for _ in range(5)]
        assert hub.followers() == 1
        change(elsewhere)
        for stream in streams:
            assert read(stream, 1)[0].kind is EventKind.POOL_RESIZED
        for stream in streams:
            stream.close()
        assert hub.open_streams() == 0
        wait_until(lambda: hub.followers() == 0, ARRIVAL, "the follower to stop")
    finally:
        hub.shut_down()
