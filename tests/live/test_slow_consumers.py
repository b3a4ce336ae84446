"""Slow consumers over both transports against live gunicorn with 2 workers.

A subscriber that stops reading is sent what its connection takes, then ended
with SLOW_CONSUMER once more than the hub's buffer of events waits for it: it
reads contiguous seqs from where it started, up to the seq the server's log
says it had reached, then the code. A subscriber of the same worker that
reads all along gets every event, in order, before and after.

The kernel's buffers are kept small from the client's side, or they would hold
more events than the hub does: Linux sizes a sender's buffer from the segment
size, which is 64 KiB on loopback (a connection that stopped reading then holds
megabytes, thousands of events); a 1,000-byte segment and a 4 KiB receive
window leave it some hundred kilobytes, fewer events than the hub's buffer.
Events are made until the server's log says the subscriber was dropped, so no
count of events is assumed.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from objmgr_client.operations import POOL_EVENTS
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage

from app.api import sse, websocket
from app.api import ws_protocol as protocol
from app.watching import WatchLimits

from .sse_client import LiveStream
from .support import GraphQL, LiveServer
from .test_sse import last_seq
from .ws_client import RECEIVE_TIMEOUT, Socket, new_pool

pytestmark = pytest.mark.live

#: Set on the slow client's socket before it connects (see the module's docstring).
SMALL_WINDOW = [
    (socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),
    (socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000),
]
#: Root fields of one mutation: the most one operation may carry.
BATCH = 20
#: Batches made at most before the drop must have come: far more events than
#: the hub's buffer and the small connection's share of them.
MAX_BATCHES = 40 * WatchLimits.buffer // BATCH
#: Seconds the slow client may read nothing: well under the transports' timeouts,
#: after which a stalled connection is let go without the code.
STALL_LIMIT = 0.8 * min(sse.WRITE_TIMEOUT, websocket.SILENCE_TIMEOUT)
#: Messages the slow client reads at most once it reads again.
MAX_MESSAGES = 20 * WatchLimits.buffer


def resizes(pool: str, batch: int) -> tuple[str, dict[str, Any]]:
    """A mutation of `BATCH` resizes, each a new size (so each is an event)."""
    fields = " ".join(
        f"r{i}: resizePool(name: $pool, size: {100 + (batch * BATCH + i) % 2}) {{ success }}"
        for i in range(BATCH)
    )
    return f"mutation($pool: String!) {{ {fields} }}", {"pool": pool}


def dropped_at(server: LiveServer, pool: str) -> int | None:
    """The seq the server's log says `pool`'s slow subscriber had reached when dropped."""
    pattern = re.compile(r"fell more than \d+ events behind after seq (\d+)")
    for line in server.stderr().splitlines():
        found = pattern.search(line)
        if found and pool in line:
            return int(found.group(1))
    return None


class Reader:
    """A subscriber that reads all along: each batch's events, checked to follow on."""

    def __init__(self, stream: LiveStream, start: int) -> None:
        self.stream = stream
        self.last = start

    def take(self, count: int) -> None:
        seqs = [self.stream.event()["seq"] for _ in range(count)]
        assert seqs == list(range(self.last + 1, self.last + 1 + count)), seqs
        self.last = seqs[-1]


def make_events_until_dropped(
    server: LiveServer,
    pool: str,
    reader: Reader,
    slow_alive: Callable[[], None] | None = None,
) -> int:
    """Batches of events, each read by `reader`, until the slow subscriber is
    dropped; the seq it had reached. `slow_alive` shows the slow client is
    there without reading (a WebSocket's `pong`)."""
    writer = GraphQL(server.base_url)
    deadline = time.monotonic() + STALL_LIMIT
    try:
        for batch in range(MAX_BATCHES):
            query, variables = resizes(pool, batch)
            result = writer.data(query, variables)
            assert all(field["success"] for field in result.values()), result
            reader.take(BATCH)
            if slow_alive is not None:
                slow_alive()
            seq = dropped_at(server, pool)
            if seq is not None:
                return seq
            assert time.monotonic() < deadline, f"not dropped after {batch + 1} batches"
    finally:
        writer.close()
    raise AssertionError(f"not dropped after {MAX_BATCHES * BATCH} events")


def check_unaffected(server: LiveServer, pool: str, reader: Reader) -> None:
    """The reader goes on getting every event after the slow one was dropped."""
    writer = GraphQL(server.base_url)
    try:
        writer.data(*resizes(pool, 1))
    finally:
        writer.close()
    reader.take(BATCH)


# --- SSE -----------------------------------------------------------------------------------


def test_an_sse_subscriber_that_stops_reading_is_ended_with_slow_consumer(
    server: LiveServer,
) -> None:
    pool = new_pool(server)
    start = last_seq(server.base_url)
    first, _second = server.workers()
    streams: list[LiveStream] = []
    try:
        # Both on one worker: they share its follower, which must not wait for the slow one.
        with server.only_worker(first):
            slow = LiveStream(server.base_url, pool, after=start, socket_options=SMALL_WINDOW)
            streams.append(slow)
            fast = LiveStream(server.base_url, pool, after=start)
            streams.append(fast)
        assert (slow.status, fast.status) == (200, 200)
        reader = Reader(fast, start)
        reached = make_events_until_dropped(server, pool, reader)

        seqs = []
        for _ in range(MAX_MESSAGES):
            kind, data = slow.message()
            if kind != "next" or "errors" in data:
                break
            seqs.append(data["data"]["poolEvents"]["seq"])
        else:
            raise AssertionError(f"no end after {MAX_MESSAGES} messages")
        assert seqs == list(range(start + 1, reached + 1)), (seqs[:3], seqs[-3:], reached)
        assert kind == "next" and data["errors"][0]["extensions"]["code"] == "SLOW_CONSUMER"
        assert slow.message() == ("complete", None)
        assert reader.last - reached > WatchLimits.buffer, "more than the buffer waited"
        check_unaffected(server, pool, reader)
    finally:
        for stream in streams:
            stream.close()


