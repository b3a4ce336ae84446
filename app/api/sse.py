"""GraphQL over Server-Sent Events, "distinct connections" mode: one subscription a response.

A POST (or GET) to /graphql with `Accept: text/event-stream` whose operation
is a subscription is answered with a stream: `event: next` with one result
per event, and `event: complete` at the end, after a last `next` that carries
`errors` when the stream ended in error (EVENTS_TRIMMED, SLOW_CONSUMER,
SHUTTING_DOWN, STORE_UNAVAILABLE). A request refused before its stream opens
is a plain JSON answer, as any other request's refusal. Comments (`:` lines)
keep an idle stream alive for proxies, and tell a dead client by failing.

gunicorn's gevent worker writes each chunk the generator yields at once
(chunked transfer encoding, no buffering); its access line is written when
the stream ends, with the stream's whole duration. A client that hangs up is
seen at once: a greenlet per stream waits for its socket to turn readable,
which an SSE client's socket only does when it is closed.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from ..watching import SHUTTING_DOWN
from .subscriptions import Subscription, SubscriptionEnded

EVENT_STREAM = "text/event-stream"
#: Seconds of silence after which a stream carries a comment.
KEEPALIVE = 15.0
#: A client that takes nothing of a write for this long is let go: its
#: subscription ends as SLOW_CONSUMER once its buffer fills, and this frees the
#: connection and the greenlet that a write to it would otherwise hold forever.
WRITE_TIMEOUT = 60.0
#: Sent first, so that the status and headers go out before the first event does.
OPENING = b": objmgr\n\n"
COMMENT = b":\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def wants_event_stream(accept: str) -> bool:
    """Whether `Accept` names `text/event-stream` (a wildcard does not)."""
    if EVENT_STREAM not in accept.lower():
        return False
    for value, quality in parse_accept_header(accept, MIMEAccept):
        if value.split(";")[0].strip().lower() == EVENT_STREAM and quality > 0:
            return True
    return False


def event_stream(subscription: Subscription, environ: dict[str, Any]) -> Response:
    """The response carrying `subscription`'s results until it ends or the client goes."""
    response = Response(
        _frames(subscription, environ), status=200, content_type=EVENT_STREAM, headers=HEADERS
    )
    # Neither a length nor a checksum can be known for a stream.
    response.automatically_set_content_length = False
    return response


def _frames(subscription: Subscription, environ: dict[str, Any]) -> Iterator[bytes]:
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        # gunicorn leaves its sockets blocking without a timeout.
        sock.settimeout(WRITE_TIMEOUT)
    stop_watching = _close_on_hangup(environ, subscription)
    shutting_down = False
    try:
        yield OPENING
        while True:
            try:
                result = subscription.next(KEEPALIVE)
            except SubscriptionEnded as ended:
                if not ended.errors:
                    return  # closed because the client left: nobody to tell
                shutting_down = _code(ended.errors) == SHUTTING_DOWN
                yield _message("next", {"errors": ended.errors})
                yield _message("complete", None)
                return
            # The frame's bytes are the same object for every stream of the document.
            yield COMMENT if result is None else result.sse_frame
    finally:
        # Whether the stream ended, the client left or gunicorn closed the iterator.
        stop_watching()
        subscription.close()
        if shutting_down:
            _no_next_request(environ)


def _code(errors: list[dict[str, Any]]) -> object:
    return (errors[0].get("extensions") or {}).get("code")


def _no_next_request(environ: dict[str, Any]) -> None:
    """Have gunicorn close the connection once the stream's last chunk is written.

    A stopping worker waits for its open connections, and a client keeping this
    one alive would hold it for the keep-alive timeout: with the read side shut,
    gunicorn reads the end of the connection where it looks for the next request.
    """
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)


def _message(event: str, data: object) -> bytes:
    payload = "" if data is None else json.dumps(data, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


def _close_on_hangup(environ: dict[str, Any], subscription: Subscription) -> Callable[[], None]:
    """Close `subscription` as soon as its client's socket closes; the canceller.

    Only under gevent with gunicorn's socket in the environ (the test client
    has none: its streams end when the test closes them).
    """
    sock = environ.get("gunicorn.socket")
    try:
        import gevent
        from gevent import monkey
        from gevent.socket import wait_read
    except ImportError:  # pragma: no cover - gevent is a dependency of the server
        return _nothing
    if sock is None or not monkey.is_module_patched("socket"):
        return _nothing

    def watch() -> None:
        try:
            wait_read(sock.fileno())
            # Readable: the end of the connection, or bytes a client should not
            # send on a stream (then the keepalive's write tells when it goes).
            if sock.recv(1, socket.MSG_PEEK) != b"":
                return
        except (OSError, ValueError):
            pass
        subscription.close()

    watcher = gevent.spawn(watch)
    return lambda: watcher.kill(block=False)


def _nothing() -> None:
    return None
