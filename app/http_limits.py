"""A deadline for request bodies, so a client that never finishes one frees its slot.

gunicorn's gevent worker bounds the wait for a request's line and headers (its
`keepalive` timeout covers every `next(parser)`, the first request's too), but
not the body: the application reads `wsgi.input` from the socket with no
timeout, and a client that sends its headers and one byte of a body holds a
connection slot, and the greenlet serving it, for as long as it likes.

`BodyDeadline` reads the whole body before the application runs, under one
`gevent.Timeout` counted from when the request's headers arrived (when the
worker calls the application). A body late past the deadline is answered 408
and the connection is shut down, so the worker does not go on to wait for the
rest of it. The application then reads the body from memory; it was going to
read all of it anyway (a GraphQL POST is parsed whole).
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import gevent

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class BodyDeadline:
    """WSGI middleware: the body arrives within `timeout` seconds or the answer is 408."""

    def __init__(self, app: WSGIApp, timeout: float, max_body: int) -> None:
        self.app = app
        self.timeout = timeout
        # The application refuses longer bodies (413) without reading them.
        self.max_body = max_body

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = _content_length(environ)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked and (length is None or length == 0 or length > self.max_body):
            return self.app(environ, start_response)
        stream = environ["wsgi.input"]
        try:
            with gevent.Timeout(self.timeout):
                # One byte over the limit tells a chunked body that is too long.
                body = stream.read(self.max_body + 1)
        except gevent.Timeout:
            message = f"the request body did not arrive within {self.timeout:g} seconds"
            payload = _refuse(start_response, "408 Request Timeout", message, "REQUEST_TIMEOUT")
            return _ThenShutDown(payload, environ.get("gunicorn.socket"))
        if len(body) > self.max_body:
            # A chunked body has no length to refuse it by before it is read. The
            # connection stays: gunicorn reads the rest of the body before the next
            # request, within its keep-alive timeout, so the answer is not lost to
            # a reset as it would be were the socket closed with data unread.
            message = f"the request body is longer than {self.max_body} bytes"
            return [
                _refuse(
                    start_response, "413 Request Entity Too Large", message, "PAYLOAD_TOO_LARGE"
                )
            ]
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


def _refuse(start_response: StartResponse, status: str, message: str, code: str) -> bytes:
    """Start a refusal in the API's error shape; its body."""
    payload = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return payload


class _ThenShutDown:
    """The 408's body; once it is written, the connection is shut down.

    gunicorn drops an application's `Connection: close` (a hop-by-hop header)
    and would go on to wait for the rest of the late body for the next request:
    `close()` runs after the answer is written, and a shut down socket reads
    as the end of the stream, so the worker closes the connection at once.
    """

    def __init__(self, payload: bytes, sock: socket.socket | None) -> None:
        self.payload = payload
        self.sock = sock

    def __iter__(self) -> Iterator[bytes]:
        yield self.payload

    def close(self) -> None:
        if self.sock is not None:
            # OSError: the client has gone already.
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


def _content_length(environ: dict[str, Any]) -> int | None:
    value = environ.get("CONTENT_LENGTH") or ""
    try:
        return int(value) if value else None
    except ValueError:
        # gunicorn refuses a malformed Content-Length before the application runs.
        return None
