"""Subscriptions over GraphQL over SSE against live gunicorn servers with 2 workers."""

from __future__ import annotations

import os
import signal

import pytest

from .sse_client import EVENT_STREAM, LiveStream, StreamGone
from .support import STOP_TIMEOUT, GraphQL, LiveServer, wait_until

pytestmark = pytest.mark.live

RESIZE = 'mutation($size: Int!) { resizePool(name: "default", size: $size) { success } }'


def resize(base_url: str, *sizes: int) -> None:
    """Each resize on a connection of its own, so the kernel spreads them over the workers."""
    for size in sizes:
        client = GraphQL(base_url)
        try:
            assert client.data(RESIZE, {"size": size})["resizePool"]["success"]
        finally:
            client.close()


def last_seq(base_url: str) -> int:
    client = GraphQL(base_url)
    try:
        after, last = 0, 0
        for _ in range(100):
            page = client.data(
                "query($a: BigInt) { events(after: $a, first: 1000) { seq } }", {"a": after}
            )["events"]
            if not page:
                return last
            after = last = page[-1]["seq"]
        raise AssertionError("the journal is longer than the test reads")
    finally:
        client.close()


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    live_server.start()
    return live_server


def test_events_caused_through_the_other_worker_arrive_in_order(server: LiveServer) -> None:
    first, second = server.workers()
    with server.only_worker(first):
        stream = LiveStream(server.base_url)
    try:
        assert stream.status == 200
        assert stream.headers["Content-Type"] == EVENT_STREAM
        start = last_seq(server.base_url)
        with server.only_worker(second):
            resize(server.base_url, *range(10, 30))
        events = [stream.event() for _ in range(20)]
        assert [e["seq"] for e in events] == list(range(start + 1, start + 21))
        assert [e["size"] for e in events] == list(range(10, 30))
    finally:
        stream.close()


def test_replay_with_after_then_live(server: LiveServer) -> None:
    resize(server.base_url, 5, 6, 7)
    end = last_seq(server.base_url)
    stream = LiveStream(server.base_url, after=end - 3)
    try:
        assert [stream.event()["size"] for _ in range(3)] == [5, 6, 7]
        resize(server.base_url, 8)
        event = stream.event()
        assert (event["seq"], event["kind"], event["size"]) == (end + 1, "POOL_RESIZED", 8)
    finally:
        stream.close()


def test_a_killed_worker_loses_nothing_for_a_client_that_resumes(server: LiveServer) -> None:
    """The client reads some events, its worker is SIGKILLed while changes go on
    through the other; it reconnects with its last seq and gets the rest, each once."""
    first, second = server.workers()
    start = last_seq(server.base_url)
    with server.only_worker(first):
        stream = LiveStream(server.base_url, after=start)
    seen: list[int] = []
    try:
        resize(server.base_url, *range(10, 15))
        seen += [stream.event()["seq"] for _ in range(5)]
        with server.only_worker(second):
            server.kill_worker(first)
            resize(server.base_url, *range(15, 25))
        with pytest.raises(StreamGone):
            for _ in range(100):
                seen.append(stream.event()["seq"])
    finally:
        stream.close()
    resumed = LiveStream(server.base_url, after=seen[-1])
    try:
        resize(server.base_url, 99)
        while not seen or seen[-1] < start + 16:
            seen.append(resumed.event()["seq"])
    finally:
        resumed.close()
    assert seen == list(range(start + 1, start + 17))


def test_a_client_that_hangs_up_frees_its_place_at_once(live_server: LiveServer) -> None:
    live_server.start({"OBJMGR_WORKERS": "1", "OBJMGR_MAX_SUBSCRIPTIONS": "1"})
    stream = LiveStream(live_server.base_url)
    assert stream.status == 200
    refused = LiveStream(live_server.base_url)
    assert refused.status == 429
    assert refused.refusal is not None
    assert refused.refusal["errors"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    stream.close()
    opened: list[LiveStream] = []

    def reopened() -> bool:
        again = LiveStream(live_server.base_url)
        if again.status == 200:
            opened.append(again)
        return bool(opened)

    try:
        # No event and no keepalive is written meanwhile: the hang-up itself frees it.
        wait_until(reopened, 5, "the place of the closed stream")
        resize(live_server.base_url, 9)
        assert opened[0].event()["size"] == 9
    finally:
        for again in opened:
            again.close()


def test_a_graceful_stop_ends_streams_with_complete(server: LiveServer) -> None:
    streams = [LiveStream(server.base_url) for _ in range(4)]
    try:
        resize(server.base_url, 12)
        for stream in streams:
            assert stream.event()["size"] == 12
        os.kill(server.pid, signal.SIGTERM)
        for stream in streams:
            assert stream.ending() == "SHUTTING_DOWN"
        assert server.process is not None
        # Well before graceful_timeout: nothing held the workers once the streams ended.
        assert server.process.wait(timeout=STOP_TIMEOUT) == 0
    finally:
        for stream in streams:
            stream.close()


def test_redis_events_of_another_host_arrive_in_order(
    redis_hosts: tuple[LiveServer, LiveServer],
) -> None:
    watcher, changer = redis_hosts
    start = last_seq(changer.base_url)
    streams = [LiveStream(watcher.base_url) for _ in range(3)]
    replaying = LiveStream(watcher.base_url, after=0)
    try:
        resize(changer.base_url, *range(20, 35))
        for stream in streams:
            events = [stream.event() for _ in range(15)]
            assert [e["seq"] for e in events] == list(range(start + 1, start + 16))
            assert [e["size"] for e in events] == list(range(20, 35))
        replayed = [replaying.event()["seq"] for _ in range(start + 15)]
        assert replayed == list(range(1, start + 16))
    finally:
        for stream in [*streams, replaying]:
            stream.close()
