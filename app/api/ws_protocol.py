"""The `graphql-transport-ws` protocol: its messages, its close codes, one socket's state.

What the protocol (the `graphql-ws` library's PROTOCOL.md) says a server does
with each message, kept apart from the socket that carries them so that it can
be checked message by message: `parse` reads one message or says which close
code it earns, `SocketState` follows one socket from `connection_init` to its
last operation, and the `*_message` functions write what the server sends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..watching import TOO_MANY_SUBSCRIPTIONS
from .subscriptions import SubscriptionRequest

SUBPROTOCOL = "graphql-transport-ws"

# The protocol's close codes (graphql-ws's CloseCode), and the WebSocket ones used here.
NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
BAD_REQUEST = 4400
UNAUTHORIZED = 4401
FORBIDDEN = 4403
SUBPROTOCOL_NOT_ACCEPTABLE = 4406
CONNECTION_INIT_TIMEOUT = 4408
SUBSCRIBER_EXISTS = 4409
TOO_MANY_INITIALISATION_REQUESTS = 4429
INTERNAL_SERVER_ERROR = 4500

#: A close frame's reason holds at most 123 bytes (RFC 6455, 5.5: 125 less the code).
MAX_CLOSE_REASON = 123
#: An operation id quoted in a close reason is cut to this many characters.
QUOTED_ID = 64


class CloseSocket(Exception):
    """The socket must be closed with `code` and `reason`; nothing more is sent."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = close_reason(reason)


def close_reason(reason: str) -> str:
    """`reason` cut, on a character boundary, to what a close frame can carry."""
    encoded = reason.encode()
    if len(encoded) <= MAX_CLOSE_REASON:
        return reason
    return encoded[:MAX_CLOSE_REASON].decode(errors="ignore")


# Messages from the client --------------------------------------------------
@dataclass(frozen=True)
class ConnectionInit:
    payload: dict[str, Any] | None


@dataclass(frozen=True)
class Ping:
    payload: dict[str, Any] | None


@dataclass(frozen=True)
class Pong:
    payload: dict[str, Any] | None


@dataclass(frozen=True)
class Subscribe:
    id: str
    request: SubscriptionRequest


@dataclass(frozen=True)
class Complete:
    id: str


ClientMessage = ConnectionInit | Ping | Pong | Subscribe | Complete

# What only a server sends: a client sending it has broken the protocol (4400).
_SERVER_TYPES = frozenset({"connection_ack", "next", "error"})


def parse(data: str | bytes) -> ClientMessage:
    """One message from the client; raise `CloseSocket(4400)` for anything the
    protocol does not define (bad JSON, a missing or wrong field, a server's type)."""
    if isinstance(data, bytes):
        try:
            data = data.decode()
        except UnicodeDecodeError:
            raise _invalid("the message is not UTF-8 text") from None
    try:
        message = json.loads(data)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON and numbers too long to convert.
        raise _invalid("the message is not JSON") from None
    if not isinstance(message, dict):
        raise _invalid("a message is a JSON object")
    kind = message.get("type")
    if not isinstance(kind, str) or not kind:
        raise _invalid("the message has no 'type' string")
    if kind in ("connection_init", "ping", "pong"):
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            raise _invalid(f"the '{kind}' payload must be an object or null")
        if kind == "connection_init":
            return ConnectionInit(payload)
        return Ping(payload) if kind == "ping" else Pong(payload)
    if kind == "subscribe":
        return Subscribe(_id(message, kind), _subscription_request(message.get("payload")))
    if kind == "complete":
        return Complete(_id(message, kind))
    if kind in _SERVER_TYPES:
        raise _invalid(f"'{kind}' is a message only the server sends")
    raise _invalid(f"unknown message type {kind[:QUOTED_ID]!r}")


def _id(message: dict[str, Any], kind: str) -> str:
    operation_id = message.get("id")
    if not isinstance(operation_id, str) or not operation_id:
        raise _invalid(f"a '{kind}' message needs a non-empty 'id' string")
    return operation_id


