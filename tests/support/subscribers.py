"""Many subscribers of a pool's events over GraphQL over SSE, on raw sockets read by one
selector loop: a thousand streams cost the reader little, and nothing here is gevent.

For the tests and the benchmarks that need many streams at once; one stream is the Python
client's (`Client.watch`).
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from objmgr_client.operations import POOL_EVENTS

HEAD_END = b"\r\n\r\n"


def subscribe_request(
    pool: str, after: int | None = None, token: str | None = None, host: str = "objmgr"
) -> bytes:
    """The bytes of one SSE subscription: a POST with `Accept: text/event-stream`."""
    body = json.dumps({"query": POOL_EVENTS, "variables": {"pool": pool, "after": after}})
    payload = body.encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\n{auth}Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


@dataclass
class Delivery:
    """One event as one subscriber read it: `received` is time.time() when it was read."""

    subscriber: int
    event: dict[str, Any]
    received: float


@dataclass
class _Stream:
    index: int
    sock: socket.socket
    buffer: bytes = b""
    status: int | None = None
    chunked: bool = False
    body: bytes = b""  # the decoded body not yet parsed into messages
    pending: int | None = None  # bytes left of the chunk being read
    ended: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)
    comments: int = 0  # keepalives, the opening one included


class Subscribers:
    """`count` subscriptions of `pool`, opened and read by `pump`; `close` hangs them all up."""

    def __init__(
        self,
        address: tuple[str, int],
        pool: str,
        count: int,
        after: int | None = None,
        token: str | None = None,
    ) -> None:
        self.address = address
        self.selector = selectors.DefaultSelector()
        self.streams: list[_Stream] = []
        self.deliveries: list[Delivery] = []
        request = subscribe_request(pool, after, token)
        try:
            for index in range(count):
                sock = socket.create_connection(address, timeout=30.0)
                sock.sendall(request)
                sock.setblocking(False)
                stream = _Stream(index, sock)
                self.streams.append(stream)
                self.selector.register(sock, selectors.EVENT_READ, stream)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Subscribers:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # reading ---------------------------------------------------------------
    def pump(self, until: Callable[[], bool], timeout: float) -> bool:
        """Read every stream until `until()` holds (True) or `timeout` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        for _ in range(10_000_000):
            if until():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for key, _mask in self.selector.select(min(left, 0.5)):
                self._read(key.data)
        return until()

    def opened(self) -> int:
        """Streams answered 200 text/event-stream so far."""
        return sum(1 for stream in self.streams if stream.status == 200)

    def refused(self) -> list[int]:
        """The statuses of streams answered anything but 200."""
        return [s.status for s in self.streams if s.status not in (None, 200)]

    def comments(self) -> list[int]:
        """The comments (keepalives) each stream read so far, by subscriber."""
        return [stream.comments for stream in self.streams]

    def ended(self) -> int:
        return sum(1 for stream in self.streams if stream.ended)

    def got(self, seq: int) -> int:
        """Subscribers that read the event `seq`."""
        return len({d.subscriber for d in self.deliveries if int(d.event["seq"]) == seq})

    def _read(self, stream: _Stream) -> None:
        try:
            data = stream.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        received = time.time()
        if not data:
            stream.ended = True
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(stream.sock)
            return
        if stream.status is None:
            stream.buffer += data
            if HEAD_END not in stream.buffer:
                return
            head, _, rest = stream.buffer.partition(HEAD_END)
            stream.buffer = b""
            lines = head.decode("latin-1").split("\r\n")
            stream.status = int(lines[0].split()[1])
            stream.chunked = any(
                line.lower().replace(" ", "") == "transfer-encoding:chunked" for line in lines[1:]
            )
            data = rest
        self._body(stream, data)
        self._messages(stream, received)

    def _body(self, stream: _Stream, data: bytes) -> None:
        """Append what `data` adds to the body, undoing chunked transfer coding."""
        if not stream.chunked:
            stream.body += data
            return
        stream.buffer += data
        while True:
            if stream.pending is None:
                line, found, rest = stream.buffer.partition(b"\r\n")
                if not found:
                    return
                size = int(line.split(b";")[0] or b"0", 16)
                stream.buffer = rest
                if size == 0:
                    stream.ended = True
                    return
                stream.pending = size
            take = stream.buffer[: stream.pending]
            stream.body += take
            stream.buffer = stream.buffer[len(take) :]
            stream.pending -= len(take)
            if stream.pending:
                return
            if len(stream.buffer) < 2:
                stream.pending = 0  # the chunk's CRLF has not come yet
                return
            stream.buffer = stream.buffer[2:]
            stream.pending = None

    def _messages(self, stream: _Stream, received: float) -> None:
        normalised = stream.body.replace(b"\r\n", b"\n")
        *whole, stream.body = normalised.split(b"\n\n")
        for message in whole:
            event, data = "message", []
            for line in message.decode("utf-8", "replace").split("\n"):
                if line.startswith(":"):
                    stream.comments += 1
                elif line.startswith("event:"):
                    event = line[len("event:") :].strip()
                elif line.startswith("data:"):
                    data.append(line[len("data:") :].removeprefix(" "))
            if event != "next" or not data:
                continue
            result = json.loads("\n".join(data))
            found = (result.get("data") or {}).get("poolEvents")
            if found is None:
                stream.errors.extend(result.get("errors") or [])
            else:
                self.deliveries.append(Delivery(stream.index, found, received))

    # closing ---------------------------------------------------------------
    def close(self) -> None:
        for stream in self.streams:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(stream.sock)
            with contextlib.suppress(OSError):
                stream.sock.close()
        self.selector.close()


@contextlib.contextmanager
def subscribed(
    address: tuple[str, int],
    pool: str,
    count: int,
    timeout: float = 60.0,
    token: str | None = None,
) -> Iterator[Subscribers]:
    """`count` streams of `pool`'s new events, each answered 200, for as long as the context
    lasts; AssertionError when they were not all opened within `timeout` seconds."""
    with Subscribers(address, pool, count, None, token) as subscribers:
        settled = subscribers.pump(
            lambda: subscribers.opened() + len(subscribers.refused()) == count, timeout
        )
        if not settled or subscribers.refused():
            raise AssertionError(
                f"{subscribers.opened()} of {count} streams opened within {timeout:g}s; "
                f"refused: {subscribers.refused()[:10]}"
            )
        yield subscribers
