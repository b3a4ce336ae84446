"""GraphQL subscriptions over WebSocket at `/graphql`, subprotocol `graphql-transport-ws`.

flask-sock gives the upgrade request a `simple_websocket.Server`; this module
speaks the protocol (`ws_protocol`) over it, and every operation is opened
through the `SubscriptionGate` that SSE uses too, so both transports carry the
same results, limits and refusals.

Under gunicorn's gevent worker (the standard library patched, which flask-sock
and simple-websocket need there) one socket is: the request's greenlet reading
messages, simple-websocket's reader greenlet, and one pump greenlet per
operation. wsproto and a gevent socket take one writer at a time, so every
frame, close frames too, is written under the socket's lock.

Queries and mutations are refused (the gate's BAD_REQUEST `error`): they go
over POST, where the limits on every request apply.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import socket
import time
import weakref
from typing import Any

import gevent
from flask import Flask, request
from flask_sock import Sock
from gevent.lock import Semaphore
from simple_websocket import ConnectionClosed, Server

from ..pool.lease import Caller
from ..request_record import current_request
from ..watching import SHUTTING_DOWN
from . import ws_protocol as protocol
from .auth import Authenticator, Unauthenticated
from .subscriptions import Subscription, SubscriptionEnded, SubscriptionGate, SubscriptionRefused

log = logging.getLogger(__name__)

#: How long a client has from the upgrade to its `connection_init` (graphql-ws's default).
INIT_TIMEOUT = 3.0
#: The server's `ping` to an idle socket, so that proxies keep it and a dead peer shows.
KEEPALIVE = 10.0
#: A socket that neither sends anything (a `pong` at least) nor takes a write for this
#: long is dead: its reads and writes fail and it is let go. Over two keepalives.
SILENCE_TIMEOUT = 2.5 * KEEPALIVE
#: Operations one socket runs at once (the gate bounds each principal's and the worker's).
MAX_OPERATIONS = 100
#: A message is a GraphQL document (64 KiB at most) and its variables.
MAX_MESSAGE = 1024 * 1024
#: After the server's close frame, how long the client has to answer with its own.
CLOSE_WAIT = 5.0
#: A pump's wait for its next result; it checks on its operation in between.
PUMP_WAIT = 30.0

INTERNAL_ERROR = [
    {
        "message": "internal error; the server log has the details",
        "extensions": {"code": "INTERNAL_SERVER_ERROR"},
    }
]

# Every socket this worker serves, for a graceful stop to close them all.
_open_sockets: weakref.WeakSet[GraphQLSocket] = weakref.WeakSet()


def register(app: Flask, gate: SubscriptionGate, authenticator: Authenticator) -> None:
    """Serve `graphql-transport-ws` upgrades of `/graphql` (plain GET and POST stay the view's)."""
    app.config["SOCK_SERVER_OPTIONS"] = {
        "subprotocols": [protocol.SUBPROTOCOL],
        "max_message_size": MAX_MESSAGE,
    }
    sock = Sock(app)

    # flask-sock makes a WebSocket-only rule: werkzeug routes an upgrade here and
    # every other request of /graphql to the view.
    @sock.route("/graphql")
    def graphql_transport_ws(ws: Server) -> None:
        record = current_request()
        if record is not None:
            record.operation = protocol.SUBPROTOCOL
        GraphQLSocket(ws, gate, authenticator, request.headers.get("Authorization")).serve()


def close_all_going_away() -> None:
    """Close every socket of this worker with 1001 (a restart or a graceful stop);
    their clients connect again, to another worker or to the new one."""
    for graphql_socket in list(_open_sockets):
        graphql_socket.close(protocol.GOING_AWAY, "the server is restarting")


class GraphQLSocket:
    """One client's socket, from the upgrade to the close."""

    def __init__(
        self,
        ws: Server,
        gate: SubscriptionGate,
        authenticator: Authenticator,
        upgrade_authorization: str | None,
    ) -> None:
        self.ws = ws
        self.gate = gate
        self.authenticator = authenticator
        self.upgrade_authorization = upgrade_authorization
        self.state = protocol.SocketState(max_operations=MAX_OPERATIONS)
        self.caller: Caller | None = None
        self.pumps: dict[str, gevent.Greenlet] = {}
        self.write_lock = Semaphore()
        self.closed = False
        # Reads and writes on a dead peer fail instead of waiting for ever. The
        # reader greenlet has not run yet (nothing has yielded since the upgrade),
        # so its first read is bounded too.
        ws.sock.settimeout(SILENCE_TIMEOUT)

    # the socket's life --------------------------------------------------
    def serve(self) -> None:
        _open_sockets.add(self)
        try:
            if self.ws.subprotocol != protocol.SUBPROTOCOL:
                raise protocol.CloseSocket(
                    protocol.SUBPROTOCOL_NOT_ACCEPTABLE, "Subprotocol not acceptable"
                )
            self._read_messages()
        except protocol.CloseSocket as close:
            self.close(close.code, close.reason)
        except (ConnectionClosed, OSError):
            # The client went, or its socket timed out (SILENCE_TIMEOUT).
            pass
        except Exception:
            log.exception("graphql-transport-ws socket failed")
            self.close(protocol.INTERNAL_SERVER_ERROR, "Internal server error")
        finally:
            self._end()
            _open_sockets.discard(self)

    def _read_messages(self) -> None:
        init_deadline = time.monotonic() + INIT_TIMEOUT
        next_ping = time.monotonic() + KEEPALIVE
        while not self.closed:
            now = time.monotonic()
            if not self.state.init_received:
                if now >= init_deadline:
                    raise protocol.CloseSocket(
                        protocol.CONNECTION_INIT_TIMEOUT, "Connection initialisation timeout"
                    )
                wait = init_deadline - now
            else:
                if now >= next_ping:
                    self._send(protocol.ping_message())
                    next_ping = now + KEEPALIVE
                wait = next_ping - now
            data = self.ws.receive(timeout=wait)
            if data is not None:
                self._handle(protocol.parse(data))

    def _handle(self, message: protocol.ClientMessage) -> None:
        if isinstance(message, protocol.ConnectionInit):
            self.state.connection_init()
            self._authenticate(message.payload)
        elif isinstance(message, protocol.Ping):
            self._send(protocol.pong_message(message.payload))
        elif isinstance(message, protocol.Subscribe):
            self._subscribe(message)
        elif isinstance(message, protocol.Complete):
            self._complete(message.id)
        # A pong needs nothing: that it came is what keeps the socket alive.

    def _authenticate(self, payload: dict[str, Any] | None) -> None:
        try:
            self.caller = self.authenticator.caller(
                protocol.authorization(payload, self.upgrade_authorization)
            )
        except Unauthenticated:
            raise protocol.CloseSocket(protocol.FORBIDDEN, "Forbidden") from None
        record = current_request()
        if record is not None:
            record.principal = self.caller.principal
        self.state.acknowledge()
        self._send(protocol.ack_message())

    # operations -----------------------------------------------------------
    def _subscribe(self, message: protocol.Subscribe) -> None:
        if not self.state.subscribe(message.id):
            self._send(
                protocol.error_message(message.id, protocol.too_many_operations(MAX_OPERATIONS))
            )
            return
        # The pump sees this request's context (its record for the logs).
        context = contextvars.copy_context()
        self.pumps[message.id] = gevent.spawn(context.run, self._pump, message)

    def _complete(self, operation_id: str) -> None:
        with self.write_lock:
            # Under the lock: a pump holding a result checks this before it sends.
            running = self.state.finish(operation_id)
        pump = self.pumps.pop(operation_id, None)
        if running and pump is not None:
            pump.kill(block=False)

    def _pump(self, message: protocol.Subscribe) -> None:
        """Open one operation and send each of its results until it ends."""
        operation_id = message.id
        subscription: Subscription | None = None
        try:
            assert self.caller is not None  # subscribe is refused before the ack
            subscription = self.gate.open(message.request, self.caller)
            while True:
                result = subscription.next(timeout=PUMP_WAIT)
                if result is not None and not self._send_for(
                    operation_id, protocol.next_message(operation_id, result)
                ):
                    return
        except SubscriptionRefused as refusal:
            self._end_operation(operation_id, refusal.errors)
        except SubscriptionEnded as ended:
            if not ended.errors:
                return  # closed by this socket itself: nobody to tell
            self._end_operation(operation_id, ended.errors)
            if _code(ended.errors) == SHUTTING_DOWN:
                close_all_going_away()
        except (ConnectionClosed, OSError):
            # The socket went: the request's greenlet sees it too and ends the rest.
            pass
        except Exception:
            log.exception("graphql-transport-ws operation failed")
            self._end_operation(operation_id, INTERNAL_ERROR)
        finally:
            if subscription is not None:
                subscription.close()

    def _end_operation(self, operation_id: str, errors: list[dict[str, Any]]) -> None:
        if self._send_for(operation_id, protocol.error_message(operation_id, errors)):
            self.state.finish(operation_id)
            self.pumps.pop(operation_id, None)

    # writing --------------------------------------------------------------
    def _send(self, text: str) -> None:
        with self.write_lock:
            self.ws.send(text)

    def _send_for(self, operation_id: str, text: str) -> bool:
        """Send `text` while `operation_id` runs; False once the client completed it."""
        with self.write_lock:
            if self.closed or operation_id not in self.state.active:
                return False
            self.ws.send(text)
            return True

    def close(self, code: int, reason: str) -> None:
        """Send the close frame (once); the client's answer ends the socket."""
        with self.write_lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(ConnectionClosed, OSError):
                self.ws.close(code, protocol.close_reason(reason))

    def _end(self) -> None:
        """Stop every operation, then let simple-websocket's reader finish with
        the socket before gunicorn closes it: a socket closed under a greenlet
        still reading it is what gevent refuses (simple-websocket issue 24)."""
        self.closed = True
        pumps = list(self.pumps.values())
        self.pumps.clear()
        gevent.killall(pumps, block=True, timeout=CLOSE_WAIT)
        reader = self.ws.thread
        reader.join(timeout=CLOSE_WAIT)
        if reader.is_alive():
            # No close frame came back: end the reader's read.
            with contextlib.suppress(OSError):
                self.ws.sock.shutdown(socket.SHUT_RDWR)
            reader.join(timeout=CLOSE_WAIT)


def _code(errors: list[dict[str, Any]]) -> str | None:
    for error in errors:
        extensions = error.get("extensions")
        if isinstance(extensions, dict) and isinstance(extensions.get("code"), str):
            return str(extensions["code"])
    return None
