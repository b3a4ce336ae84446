"""`Client.watch`: a pool's events as they happen, over GraphQL over Server-Sent Events.

One POST to /graphql with `Accept: text/event-stream` opens a stream of
`event: next` messages, one per event, that ends with `event: complete` (after
a last `next` carrying `errors` when it ends in error). A connection that drops
is opened again with `after` the last seq given, so nothing is lost or given
twice; how many times in a row, and how long between, is bounded.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from .errors import BAD_RESPONSE, UNREACHABLE, ObjmgrError
from .models import Event
from .operations import POOL_EVENTS
from .transport import Transport, decode_answer

log = logging.getLogger(__name__)

DEFAULT_WATCH_ATTEMPTS = 5
"""Connections tried in a row, at most, before a watch gives up and raises."""
DEFAULT_IDLE_TIMEOUT = 60.0
"""Seconds of silence after which a stream counts as dropped; the server sends a
keepalive comment well within it."""
MAX_BACKOFF = 10.0
"""Seconds between two attempts, at most, however many failed."""

RESUMABLE_CODES = frozenset({"SHUTTING_DOWN", "STORE_UNAVAILABLE"})
"""A stream ended with one of these is opened again: the worker is going away,
or the store was away for a while; another worker, or a later attempt, serves
the rest from the journal. Any other code ends the watch (EVENTS_TRIMMED: events
are gone for good; SLOW_CONSUMER: the reader should know it fell behind)."""

EVENT_STREAM = "text/event-stream"


class _Dropped(Exception):
    """The connection went away, or never came: try again with the last seq."""


@dataclass
class _Message:
    event: str
    data: str


class _EventStream:
    """The messages of one text/event-stream response, as the SSE spec parses them."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self._response = response
        #: Whether a keepalive came since the stream opened.
        self.heard = False

    def message(self) -> _Message | None:
        """The next message; None when the stream ended without `complete`."""
        event, data = "", list[str]()
        while True:
            raw = self._response.readline()
            if not raw:
                return None
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                if data or event:
                    return _Message(event or "message", "\n".join(data))
                continue
            if line.startswith(":"):
                self.heard = True  # a keepalive comment
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


