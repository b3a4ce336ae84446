"""GraphQL over WebSocket (graphql-transport-ws) against live gunicorn with two workers:
the handshake, each close code, auth, keepalive, a client that reads nothing, SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from collections.abc import Iterator

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from app.api import websocket
from app.api import ws_protocol as protocol

from .support import LiveServer, wait_until
from .ws_client import (
    MAX_MESSAGES,
    RECEIVE_TIMEOUT,
    TOKENS,
    Socket,
    closed_after,
    new_pool,
    open_socket,
)

pytestmark = pytest.mark.live


@pytest.fixture
def sockets(server: LiveServer) -> Iterator[list[Socket]]:
    yield from closed_after([])


# --- the handshake and the close codes ---------------------------------------------------


def test_the_subprotocol_is_negotiated_and_init_is_acknowledged(
    server: LiveServer, sockets: list[Socket]
) -> None:
    each = open_socket(server, sockets)
    assert each.ws.subprotocol == protocol.SUBPROTOCOL
    each.init()
    each.sync()


def test_a_client_without_the_subprotocol_is_closed_with_4406(server: LiveServer) -> None:
    # Read with wsproto itself: the close frame comes in the same read as the
    # handshake's answer, and simple_websocket.Client reads only the answer of it.
    client = WSConnection(ConnectionType.CLIENT)
    with socket.create_connection(("127.0.0.1", server.port), timeout=RECEIVE_TIMEOUT) as raw:
        raw.sendall(client.send(Request(host="objmgr", target="/graphql")))
        events: list[object] = []
        for _ in range(MAX_MESSAGES):
            data = raw.recv(65536)
            client.receive_data(data or None)
            events.extend(client.events())
            if not data or any(isinstance(event, CloseConnection) for event in events):
                break
    accepted, closed = events[:2]
    assert isinstance(accepted, AcceptConnection) and accepted.subprotocol is None
    assert isinstance(closed, CloseConnection)
    assert (closed.code, closed.reason) == (4406, "Subprotocol not acceptable")


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ("Upgrade: websocket\r\nConnection: Upgrade\r\n", 400, "BAD_REQUEST"),
        (
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: a2V5\r\n"
            "Sec-WebSocket-Version: 8\r\n",
            426,
            "UPGRADE_REQUIRED",
        ),
    ],
    ids=["no-key", "old-version"],
)
def test_a_bad_handshake_is_the_clients_mistake_never_a_5xx(
    server: LiveServer, headers: str, status: int, code: str
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=RECEIVE_TIMEOUT) as raw:
        raw.sendall(f"GET /graphql HTTP/1.1\r\nHost: objmgr\r\n{headers}\r\n".encode())
        answer = b""
        for _ in range(MAX_MESSAGES):
            answer += raw.recv(65536)
            head, _, body = answer.partition(b"\r\n\r\n")
            if body.endswith(b"}"):
                break
    assert head.split(b" ")[1] == str(status).encode(), head
    assert b"Sec-WebSocket-Version: 13" in head
    assert json.loads(body)["errors"][0]["extensions"]["code"] == code


def test_no_connection_init_in_time_closes_with_4408(
    server: LiveServer, sockets: list[Socket]
) -> None:
    each = open_socket(server, sockets)
    code, reason = each.closed_with(timeout=websocket.INIT_TIMEOUT + RECEIVE_TIMEOUT)
    assert (code, reason) == (4408, "Connection initialisation timeout")


def test_a_second_connection_init_closes_with_4429(
    server: LiveServer, sockets: list[Socket]
) -> None:
    each = open_socket(server, sockets)
    each.init()
    each.send({"type": "connection_init"})
    assert each.closed_with() == (4429, "Too many initialisation requests")


def test_subscribe_before_the_ack_closes_with_4401(
    server: LiveServer, sockets: list[Socket]
) -> None:
    each = open_socket(server, sockets)
    each.subscribe("1", "default")
    assert each.closed_with() == (4401, "Unauthorized")


@pytest.mark.parametrize(
    "data",
    ["{not json", '{"type": "subscribe", "id": "1"}', '{"type": "next", "id": "1"}'],
    ids=["json", "payload", "server-type"],
)
def test_an_invalid_message_closes_with_4400(
    server: LiveServer, sockets: list[Socket], data: str
) -> None:
    each = open_socket(server, sockets)
    each.init()
    each.ws.send(data)
    code, reason = each.closed_with()
    assert code == 4400 and reason.startswith("Invalid message received"), reason


def test_a_message_over_the_bound_closes_with_1009(
    server: LiveServer, sockets: list[Socket]
) -> None:
    each = open_socket(server, sockets)
    each.init()
    each.send({"type": "ping", "payload": {"big": "x" * websocket.MAX_MESSAGE}})
    assert each.closed_with()[0] == 1009


def test_a_subscribe_whose_id_is_in_use_closes_with_4409(
    server: LiveServer, sockets: list[Socket]
) -> None:
    pool = new_pool(server)
    each = open_socket(server, sockets)
    each.init()
    each.subscribe("a", pool)
    each.subscribe("a", pool)
    assert each.closed_with() == (4409, "Subscriber for a already exists")


def test_ping_is_answered_with_its_payload_and_the_server_keeps_the_socket_alive(
    server: LiveServer, sockets: list[Socket]
) -> None:
    each = open_socket(server, sockets)
    each.init()
    each.send({"type": "ping"})
    assert each.receive() == {"type": "pong"}
    each.send({"type": "ping", "payload": {"n": 7}})
    assert each.receive() == {"type": "pong", "payload": {"n": 7}}
    # The server's own ping comes within its keepalive; `receive` counts and answers it.
    data = each.ws.receive(timeout=websocket.KEEPALIVE + RECEIVE_TIMEOUT)
    assert data is not None and json.loads(data) == {"type": "ping"}
    each.send({"type": "pong"})
    each.sync()


# --- auth ----------------------------------------------------------------------------------


@pytest.fixture
def secured(live_server: LiveServer) -> Iterator[LiveServer]:
    live_server.start(TOKENS)
    yield live_server


def test_auth_by_the_init_payload_or_the_upgrade_header_and_4403_for_a_bad_token(
    secured: LiveServer,
) -> None:
    opened: list[Socket] = []
    try:
        by_payload = open_socket(secured, opened)
        by_payload.init({"Authorization": "Bearer s3cret"})
        by_header = open_socket(secured, opened, authorization="Bearer s3cret")
        by_header.init()
        for payload, header in [
            ({"Authorization": "Bearer nope"}, None),
            (None, "Bearer nope"),
            (None, None),
            ({"Authorization": "s3cret"}, None),
            ({"Authorization": "Bearer nope"}, "Bearer s3cret"),
        ]:
            refused = open_socket(secured, opened, authorization=header)
            refused.send({"type": "connection_init", "payload": payload})
            assert refused.closed_with() == (4403, "Forbidden"), (payload, header)
        # The principal is the token's: its events say who made them.
        pool = new_pool(secured, token="r00t")
        by_payload.subscribe("w", pool)
        client = secured.client("s3cret")
        try:
            client.acquire(pool=pool, label="mine")
        finally:
            client.close()
        (granted,) = by_payload.events("w", 1)
        assert (granted["kind"], granted["principal"]) == ("GRANTED", "alice")
        # The socket's access line, once it closed, says who it was and how it ended.
        by_payload.close()
        wait_until(
            lambda: any(
                "GET /graphql 101" in line
                and "principal=alice" in line
                and "close_code=1000" in line
                and "operation=graphql-transport-ws" in line
                for line in secured.stderr().splitlines()
            ),
            RECEIVE_TIMEOUT,
            "the socket's access line",
        )
        assert "s3cret" not in secured.stderr()
    finally:
        for each in opened:
            each.close()


def test_a_client_that_sends_without_reading_is_let_go(live_server: LiveServer) -> None:
    """Its answers pile up in a bounded queue, never in the worker's memory without end."""
    live_server.start({"OBJMGR_WORKERS": "1"})
    client = WSConnection(ConnectionType.CLIENT)
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=RECEIVE_TIMEOUT) as raw:
        # A small window: the server's writes stall soon after the client stops reading.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.sendall(
            client.send(
                Request(
                    host="objmgr",
                    target="/graphql",
                    subprotocols=[protocol.SUBPROTOCOL],
                    extra_headers=[(b"X-Request-Id", b"reads-nothing")],
                )
            )
        )
        client.receive_data(raw.recv(65536))
        assert isinstance(next(client.events()), AcceptConnection)
        # Initialised, so that no 4408 ends the socket meanwhile.
        raw.sendall(client.send(TextMessage(json.dumps({"type": "connection_init"}))))
        ping = client.send(TextMessage(json.dumps({"type": "ping", "payload": {"n": "x" * 200}})))
        with contextlib.suppress(OSError):
            for _ in range(20_000):
                raw.sendall(ping)
        wait_until(
            lambda: "request_id=reads-nothing" in live_server.stderr(),
            RECEIVE_TIMEOUT,
            "the server to let the connection go",
        )
    assert "close_code=1005" in live_server.stderr(), "let go, with no close frame of either side"


# --- stopping ------------------------------------------------------------------------------


def test_sigterm_closes_open_sockets_with_1001(live_server: LiveServer) -> None:
    live_server.start()
    idle = Socket(live_server.base_url)
    watching = Socket(live_server.base_url)
    try:
        idle.init()
        watching.init()
        watching.subscribe("w", "default")
        watching.sync()
        os.kill(live_server.pid, signal.SIGTERM)
        for each in (idle, watching):
            code, _reason = each.closed_with()
            assert code == 1001
        assert live_server.wait_exit() == 0
    finally:
        idle.close()
        watching.close()
