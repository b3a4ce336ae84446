"""Many graphql-transport-ws subscribers on raw sockets read by one selector loop (wsproto,
no thread per socket): a thousand cost this process little, and nothing here is gevent.
Each answers the server's pings, as a client of the protocol must."""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from objmgr_client.operations import POOL_EVENTS
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from app.api import ws_protocol as protocol

HANDSHAKE_TIMEOUT = 30.0
#: Reads of one handshake's answer at most.
MAX_READS = 100


@dataclass
class _Subscriber:
    sock: socket.socket
    ws: WSConnection
    pings: int = 0
    seqs: list[int] = field(default_factory=list)
    ended: bool = False


class ManySockets:
    """`count` sockets, each acknowledged and subscribed to `pool`'s events after `after`
    (a replay, so that none misses an event committed while the others subscribe)."""

    def __init__(self, address: tuple[str, int], pool: str, count: int, after: int) -> None:
        self.selector = selectors.DefaultSelector()
        self.subscribers: list[_Subscriber] = []
        try:
            for _ in range(count):
                self._open(address, pool, after)
        except BaseException:
            self.close()
            raise

    def _open(self, address: tuple[str, int], pool: str, after: int) -> None:
        sock = socket.create_connection(address, timeout=HANDSHAKE_TIMEOUT)
        ws = WSConnection(ConnectionType.CLIENT)
        subscriber = _Subscriber(sock, ws)
        self.subscribers.append(subscriber)
        sock.sendall(ws.send(Request("objmgr", "/graphql", subprotocols=[protocol.SUBPROTOCOL])))
        for _ in range(MAX_READS):
            ws.receive_data(sock.recv(65536) or None)
            if any(isinstance(event, AcceptConnection) for event in ws.events()):
                break
        else:
            raise AssertionError("the handshake was not answered")
        variables = {"pool": pool, "after": after}
        payload = {"query": POOL_EVENTS, "variables": variables}
        subscribe = {"id": "w", "type": "subscribe", "payload": payload}
        for message in ({"type": "connection_init"}, subscribe):
            sock.sendall(ws.send(TextMessage(json.dumps(message))))
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, subscriber)

    def pump(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Read every socket, answering pings, until `predicate` holds; whether it did
        within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for key, _ in self.selector.select(min(left, 1.0)):
                self._read(key.data)
        return True

    def _read(self, subscriber: _Subscriber) -> None:
        try:
            data = subscriber.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        subscriber.ws.receive_data(data or None)
        for event in subscriber.ws.events():
            if isinstance(event, CloseConnection):
                subscriber.ended = True
            elif isinstance(event, TextMessage):
                self._received(subscriber, json.loads(event.data))
        if not data:
            subscriber.ended = True
            self.selector.unregister(subscriber.sock)

    def _received(self, subscriber: _Subscriber, message: dict[str, object]) -> None:
        if message["type"] == "ping":
            subscriber.pings += 1
            subscriber.sock.sendall(subscriber.ws.send(TextMessage('{"type": "pong"}')))
        elif message["type"] == "next":
            payload = message["payload"]
            assert isinstance(payload, dict)
            subscriber.seqs.append(int(payload["data"]["poolEvents"]["seq"]))
        elif message["type"] == "error":
            subscriber.ended = True

    def got(self, seq: int) -> int:
        return sum(seq in subscriber.seqs for subscriber in self.subscribers)

    def pings(self) -> list[int]:
        return [subscriber.pings for subscriber in self.subscribers]

    def ended(self) -> int:
        return sum(subscriber.ended for subscriber in self.subscribers)

    def close(self) -> None:
        for subscriber in self.subscribers:
            with contextlib.suppress(OSError):
                subscriber.sock.close()
        self.selector.close()


@contextlib.contextmanager
def many_sockets(
    address: tuple[str, int], pool: str, count: int, after: int
) -> Iterator[ManySockets]:
    sockets = ManySockets(address, pool, count, after)
    try:
        yield sockets
    finally:
        sockets.close()