class EventWatch(Iterator[Event]):
    """The events of `pool` with seq above `after`, then each new one, until closed.

    Iterate it (`for event in client.watch("ports", after=41)`); `after` is the
    seq of the last event it gave, where a new watch would read on. `close()`,
    or leaving a `with` block, closes the connection; a thread blocked in `next`
    then sees the iteration end. Raises `ObjmgrError`: the code of a refusal
    (UNAUTHENTICATED, TOO_MANY_SUBSCRIPTIONS, ...), of a stream that ended in
    error (EVENTS_TRIMMED, SLOW_CONSUMER), or UNREACHABLE once `attempts`
    connections in a row failed.
    """

    def __init__(
        self,
        transport: Transport,
        pool: str,
        after: int | None,
        attempts: int = DEFAULT_WATCH_ATTEMPTS,
        retry_delay: float = 0.25,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        connect_timeout: float = 10.0,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")
        if idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be more than 0, not {idle_timeout}")
        self.pool = pool
        self.after = after
        self.attempts = attempts
        self.retry_delay = retry_delay
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        #: Connections opened so far: the first, then one per reconnection.
        self.connections = 0
        self._transport = transport
        self._endpoint = urllib.parse.urlsplit(transport.endpoint)
        self._connection: http.client.HTTPConnection | None = None
        self._stream: _EventStream | None = None
        self._failures = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"EventWatch({self.pool!r}, after={self.after!r})"

    def __iter__(self) -> EventWatch:
        return self

    def __enter__(self) -> EventWatch:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> EventWatch:
        """Open the stream now, trying again as a drop would; `Client.watch` does this, so
        that "from now on" (`after` None) means from the call, and a refusal raises there."""
        while not self._closed and self._stream is None:
            try:
                self._open()
            except _Dropped as dropped:
                self._retry(str(dropped))
        return self

    def __next__(self) -> Event:
        while not self._closed:
            try:
                stream = self._stream or self._open()
                message = stream.message()
            except _Dropped as dropped:
                self._retry(str(dropped))
                continue
            except (OSError, http.client.HTTPException) as error:
                self._retry(f"{self._transport.url}: {error!r}")
                continue
            except Exception:
                if self._closed:
                    # Closed from another thread: http.client is not made for that,
                    # and its reader may fail any way once the connection is gone.
                    break
                raise
            if stream.heard:
                self._failures = 0  # a keepalive came: the stream was being served
            if message is None:
                self._retry("the stream ended without `complete`")
                continue
            event = self._read(message)
            if event is not None:
                self._failures = 0
                return event
        raise StopIteration

    def close(self) -> None:
        """Close the connection and end the iteration; idempotent, from any thread."""
        self._closed = True
        self._hang_up()

    # one connection ------------------------------------------------------
    def _open(self) -> _EventStream:
        variables: dict[str, Any] = {"pool": self.pool, "after": self.after}
        body = json.dumps({"query": POOL_EVENTS, "variables": variables}).encode()
        connection_class = (
            http.client.HTTPSConnection
            if self._endpoint.scheme == "https"
            else http.client.HTTPConnection
        )
        connection = connection_class(self._endpoint.netloc, timeout=self.connect_timeout)
        self._connection = connection
        self.connections += 1
        try:
            connection.request(
                "POST", self._endpoint.path, body, self._transport.headers(EVENT_STREAM)
            )
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            self._hang_up()
            raise _Dropped(f"{self._transport.url}: {error!r}") from error
        kind = response.getheader("Content-Type", "").split(";")[0].strip().lower()
        if response.status == 200 and kind == EVENT_STREAM:
            if connection.sock is not None:
                # Silence longer than this is a connection gone, not a quiet pool.
                connection.sock.settimeout(self.idle_timeout)
            self._stream = _EventStream(response)
            return self._stream
        raw = response.read()
        self._hang_up()
        if response.status >= 500:
            raise _Dropped(f"HTTP {response.status} from {self._transport.url}")
        decode_answer(response.status, raw)  # raises the refusal's code
        raise ObjmgrError(BAD_RESPONSE, f"HTTP {response.status}, not an event stream")

    def _read(self, message: _Message) -> Event | None:
        """The event a message carries; None for one that carries none to give."""
        if message.event == "complete":
            self.close()
            return None
        if message.event != "next":
            return None
        try:
            result = json.loads(message.data)
        except ValueError as error:
            raise ObjmgrError(BAD_RESPONSE, f"not JSON: {message.data[:200]!r}") from error
        data = result.get("data") if isinstance(result, dict) else None
        found = data.get("poolEvents") if isinstance(data, dict) else None
        if found is None:
            self._ended(result)
            return None
        event = Event.from_json(found)
        if self.after is not None and event.seq <= self.after:
            return None  # already given: a repeat is never handed on
        self.after = event.seq
        return event

    def _ended(self, result: object) -> None:
        """A `next` without an event: the server's reason for ending the stream."""
        errors = result.get("errors") if isinstance(result, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else {}
        if not isinstance(first, dict):
            first = {}
        code = str((first.get("extensions") or {}).get("code") or BAD_RESPONSE)
        message = str(first.get("message") or f"the stream ended: {result!r}")
        self._hang_up()
        if code in RESUMABLE_CODES and self._failures + 1 < self.attempts:
            log.info("watch of %r: %s: %s; opening it again", self.pool, code, message)
            self._back_off()
            return
        self.close()
        raise ObjmgrError(code, message)

    # failures ------------------------------------------------------------
    def _retry(self, reason: str) -> None:
        self._hang_up()
        if self._closed:
            return
        if self._failures + 1 >= self.attempts:
            self.close()
            raise ObjmgrError(UNREACHABLE, f"{reason} ({self.attempts} attempts)")
        log.info("watch of %r: %s; opening it again after seq %s", self.pool, reason, self.after)
        self._back_off()

    def _back_off(self) -> None:
        self._failures += 1
        time.sleep(min(MAX_BACKOFF, self.retry_delay * 2 ** (self._failures - 1)))

    def _hang_up(self) -> None:
        connection, self._connection, self._stream = self._connection, None, None
        if connection is None:
            return
        sock = connection.sock
        if sock is not None:
            # shutdown, not close alone, wakes a thread blocked reading this socket.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        # The reader's thread may be closing the same response as it sees the end.
        with contextlib.suppress(OSError, AttributeError):
            connection.close()
