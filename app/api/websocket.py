"""GraphQL subscriptions over WebSocket at `/graphql`, subprotocol `graphql-transport-ws`.

flask-sock gives the upgrade request a `simple_websocket.Server`; this module
speaks the protocol (`ws_protocol`) over it, and every operation is opened
through the `SubscriptionGate` that SSE uses too, so both transports carry the
same results, limits and refusals.

Under gunicorn's gevent worker (the standard library patched, which flask-sock
and simple-websocket need there) one socket is: the request's greenlet reading
messages, simple-websocket's reader greenlet, one pump greenlet per
operation, and one writer greenlet for every frame (`ws_outbox`).

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
from dataclasses import dataclass
from typing import Any

import gevent
from flask import Flask, Response, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed, Server
from wsproto.events import RejectConnection
from wsproto.utilities import RemoteProtocolError

from ..logs.formatting import FIELDS
from ..pool.lease import Caller
from ..request_record import RequestRecord, current_request
from ..watching import SHUTTING_DOWN
from . import ws_protocol as protocol
from .auth import Authenticator, Unauthenticated
from .errors import error_response
from .subscriptions import Subscription, SubscriptionEnded, SubscriptionGate, SubscriptionRefused
from .ws_outbox import Outbox

log = logging.getLogger(__name__)
access_log = logging.getLogger("objmgr.access")

#: How long a client has from the upgrade to its `connection_init` (graphql-ws's default).
INIT_TIMEOUT = 3.0
#: The server's `ping` to an idle socket, so that proxies keep it (their idle timeouts
#: are often a minute) and a dead peer shows; each costs the worker a little, per socket.
KEEPALIVE = 30.0
#: A socket that neither sends anything (a `pong` at least) nor takes a write for this
#: long is dead: its reads and writes fail and it is let go. Over two keepalives.
SILENCE_TIMEOUT = 2.5 * KEEPALIVE
#: Operations one socket runs at once (the gate bounds each principal's and the worker's).
MAX_OPERATIONS = 100
#: A message is a GraphQL document (64 KiB at most) and its variables.
MAX_MESSAGE = 1024 * 1024
#: After the server's close frame, how long the client has to answer with its own.
CLOSE_WAIT = 5.0
#: A pump's wait for its next result: nothing is due in between (the keepalive is the
#: socket's, and a stream's end wakes it), so a wake only costs.
PUMP_WAIT = 300.0

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
    app.register_error_handler(RemoteProtocolError, _refuse_handshake)

    # flask-sock makes a WebSocket-only rule: werkzeug routes an upgrade here and
    # every other request of /graphql to the view.
    @sock.route("/graphql")
    def graphql_transport_ws(ws: Server) -> None:
        started = time.monotonic()
        record = current_request()
        if record is not None:
            record.operation = protocol.SUBPROTOCOL
        graphql_socket = GraphQLSocket(
            ws, gate, authenticator, request.headers.get("Authorization")
        )
        graphql_socket.serve()
        _log_access(record, request.remote_addr, time.monotonic() - started, graphql_socket)


def _refuse_handshake(error: RemoteProtocolError) -> Response:
    """A WebSocket upgrade that is not a valid handshake (no key, another version):
    the client's mistake, answered as wsproto suggests (400, or 426 naming the version)."""
    record = current_request()
    if record is not None:
        record.operation = protocol.SUBPROTOCOL
    hint = error.event_hint
    if not isinstance(hint, RejectConnection):
        hint = RejectConnection()
    headers = {name.decode(): value.decode() for name, value in hint.headers}
    code = "UPGRADE_REQUIRED" if hint.status_code == 426 else "BAD_REQUEST"
    return error_response(hint.status_code, f"not a WebSocket handshake: {error}", code, headers)


def close_all_going_away() -> None:
    """Close every socket of this worker with 1001 (a restart or a graceful stop);
    their clients connect again, to another worker or to the new one."""
    for graphql_socket in list(_open_sockets):
        graphql_socket.close(protocol.GOING_AWAY, "the server is stopping; connect again")