def _subscription_request(payload: object) -> SubscriptionRequest:
    if not isinstance(payload, dict):
        raise _invalid("a 'subscribe' payload must be an object")
    query = payload.get("query")
    if not isinstance(query, str):
        raise _invalid("a 'subscribe' payload needs a 'query' string")
    for name in ("variables", "extensions"):
        value = payload.get(name)
        if value is not None and not isinstance(value, dict):
            raise _invalid(f"the 'subscribe' payload's '{name}' must be an object or null")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _invalid("the 'subscribe' payload's 'operationName' must be a string or null")
    return SubscriptionRequest(
        query=query,
        variables=payload.get("variables"),
        operation_name=operation_name,
        extensions=payload.get("extensions"),
    )


def _invalid(reason: str) -> CloseSocket:
    return CloseSocket(BAD_REQUEST, f"Invalid message received: {reason}")


def authorization(payload: dict[str, Any] | None, upgrade_header: str | None) -> str | None:
    """The `Authorization` value to authenticate with: the `connection_init`
    payload's (what a browser, which cannot set headers on a WebSocket, sends),
    else the upgrade request's header."""
    for key, value in (payload or {}).items():
        if key.lower() == "authorization" and isinstance(value, str):
            return value
    return upgrade_header


# One socket ----------------------------------------------------------------
@dataclass
class SocketState:
    """Where one socket is in the protocol, and the operations it runs.

    Each method answers a client message the way the protocol says, raising
    `CloseSocket` when the message earns a close.
    """

    #: Operations one socket may run at once; a `subscribe` beyond gets `error`.
    max_operations: int
    init_received: bool = False
    acknowledged: bool = False
    active: set[str] = field(default_factory=set)

    def connection_init(self) -> None:
        if self.init_received:
            raise CloseSocket(TOO_MANY_INITIALISATION_REQUESTS, "Too many initialisation requests")
        self.init_received = True

    def acknowledge(self) -> None:
        self.acknowledged = True

    def subscribe(self, operation_id: str) -> bool:
        """Take `operation_id` for a new operation; False (the operation to be
        refused with `error`) when the socket runs its most already."""
        if not self.acknowledged:
            raise CloseSocket(UNAUTHORIZED, "Unauthorized")
        if operation_id in self.active:
            quoted = operation_id[:QUOTED_ID]
            raise CloseSocket(SUBSCRIBER_EXISTS, f"Subscriber for {quoted} already exists")
        if len(self.active) >= self.max_operations:
            return False
        self.active.add(operation_id)
        return True

    def finish(self, operation_id: str) -> bool:
        """Free `operation_id` (the client completed it, or it ended); whether it ran.
        An unknown id is no error: the operation may have ended meanwhile."""
        if operation_id in self.active:
            self.active.discard(operation_id)
            return True
        return False


# Messages from the server --------------------------------------------------
def _encoded(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def ack_message() -> str:
    return _encoded({"type": "connection_ack"})


def ping_message() -> str:
    return _encoded({"type": "ping"})


def pong_message(payload: dict[str, Any] | None) -> str:
    # The protocol leaves the payload out entirely when there is none.
    return _encoded({"type": "pong"} if payload is None else {"type": "pong", "payload": payload})


def next_message(operation_id: str, result: dict[str, Any]) -> str:
    return next_message_of_json(operation_id, _encoded(result))


def next_message_of_json(operation_id: str, payload: str) -> str:
    """`next` around a result already encoded (`_encoded`'s way), shared by the
    operations of every socket that get that result."""
    return f'{{"id":{json.dumps(operation_id)},"type":"next","payload":{payload}}}'


def error_message(operation_id: str, errors: list[dict[str, Any]]) -> str:
    return _encoded({"id": operation_id, "type": "error", "payload": errors})


def too_many_operations(limit: int) -> list[dict[str, Any]]:
    """The `error` payload of a `subscribe` beyond the socket's bound: the code
    of the gate's own limits, as the client's remedy is the same."""
    return [
        {
            "message": f"this socket runs {limit} operations already; complete one first "
            "or open another socket",
            "extensions": {"code": TOO_MANY_SUBSCRIPTIONS},
        }
    ]
