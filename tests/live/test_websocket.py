"""GraphQL subscriptions over WebSocket (graphql-transport-ws) against live gunicorn with
two workers, spoken to by a real WebSocket client (simple_websocket.Client)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import simple_websocket
from objmgr_client.operations import CREATE_POOL, POOL_EVENTS
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from app.api import websocket
from app.api import ws_protocol as protocol

from ..support.redis_server import RedisServer, launch_redis
from .conftest import ServerFactory
from .support import LiveServer, wait_until

pytestmark = pytest.mark.live

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


@pytest.fixture
def sockets(server: LiveServer) -> Iterator[list[Socket]]:
    opened: list[Socket] = []
    yield opened
    for each in opened:
        each.close()


def _open(server: LiveServer, opened: list[Socket], **options: Any) -> Socket:
    each = Socket(server.base_url, **options)
    opened.append(each)
    return each


def _pool(server: LiveServer, token: str | None = None) -> str:
    name = f"ws-{os.getpid()}-{next(_pools)}"
    client = server.client(token)
    try:
        assert client.data(CREATE_POOL, {"name": name, "size": 50})["createPool"]["success"]
    finally:
        client.close()
    return name


def _acquire(server: LiveServer, pool: str, label: str) -> int:
    """An acquire on a connection of its own; the object granted."""
    lease = server.acquire_once(pool=pool, label=label)["lease"]
    return int(lease["obj"])


# --- the handshake and the close codes ---------------------------------------------------


def test_the_subprotocol_is_negotiated_and_init_is_acknowledged(
    server: LiveServer, sockets: list[Socket]
) -> None:
    each = _open(server, sockets)
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
    each = _open(server, sockets)
    code, reason = each.closed_with(timeout=websocket.INIT_TIMEOUT + RECEIVE_TIMEOUT)
    assert (code, reason) == (4408, "Connection initialisation timeout")


def test_a_second_connection_init_closes_with_4429(
    server: LiveServer, sockets: list[Socket]
) -> None:
    each = _open(server, sockets)
    each.init()
    each.send({"type": "connection_init"})
    assert each.closed_with() == (4429, "Too many initialisation requests")


def test_subscribe_before_the_ack_closes_with_4401(
    server: LiveServer, sockets: list[Socket]
) -> None:
    each = _open(server, sockets)
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
    each = _open(server, sockets)
    each.init()
    each.ws.send(data)
    code, reason = each.closed_with()
    assert code == 4400 and reason.startswith("Invalid message received"), reason


def test_a_subscribe_whose_id_is_in_use_closes_with_4409(
    server: LiveServer, sockets: list[Socket]
) -> None:
    pool = _pool(server)
    each = _open(server, sockets)
    each.init()
    each.subscribe("a", pool)
    each.subscribe("a", pool)
    assert each.closed_with() == (4409, "Subscriber for a already exists")


def test_ping_is_answered_with_its_payload_and_the_server_keeps_the_socket_alive(
    server: LiveServer, sockets: list[Socket]
) -> None:
    each = _open(server, sockets)
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
        by_payload = _open(secured, opened)
        by_payload.init({"Authorization": "Bearer s3cret"})
        by_header = _open(secured, opened, authorization="Bearer s3cret")
        by_header.init()
        for payload, header in [
            ({"Authorization": "Bearer nope"}, None),
            (None, "Bearer nope"),
            (None, None),
            ({"Authorization": "s3cret"}, None),
            ({"Authorization": "Bearer nope"}, "Bearer s3cret"),
        ]:
            refused = _open(secured, opened, authorization=header)
            refused.send({"type": "connection_init", "payload": payload})
            assert refused.closed_with() == (4403, "Forbidden"), (payload, header)
        # The principal is the token's: its events say who made them.
        pool = _pool(secured, token="r00t")
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


# --- operations ----------------------------------------------------------------------------


def test_events_made_through_the_other_worker_come_in_order(
    server: LiveServer, sockets: list[Socket]
) -> None:
    pool = _pool(server)
    first, second = server.workers()
    with server.only_worker(first):
        each = _open(server, sockets)
        each.init()
        each.subscribe("watch", pool)
        each.sync()
    with server.only_worker(second):
        objects = [_acquire(server, pool, f"other-{n}") for n in range(5)]
    events = each.events("watch", 5)
    assert [event["obj"] for event in events] == objects
    assert [event["label"] for event in events] == [f"other-{n}" for n in range(5)]
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(seqs[0], seqs[0] + 5))


def test_after_replays_the_journal_then_goes_on_live(
    server: LiveServer, sockets: list[Socket]
) -> None:
    pool = _pool(server)
    made = [_acquire(server, pool, f"before-{n}") for n in range(4)]
    each = _open(server, sockets)
    each.init()
    each.subscribe("all", pool, after=0)
    replayed = each.events("all", 5)
    assert replayed[0]["kind"] == "POOL_CREATED"
    assert [event["obj"] for event in replayed[1:]] == made
    created_seq = replayed[0]["seq"]
    each.subscribe("later", pool, after=replayed[2]["seq"])
    assert [event["obj"] for event in each.events("later", 2)] == made[2:]
    live = _acquire(server, pool, "live")
    ends = {
        msg["id"]: msg["payload"]["data"]["poolEvents"] for msg in (each.receive(), each.receive())
    }
    assert {event["obj"] for event in ends.values()} == {live}
    assert ends["all"]["seq"] == ends["later"]["seq"] == created_seq + 5


def test_a_killed_worker_loses_nothing_for_a_client_that_resumes_with_its_last_seq(
    server: LiveServer, sockets: list[Socket]
) -> None:
    pool = _pool(server)
    first, second = server.workers()
    with server.only_worker(first):
        each = _open(server, sockets)
        each.init()
        each.subscribe("w", pool, after=0)
    for n in range(3):
        _acquire(server, pool, f"before-{n}")
    seen = [event["seq"] for event in each.events("w", 4)]
    with server.only_worker(second):
        server.kill_worker(first)
        for n in range(5):
            _acquire(server, pool, f"meanwhile-{n}")
    # No close frame from a killed process: the connection just ends.
    each.closed_with()
    resumed = _open(server, sockets)
    resumed.init()
    resumed.subscribe("w", pool, after=seen[-1])
    _acquire(server, pool, "after")
    seen += [event["seq"] for event in resumed.events("w", 6)]
    assert seen == list(range(seen[0], seen[0] + 10))


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = launch_redis(tmp_path / "redis")
    yield server
    server.stop()


def test_redis_events_of_another_host_come_in_order(
    live_servers: ServerFactory, redis: RedisServer
) -> None:
    hosts = [live_servers(), live_servers()]
    for host in hosts:
        host.start({"OBJMGR_STORE": redis.url})
    watcher, changer = hosts
    pool = _pool(changer)
    each = Socket(watcher.base_url)
    try:
        each.init()
        each.subscribe("live", pool)
        each.sync()
        objects = [_acquire(changer, pool, f"elsewhere-{n}") for n in range(5)]
        events = each.events("live", 5)
        assert [event["obj"] for event in events] == objects
        each.subscribe("replay", pool, after=0)
        replayed = each.events("replay", 6)
        assert replayed[0]["kind"] == "POOL_CREATED"
        assert replayed[1:] == events
    finally:
        each.close()


def test_complete_stops_one_operation_and_leaves_the_others(
    server: LiveServer, sockets: list[Socket]
) -> None:
    pool = _pool(server)
    each = _open(server, sockets)
    each.init()
    each.subscribe("stays", pool)
    each.subscribe("goes", pool)
    each.sync()
    each.send({"id": "goes", "type": "complete"})
    each.send({"id": "never-was", "type": "complete"})
    each.sync()
    _acquire(server, pool, "after-complete")
    (event,) = each.events("stays", 1)
    assert event["label"] == "after-complete"
    each.sync()
    # The id is free again once completed.
    each.subscribe("goes", pool)
    each.sync()
    _acquire(server, pool, "again")
    got = {each.receive()["id"] for _ in range(2)}
    assert got == {"stays", "goes"}


def test_a_query_or_mutation_over_the_socket_is_refused_with_an_error(
    server: LiveServer, sockets: list[Socket]
) -> None:
    each = _open(server, sockets)
    each.init()
    each.send({"id": "q", "type": "subscribe", "payload": {"query": "{ version }"}})
    message = each.receive()
    assert (message["id"], message["type"]) == ("q", "error")
    assert message["payload"][0]["extensions"]["code"] == "BAD_REQUEST"
    each.send({"id": "bad", "type": "subscribe", "payload": {"query": "subscription {"}})
    message = each.receive()
    assert (message["id"], message["type"]) == ("bad", "error")
    assert message["payload"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    each.sync()


def test_operations_beyond_the_sockets_bound_get_an_error_for_their_id(
    server: LiveServer, sockets: list[Socket]
) -> None:
    pool = _pool(server)
    each = _open(server, sockets)
    each.init()
    for n in range(websocket.MAX_OPERATIONS):
        each.subscribe(f"op-{n}", pool)
    each.subscribe("one-too-many", pool)
    message = each.receive()
    assert (message["id"], message["type"]) == ("one-too-many", "error")
    assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    each.sync()


def test_the_gates_limit_per_principal_comes_as_an_error_for_that_id(
    live_server: LiveServer,
) -> None:
    live_server.start(
        {**TOKENS, "OBJMGR_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": "1", "OBJMGR_WORKERS": "1"}
    )
    alice = Socket(live_server.base_url, authorization="Bearer s3cret")
    root = Socket(live_server.base_url, authorization="Bearer r00t")
    try:
        alice.init()
        alice.subscribe("first", "default")
        alice.sync()
        alice.subscribe("second", "default")
        message = alice.receive()
        assert (message["id"], message["type"]) == ("second", "error")
        assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        # Another principal has a place of its own, and alice's socket goes on.
        root.init()
        root.subscribe("theirs", "default")
        root.sync()
        alice.sync()
    finally:
        alice.close()
        root.close()


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
