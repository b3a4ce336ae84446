"""One WebSocket's writes: bounded queues and the one greenlet that writes them.

wsproto and a gevent socket take one writer at a time, so one greenlet writes
every frame. Nothing else waits on the client: the socket's reading goes on
while the client reads slowly, and what it answers (`pong`, `connection_ack`,
a refusal) goes in a queue of its own, so a burst of results (a replay) never
holds up an answer. The results of the operations wait for room in theirs:
an operation whose client does not keep up stops taking events, and the hub
drops it (SLOW_CONSUMER) rather than buffer without bound. A client that
floods the socket with messages while reading none of the answers fills the
answers' queue, and its connection is let go.

simple-websocket writes a frame with one `socket.send`, which takes only what
fits in the kernel's buffer when the client reads slowly: the rest of the frame
was lost and the client read garbage (simple-websocket issue 45). Its socket
is wrapped so that each frame goes whole, one writer at a time (its own reader
answers pings and close frames from another greenlet).
"""

from __future__ import annotations

import contextlib
import socket
from collections import deque
from typing import Any

from gevent import Greenlet, spawn
from gevent.event import Event
from gevent.lock import RLock
from simple_websocket import ConnectionClosed, Server

#: Results queued for the client before an operation waits for room.
RESULTS = 256
#: Answers to the client's own messages queued before its connection is let go.
ANSWERS = 64


class _Close:
    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class WholeFrames:
    """A socket whose `send` sends all it is given, under a lock, or raises."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._lock = RLock()

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Outbox:
    def __init__(self, ws: Server) -> None:
        if not isinstance(ws.sock, WholeFrames):
            ws.sock = WholeFrames(ws.sock)
        self.ws = ws
        self._answers: deque[str] = deque()
        self._results: deque[str | _Close] = deque()
        self._queued = Event()
        self._room = Event()
        self._room.set()
        #: The close frame queued (it goes after everything queued before it).
        self.close_code: int | None = None
        #: Nothing more is written: the writer ended, or the connection was let go.
        self.ended = False
        self.writer: Greenlet = spawn(self._write)

    @property
    def open(self) -> bool:
        return not self.ended and self.close_code is None

    def answer(self, text: str) -> None:
        """Queue an answer to the client's message; never waits."""
        if not self.open:
            return
        if len(self._answers) >= ANSWERS:
            self.abort()
            return
        self._answers.append(text)
        self._queued.set()

    def result(self, text: str, timeout: float) -> bool:
        """Queue an operation's message, waiting up to `timeout` seconds for room;
        False when it is not queued (the socket closes, or its client reads nothing)."""
        while self.open and len(self._results) >= RESULTS:
            self._room.clear()
            if not self._room.wait(timeout):
                self.abort()
        if not self.open:
            return False
        self._results.append(text)
        self._queued.set()
        return True

    def close(self, code: int, reason: str) -> bool:
        """Queue the close frame, once; whether this call queued it."""
        if not self.open:
            return False
        self.close_code = code
        self._results.append(_Close(code, reason))
        self._queued.set()
        return True

    def abort(self) -> None:
        """Let the connection go without a close frame: its client reads nothing.
        The socket's reader sees its end, and so does everything waiting on it."""
        self.ended = True
        self._room.set()
        with contextlib.suppress(OSError):
            self.ws.sock.shutdown(socket.SHUT_RDWR)

    def finish(self, timeout: float) -> None:
        """Once the socket's reading ended: let a queued close frame go out, then stop."""
        if self.close_code is not None and not self.ended:
            self.writer.join(timeout=timeout)
        self.writer.kill(block=True, timeout=timeout)

    def _write(self) -> None:
        try:
            while True:
                while not (self._answers or self._results):
                    self._queued.clear()
                    self._queued.wait()
                if self._answers:
                    self.ws.send(self._answers.popleft())
                    continue
                item = self._results.popleft()
                self._room.set()
                if isinstance(item, _Close):
                    self.ws.close(item.code, item.reason)
                    return
                self.ws.send(item)
        except (ConnectionClosed, OSError):
            pass  # the connection went; the socket's reader sees it too
        finally:
            self.ended = True
            self._room.set()
