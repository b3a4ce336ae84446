"""A loopback HTTP proxy that loses replies: the network fault a request id is for.

Each connection carries one request (the client sends `Connection: close`).
The proxy forwards it to the upstream server, which carries it out, and then
hangs up without passing the reply on, for as many requests as it is told to
lose; the others get their reply. Without an upstream every reply is lost.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import Any

HEADER_END = b"\r\n\r\n"
MAX_HEADER = 64 * 1024
IO_TIMEOUT = 30.0


def _read_request(conn: socket.socket) -> bytes:
    """One HTTP request with its Content-Length body, as it came."""
    data = b""
    while HEADER_END not in data:
        chunk = conn.recv(65536)
        if not chunk or len(data) > MAX_HEADER:
            return data
        data += chunk
    head, _, body = data.partition(HEADER_END)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + HEADER_END + body


def _read_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


class LossyProxy:
    """Listens on a free loopback port; `url` is what a client is pointed at."""

    def __init__(self, upstream_port: int | None, lose: int) -> None:
        self._upstream_port = upstream_port
        self._lose = lose
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, name="lossy-proxy", daemon=True)
        self._thread.start()

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the requests seen so far, in order."""
        with self._lock:
            seen = list(self.requests)
        return [json.loads(request.partition(HEADER_END)[2]) for request in seen]

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                if self._stopping.is_set():
                    return
                conn.settimeout(IO_TIMEOUT)
                with contextlib.suppress(OSError):
                    self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        request = _read_request(conn)
        with self._lock:
            self.requests.append(request)
            lost = len(self.requests) <= self._lose or self._upstream_port is None
        if self._upstream_port is None:
            return
        with socket.create_connection(
            ("127.0.0.1", self._upstream_port), timeout=IO_TIMEOUT
        ) as upstream:
            upstream.sendall(request)
            reply = _read_all(upstream)
        if not lost:
            conn.sendall(reply)

    def close(self) -> None:
        self._stopping.set()
        # accept() is blocking: a connection of our own wakes it to see the flag.
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            pass
        self._thread.join(IO_TIMEOUT)
        self._listener.close()

    def __enter__(self) -> LossyProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
