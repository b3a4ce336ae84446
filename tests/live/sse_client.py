"""One GraphQL-over-SSE stream of a live server, read line by line with http.client."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from objmgr_client.operations import POOL_EVENTS

EVENT_STREAM = "text/event-stream"
#: A read blocks at most this long: far above the server's keepalive comments.
READ_TIMEOUT = 40.0


class StreamGone(Exception):
    """The connection ended without `complete` (a worker killed, the server gone)."""


class LiveStream:
    """`poolEvents` of one pool over one connection, opened at construction."""

    def __init__(
        self,
        base_url: str,
        pool: str = "default",
        after: int | None = None,
        token: str | None = None,
        socket_options: Sequence[tuple[int, int, int]] = (),
    ) -> None:
        parts = urlsplit(base_url)
        assert parts.hostname is not None and parts.port is not None
        self.connection = http.client.HTTPConnection(
            parts.hostname, parts.port, timeout=READ_TIMEOUT
        )
        if socket_options:
            # Set before connect: a window or segment size is agreed on in the handshake.
            self.connection.sock = _connected(parts.hostname, parts.port, socket_options)
        headers = {"Content-Type": "application/json", "Accept": EVENT_STREAM}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps({"query": POOL_EVENTS, "variables": {"pool": pool, "after": after}})
        self.connection.request("POST", "/graphql", body=body, headers=headers)
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = self.response.headers
        #: The body of a refusal (the stream did not open).
        self.refusal: dict[str, Any] | None = None
        if self.status != 200:
            self.refusal = json.loads(self.response.read())
            self.connection.close()

    def message(self) -> tuple[str, Any]:
        """The next (event, parsed data), comments skipped. Raises `StreamGone`."""
        event, data = "", ""
        while True:
            try:
                raw = self.response.readline()
            except (OSError, http.client.HTTPException) as error:
                raise StreamGone(repr(error)) from None
            if not raw:
                raise StreamGone("the connection ended without complete")
            line = raw.decode().rstrip("\r\n")
            if not line:
                if event:
                    return event, json.loads(data) if data else None
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            if name == "event":
                event = value
            elif name == "data":
                data = value

    def event(self) -> dict[str, Any]:
        """The next event, which must be one."""
        kind, data = self.message()
        assert kind == "next" and "errors" not in data, (kind, data)
        return dict(data["data"]["poolEvents"])

    def ending(self) -> str:
        """The code of the stream's last `next`, checked to be followed by `complete`."""
        kind, data = self.message()
        assert kind == "next" and "data" not in data, (kind, data)
        code = str(data["errors"][0]["extensions"]["code"])
        assert self.message() == ("complete", None)
        return code

    def close(self) -> None:
        self.connection.close()


def _connected(host: str, port: int, options: Sequence[tuple[int, int, int]]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        for level, name, value in options:
            sock.setsockopt(level, name, value)
        sock.settimeout(READ_TIMEOUT)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock
