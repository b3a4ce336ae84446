"""A graphql-transport-ws client for the live tests: simple_websocket.Client speaking the
protocol's messages, every wait bounded; and the pools and changes the tests watch."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import simple_websocket
from objmgr_client.operations import CREATE_POOL, POOL_EVENTS

from app.api import ws_protocol as protocol

from .support import LiveServer

#: Every wait on the server is bounded by this (a message, a close).
RECEIVE_TIMEOUT = 10.0
#: Messages one wait reads at most before it gives up on the one it waits for.
MAX_MESSAGES = 200
TOKENS = {"OBJMGR_TOKENS": "alice:s3cret,root:r00t", "OBJMGR_ADMINS": "root"}

_pools = itertools.count()


class Socket:
    """One graphql-transport-ws client socket to /graphql."""

    def __init__(
        self,
        base_url: str,
        subprotocols: list[str] | None = None,
        authorization: str | None = None,
    ) -> None:
        headers = {"Authorization": authorization} if authorization else None
        self.ws = simple_websocket.Client.connect(
            base_url.replace("http://", "ws://") + "/graphql",
            subprotocols=[protocol.SUBPROTOCOL] if subprotocols is None else subprotocols,
            headers=headers,
        )
        #: Server pings seen (each answered with a pong).
        self.pings = 0

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def receive(self, timeout: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
        """The next message other than the server's keepalive ping (answered)."""
        for _ in range(MAX_MESSAGES):
            data = self.ws.receive(timeout=timeout)
            assert data is not None, f"no message within {timeout:g}s"
            message: dict[str, Any] = json.loads(data)
            if message == {"type": "ping"}:
                self.pings += 1
                self.send({"type": "pong"})
                continue
            return message
        raise AssertionError(f"only pings in {MAX_MESSAGES} messages")

    def closed_with(self, timeout: float = RECEIVE_TIMEOUT) -> tuple[int, str]:
        """The server's close code and reason, messages before it read and dropped."""
        try:
            for _ in range(MAX_MESSAGES):
                if self.ws.receive(timeout=timeout) is None:
                    raise AssertionError(f"the socket stayed open for {timeout:g}s")
        except simple_websocket.ConnectionClosed as closed:
            return int(closed.reason), closed.message or ""
        raise AssertionError(f"the socket kept sending past {MAX_MESSAGES} messages")

    def init(self, payload: dict[str, Any] | None = None) -> None:
        self.send({"type": "connection_init", **({"payload": payload} if payload else {})})
        assert self.receive() == {"type": "connection_ack"}

    def subscribe(self, operation_id: str, pool: str, after: int | None = None) -> None:
        self.send(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {"query": POOL_EVENTS, "variables": {"pool": pool, "after": after}},
            }
        )

    def sync(self) -> None:
        """Return once the server handled every message sent before: it answers in order."""
        self.send({"type": "ping", "payload": {"sync": True}})
        assert self.receive() == {"type": "pong", "payload": {"sync": True}}

    def events(self, operation_id: str, count: int) -> list[dict[str, Any]]:
        """The next `count` events of `operation_id`, in the order they came."""
        found: list[dict[str, Any]] = []
        for _ in range(MAX_MESSAGES):
            if len(found) == count:
                return found
            message = self.receive()
            assert message.get("id") == operation_id and message["type"] == "next", message
            found.append(message["payload"]["data"]["poolEvents"])
        raise AssertionError(f"{count} events did not come: {found}")

    def close(self) -> None:
        if self.ws.connected:
            self.ws.close()


def open_socket(server: LiveServer, opened: list[Socket], **options: Any) -> Socket:
    each = Socket(server.base_url, **options)
    opened.append(each)
    return each


def new_pool(server: LiveServer, token: str | None = None) -> str:
    name = f"ws-{os.getpid()}-{next(_pools)}"
    client = server.client(token)
    try:
        assert client.data(CREATE_POOL, {"name": name, "size": 50})["createPool"]["success"]
    finally:
        client.close()
    return name


def acquire(server: LiveServer, pool: str, label: str) -> int:
    """An acquire on a connection of its own; the object granted."""
    lease = server.acquire_once(pool=pool, label=label)["lease"]
    return int(lease["obj"])


def closed_after(opened: list[Socket]) -> Iterator[list[Socket]]:
    """Body of a test module's `sockets` fixture: what a test opens is closed after it."""
    yield opened
    for each in opened:
        each.close()