# --- WebSocket -----------------------------------------------------------------------------


class RawSocket:
    """A graphql-transport-ws client on a socket of its own options, read only when asked."""

    def __init__(self, server: LiveServer, pool: str, after: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        for level, name, value in SMALL_WINDOW:
            self.sock.setsockopt(level, name, value)
        self.sock.settimeout(RECEIVE_TIMEOUT)
        self.sock.connect(("127.0.0.1", server.port))
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[object] = []
        self.partial = ""
        self.sock.sendall(
            self.ws.send(Request("objmgr", "/graphql", subprotocols=[protocol.SUBPROTOCOL]))
        )
        assert isinstance(self._event(), AcceptConnection)
        self.send({"type": "connection_init"})
        assert self.message() == {"type": "connection_ack"}
        payload = {"query": POOL_EVENTS, "variables": {"pool": pool, "after": after}}
        self.send({"id": "slow", "type": "subscribe", "payload": payload})

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(self.ws.send(TextMessage(json.dumps(message))))

    def _event(self) -> object:
        for _ in range(MAX_MESSAGES):
            if self.pending:
                return self.pending.pop(0)
            data = self.sock.recv(65536)
            self.ws.receive_data(data or None)
            self.pending.extend(self.ws.events())
            if not data and not self.pending:
                raise AssertionError("the connection ended")
        raise AssertionError("no whole message came")

    def message(self) -> dict[str, Any]:
        """The next protocol message; the server's pings answered on the way."""
        for _ in range(MAX_MESSAGES):
            event = self._event()
            if isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
                continue
            assert not isinstance(event, CloseConnection), (event.code, event.reason)
            assert isinstance(event, TextMessage), event
            # wsproto hands a message over in the pieces its reads got.
            self.partial += event.data
            if not event.message_finished:
                continue
            message: dict[str, Any] = json.loads(self.partial)
            self.partial = ""
            if message == {"type": "ping"}:
                self.send({"type": "pong"})
                continue
            return message
        raise AssertionError(f"only pings in {MAX_MESSAGES} messages")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@pytest.fixture
def raw_sockets() -> Iterator[list[RawSocket]]:
    opened: list[RawSocket] = []
    yield opened
    for each in opened:
        each.close()


def test_a_websocket_subscriber_that_stops_reading_is_ended_with_slow_consumer(
    server: LiveServer, raw_sockets: list[RawSocket]
) -> None:
    pool = new_pool(server)
    start = last_seq(server.base_url)
    first, _second = server.workers()
    streams: list[LiveStream] = []
    fast_socket: Socket | None = None
    try:
        with server.only_worker(first):
            slow = RawSocket(server, pool, after=start)
            raw_sockets.append(slow)
            # A socket of the same worker that reads all along, and an SSE stream of it.
            fast_socket = Socket(server.base_url)
            fast_socket.init()
            fast_socket.subscribe("fast", pool, after=start)
            fast_socket.sync()
            fast = LiveStream(server.base_url, pool, after=start)
            streams.append(fast)
        reader = Reader(fast, start)
        socket_reader = start

        def keep_up() -> None:
            # The slow client is alive (a `pong` needs no answer) but reads nothing;
            # the fast socket takes its batch.
            nonlocal socket_reader
            slow.send({"type": "pong"})
            assert fast_socket is not None
            seqs = [event["seq"] for event in fast_socket.events("fast", BATCH)]
            assert seqs == list(range(socket_reader + 1, socket_reader + 1 + BATCH)), seqs
            socket_reader = seqs[-1]

        reached = make_events_until_dropped(server, pool, reader, keep_up)

        seqs = []
        for _ in range(MAX_MESSAGES):
            message = slow.message()
            if message["type"] != "next":
                break
            assert message["id"] == "slow", message
            seqs.append(message["payload"]["data"]["poolEvents"]["seq"])
        else:
            raise AssertionError(f"no end after {MAX_MESSAGES} messages")
        assert seqs == list(range(start + 1, reached + 1)), (seqs[:3], seqs[-3:], reached)
        assert message["type"] == "error" and message["id"] == "slow", message
        assert message["payload"][0]["extensions"]["code"] == "SLOW_CONSUMER"
        # The socket stays open: it answers, and may subscribe again from its last seq.
        slow.send({"type": "ping", "payload": {"after": "drop"}})
        assert slow.message() == {"type": "pong", "payload": {"after": "drop"}}
        assert reader.last - reached > WatchLimits.buffer, "more than the buffer waited"
        check_unaffected(server, pool, reader)
        keep_up()
    finally:
        for stream in streams:
            stream.close()
        if fast_socket is not None:
            fast_socket.close()
