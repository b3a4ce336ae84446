"""Fan-out: one encoding of each event's result for every subscriber, and a subscriber's
wake-ups (no lost one, no gap or repeat, its bound and its end) as before."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

import pytest

from app.api import ws_protocol as protocol
from app.api.subscriptions import Result, SubscriptionRequest
from app.pool.events import Event, EventKind
from app.pool.lease import Caller
from app.stores.base import Store
from app.watching import SLOW_CONSUMER, StreamEnded, WatchLimits
from app.watching.stream import Subscriber

from .api_support import Api
from .sse_support import POOL_EVENTS, open_stream
from .test_api_subscriptions import resize

#: Long enough for any wake-up on a loaded machine; only a failing test waits it out.
ARRIVAL = 10.0
ADMIN = Caller.auth_off()


def test_subscribers_of_a_document_share_one_encoding_of_each_result(api: Api) -> None:
    gate = api.app.extensions["objmgr.subscriptions"]
    subscriptions = [gate.open(SubscriptionRequest(POOL_EVENTS), ADMIN) for _ in range(3)]
    try:
        resize(api, 8)
        results = [subscription.next(ARRIVAL) for subscription in subscriptions]
        first = results[0]
        assert isinstance(first, Result)
        assert all(result is first for result in results)
        assert json.loads(first.json) == dict(first) == first.body
        assert first["data"]["poolEvents"]["size"] == 8
        assert first.sse_frame == b"event: next\ndata: " + first.json.encode() + b"\n\n"
        # The WebSocket's next wraps the same JSON, as encoding the whole message would.
        wrapped = protocol.next_message_of_json("op-1", first.json)
        assert wrapped == protocol.next_message("op-1", first.body)
        assert json.loads(wrapped) == {"id": "op-1", "type": "next", "payload": first.body}
    finally:
        for subscription in subscriptions:
            subscription.close()


def test_an_sse_stream_writes_the_shared_frame_as_one_chunk(api: Api) -> None:
    gate = api.app.extensions["objmgr.subscriptions"]
    beside = gate.open(SubscriptionRequest(POOL_EVENTS), ADMIN)
    response = open_stream(api.app)
    try:
        chunks = iter(response.response)
        assert next(chunks).startswith(b":")  # the opening comment
        resize(api, 9)
        shared = beside.next(ARRIVAL)
        assert shared is not None and shared["data"]["poolEvents"]["size"] == 9
        assert next(chunks) == shared.sse_frame
    finally:
        response.close()
        beside.close()


# the subscriber's wake-ups, with real threads ---------------------------------------


def event(seq: int) -> Event:
    return Event(pool="default", seq=seq, kind=EventKind.POOL_RESIZED, at=0.0, size=seq)


@pytest.fixture
def subscriber(store: Store) -> Iterator[Callable[..., Subscriber]]:
    """A subscriber that joined at seq 0 (no replay): its events come only from `offer`."""
    made: list[Subscriber] = []

    def make(buffer: int = 1000) -> Subscriber:
        made.append(
            Subscriber(store, "default", 0, 0, None, WatchLimits(buffer=buffer), lambda _gone: None)
        )
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_every_event_offered_while_the_reader_waits_comes_once_in_order(
    subscriber: Callable[..., Subscriber],
) -> None:
    """One event an offer, the reader between waits: a lost wake-up would leave it
    waiting out ARRIVAL and return None."""
    count = 2000
    # Room for every offer: a reader that a loaded host holds back is slow, not lost.
    stream = subscriber(buffer=2 * count)
    taken: list[int] = []
    reading = threading.Thread(
        target=lambda: taken.extend(_seq_of(stream.get(ARRIVAL)) for _ in range(count))
    )
    reading.start()
    for seq in range(1, count + 1):
        # Repeats (as a replay and the follower overlap) are skipped by the reader.
        stream.offer([event(seq - 1), event(seq)] if seq % 7 == 0 else [event(seq)])
    reading.join(ARRIVAL * 2)
    assert not reading.is_alive()
    assert taken == list(range(1, count + 1))


def test_a_waiting_reader_is_woken_by_the_end(subscriber: Callable[..., Subscriber]) -> None:
    stream = subscriber()
    ended: list[StreamEnded] = []
    waiting = threading.Event()

    def read() -> None:
        waiting.set()
        try:
            stream.get(ARRIVAL * 3)
        except StreamEnded as end:
            ended.append(end)

    reading = threading.Thread(target=read)
    reading.start()
    assert waiting.wait(ARRIVAL)
    stream.end(SLOW_CONSUMER, "behind")
    reading.join(ARRIVAL)
    assert not reading.is_alive()
    assert [end.code for end in ended] == [SLOW_CONSUMER]


def test_the_buffer_stays_bounded_and_the_first_reason_stays(
    subscriber: Callable[..., Subscriber],
) -> None:
    stream = subscriber(buffer=3)
    stream.offer([event(1), event(2)])
    stream.offer([event(3), event(4)])  # over the bound: dropped, not buffered
    stream.end("CLOSED", "later")
    with pytest.raises(StreamEnded) as ended:
        stream.get(ARRIVAL)
    assert ended.value.code == SLOW_CONSUMER


def test_a_get_with_nothing_offered_returns_none(subscriber: Callable[..., Subscriber]) -> None:
    assert subscriber().get(0.01) is None


def _seq_of(got: Event | None) -> int:
    return -1 if got is None else got.seq
