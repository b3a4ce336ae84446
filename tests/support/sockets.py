"""Raw HTTP requests on connections of their own, left open and unread: waiting acquires,
stalled bodies, unfinished headers."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any


def post_request(body: dict[str, Any], host: str = "objmgr") -> bytes:
    """The bytes of one `POST /graphql` with `body` as JSON, whole."""
    payload = json.dumps(body).encode()
    return (
        f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


def address_of(base_url: str) -> tuple[str, int]:
    host, port = base_url.removeprefix("http://").split(":")
    return host, int(port)


def open_sending(
    address: tuple[str, int], request: bytes, count: int, timeout: float = 30.0
) -> list[socket.socket]:
    """`count` connections that each sent `request`, their answers unread.

    On a failure half-way, the connections opened so far are closed before it raises.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            connection = socket.create_connection(address, timeout=timeout)
            sockets.append(connection)
            connection.sendall(request)
    except BaseException:
        close_all(sockets)
        raise
    return sockets


def close_all(sockets: list[socket.socket]) -> None:
    for connection in sockets:
        with contextlib.suppress(OSError):
            connection.close()


@contextlib.contextmanager
def sending(
    address: tuple[str, int], request: bytes, count: int, timeout: float = 30.0
) -> Iterator[list[socket.socket]]:
    """`open_sending` for as long as the context lasts; every connection closed at the end."""
    sockets = open_sending(address, request, count, timeout)
    try:
        yield sockets
    finally:
        close_all(sockets)