def _log_access(
    record: RequestRecord | None, remote_addr: str | None, seconds: float, ended: GraphQLSocket
) -> None:
    """The socket's access line, as gunicorn writes one for every other request
    (it writes none for a socket it never sees the answer of)."""
    if record is None or not access_log.isEnabledFor(logging.INFO):
        return
    access_log.info(
        "%s %s 101",
        record.method,
        record.path,
        extra={
            FIELDS: {
                "request_id": record.request_id,
                "method": record.method,
                "path": record.path,
                "status": 101,
                "duration_ms": round(seconds * 1000, 3),
                "principal": record.principal,
                "operation": record.operation,
                "remote_addr": remote_addr,
                "close_code": ended.close_code,
            }
        },
    )


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
        self.operations: dict[str, _Operation] = {}
        # Reads and writes on a dead peer fail instead of waiting for ever. The
        # reader greenlet has not run yet (nothing has yielded since the upgrade),
        # so its first read is bounded too.
        ws.sock.settimeout(SILENCE_TIMEOUT)
        self.outbox = Outbox(ws)

    @property
    def close_code(self) -> int:
        """The server's close code, else the client's (1005: no close frame came)."""
        if self.outbox.close_code is not None:
            return self.outbox.close_code
        return int(self.ws.close_reason)

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
        while self.outbox.open:
            now = time.monotonic()
            if not self.state.init_received:
                if now >= init_deadline:
                    raise protocol.CloseSocket(
                        protocol.CONNECTION_INIT_TIMEOUT, "Connection initialisation timeout"
                    )
                wait = init_deadline - now
            else:
                if now >= next_ping:
                    self.outbox.answer(protocol.ping_message())
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
            self.outbox.answer(protocol.pong_message(message.payload))
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
        self.outbox.answer(protocol.ack_message())

    # operations -----------------------------------------------------------
    def _subscribe(self, message: protocol.Subscribe) -> None:
        """Open the operation here, in the order of the socket's messages, so that
        whatever the client sends next (a `ping`) is answered once it is open, and
        every event committed after that answer is the operation's."""
        operation_id = message.id
        if not self.state.subscribe(operation_id):
            errors = protocol.too_many_operations(MAX_OPERATIONS)
            self.outbox.answer(protocol.error_message(operation_id, errors))
            return
        assert self.caller is not None  # subscribe is refused before the ack
        try:
            subscription = self.gate.open(message.request, self.caller)
        except Exception as error:
            if not isinstance(error, SubscriptionRefused):
                log.exception("graphql-transport-ws subscribe failed")
            errors = error.errors if isinstance(error, SubscriptionRefused) else INTERNAL_ERROR
            self.state.finish(operation_id)
            self.outbox.answer(protocol.error_message(operation_id, errors))
            return
        operation = _Operation(operation_id, subscription)
        self.operations[operation_id] = operation
        # The pump sees this request's context (its record for the logs).
        context = contextvars.copy_context()
        operation.pump = gevent.spawn(context.run, self._pump, operation)

    def _complete(self, operation_id: str) -> None:
        self.state.finish(operation_id)
        operation = self.operations.pop(operation_id, None)
        if operation is not None:
            operation.stop()

    def _pump(self, operation: _Operation) -> None:
        """Send each of the operation's results until it ends."""
        subscription = operation.subscription
        try:
            while True:
                result = subscription.next(timeout=PUMP_WAIT)
                if result is not None and not self._send_for(
                    operation, protocol.next_message_of_json(operation.id, result.json)
                ):
                    return
        except SubscriptionEnded as ended:
            if not ended.errors:
                return  # closed by this socket itself: nobody to tell
            self._send_last(operation, ended.errors)
            if _code(ended.errors) == SHUTTING_DOWN:
                close_all_going_away()
        except Exception:
            log.exception("graphql-transport-ws operation failed")
            self._send_last(operation, INTERNAL_ERROR)
        finally:
            subscription.close()

    # writing --------------------------------------------------------------
    def _send_for(self, operation: _Operation, text: str) -> bool:
        """Queue `text` while `operation` runs; False once it does not (the client
        completed it, and may have reused its id since) or the socket closes."""
        if self.operations.get(operation.id) is not operation:
            return False
        return self.outbox.result(text, timeout=SILENCE_TIMEOUT)

    def _send_last(self, operation: _Operation, errors: list[dict[str, Any]]) -> None:
        """End `operation` with an `error`; its id is free again."""
        if self.operations.get(operation.id) is not operation:
            return
        del self.operations[operation.id]
        self.state.finish(operation.id)
        self.outbox.result(protocol.error_message(operation.id, errors), timeout=SILENCE_TIMEOUT)

    def close(self, code: int, reason: str) -> None:
        """Close after what is queued (once); the client's answer ends the socket."""
        self.outbox.close(code, protocol.close_reason(reason))

    def _end(self) -> None:
        """Stop every operation, then let simple-websocket's reader finish with
        the socket before gunicorn closes it: a socket closed under a greenlet
        still reading it is what gevent refuses (simple-websocket issue 24)."""
        operations = list(self.operations.values())
        self.operations.clear()
        for operation in operations:
            operation.stop()
        gevent.joinall([operation.pump for operation in operations], timeout=CLOSE_WAIT)
        self.outbox.finish(timeout=CLOSE_WAIT)
        reader = self.ws.thread
        reader.join(timeout=CLOSE_WAIT)
        if reader.is_alive():
            # No close frame came back: end the reader's read.
            with contextlib.suppress(OSError):
                self.ws.sock.shutdown(socket.SHUT_RDWR)
            reader.join(timeout=CLOSE_WAIT)


@dataclass(eq=False)
class _Operation:
    id: str
    subscription: Subscription
    pump: gevent.Greenlet | None = None

    def stop(self) -> None:
        # Closed here too: a pump killed before it ran would never close it.
        self.subscription.close()
        if self.pump is not None:
            self.pump.kill(block=False)


def _code(errors: list[dict[str, Any]]) -> str | None:
    for error in errors:
        extensions = error.get("extensions")
        if isinstance(extensions, dict) and isinstance(extensions.get("code"), str):
            return str(extensions["code"])
    return None
