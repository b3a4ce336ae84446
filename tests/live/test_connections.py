"""Slow clients cannot lock the server out: bodies have a deadline, and slots abound.

Each test holds thousands of real connections to a real gunicorn on loopback,
every one of them stalled part-way through its request.
"""

from __future__ import annotations

import contextlib
import json
import resource
import selectors
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from ..support.sockets import post_request, sending
from .support import LiveServer, wait_until

pytestmark = pytest.mark.live

STALLED = 2500
# The contract's bound for /healthz under load.
HEALTHZ_WITHIN = 1.0
# A generous cap on waiting for what must happen, never a measure of speed.
SETTLE = 120.0
STALLED_BODY = (
    b"POST /graphql HTTP/1.1\r\nHost: objmgr\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100\r\n\r\n{"
)


def _enough_files(count: int) -> None:
    """Let this process hold `count` sockets and more (the soft limit may be 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = count + 512
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"this host allows {hard} open files, the test needs {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@contextlib.contextmanager
def _stalled(port: int, head: bytes, count: int = STALLED) -> Iterator[list[socket.socket]]:
    """`count` connections that each sent `head` and then nothing more."""
    _enough_files(count)
    with sending(("127.0.0.1", port), head, count, timeout=SETTLE) as sockets:
        yield sockets


def _healthz_answers_in_time(base_url: str) -> None:
    for _ in range(3):
        # A new connection each time: it must find a free slot, not reuse one.
        started = time.monotonic()
        response = requests.get(f"{base_url}/healthz", timeout=HEALTHZ_WITHIN)
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        assert elapsed < HEALTHZ_WITHIN, f"/healthz took {elapsed:.2f}s"


def _endings(sockets: list[socket.socket]) -> dict[str, int]:
    """How each connection ended: the server's first answer line, or 'closed'."""
    selector = selectors.DefaultSelector()
    received: dict[socket.socket, bytes] = {}
    for connection in sockets:
        connection.setblocking(False)
        selector.register(connection, selectors.EVENT_READ)
        received[connection] = b""
    open_ = set(sockets)
    deadline = time.monotonic() + SETTLE
    while open_ and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1.0):
            connection = key.fileobj
            assert isinstance(connection, socket.socket)
            try:
                chunk = connection.recv(4096)
            except (ConnectionResetError, BlockingIOError):
                chunk = b""
            received[connection] += chunk
            if not chunk:
                selector.unregister(connection)
                open_.discard(connection)
    selector.close()
    if open_:
        pytest.fail(f"{len(open_)} of {len(sockets)} connections were neither answered nor closed")
    endings: dict[str, int] = {}
    for data in received.values():
        ending = data.split(b"\r\n", 1)[0].decode() if data else "closed"
        endings[ending] = endings.get(ending, 0) + 1
    return endings


def test_thousands_of_stalled_bodies_leave_healthz_answering(live_server: LiveServer) -> None:
    url = live_server.start({"OBJMGR_BODY_TIMEOUT": "600"})
    with _stalled(live_server.port, STALLED_BODY):
        _healthz_answers_in_time(url)
        client = live_server.client()
        assert client.acquire()["success"], "the API serves too"
        client.close()


def test_a_body_late_past_the_deadline_is_answered_408_and_its_slot_freed(
    live_server: LiveServer,
) -> None:
    url = live_server.start({"OBJMGR_BODY_TIMEOUT": "1"})
    with _stalled(live_server.port, STALLED_BODY) as sockets:
        endings = _endings(sockets)
    assert set(endings) <= {"HTTP/1.1 408 Request Timeout", "closed"}, endings
    assert endings.get("HTTP/1.1 408 Request Timeout", 0) >= 1, endings
    _healthz_answers_in_time(url)
    # The late body's connection was closed, not kept for a next request.
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=SETTLE) as late:
        late.sendall(STALLED_BODY)
        late.settimeout(SETTLE)
        answer = b""
        while chunk := late.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"code": "REQUEST_TIMEOUT"' in answer, answer


def test_headers_that_never_finish_are_dropped(live_server: LiveServer) -> None:
    url = live_server.start({"OBJMGR_BODY_TIMEOUT": "600"})
    with _stalled(live_server.port, b"POST /graphql HTTP/1.1\r\nHost: obj") as sockets:
        _healthz_answers_in_time(url)
        # gunicorn's keep-alive timeout bounds every wait for a request's headers.
        endings = _endings(sockets)
    assert endings == {"closed": STALLED}, endings


WAITERS = 3000
WAITING_REQUEST = post_request({"query": "mutation { acquireObject(wait: 600) { success code } }"})


def test_thousands_of_waiting_acquires_leave_healthz_answering(live_server: LiveServer) -> None:
    url = live_server.start({"OBJMGR_POOL_SIZE": "1", "OBJMGR_MAX_WAIT": "600"})
    client = live_server.client()
    assert client.acquire()["success"]
    with _stalled(live_server.port, WAITING_REQUEST, WAITERS):
        wait_until(lambda: client.pool()["waiting"] == WAITERS, SETTLE, f"{WAITERS} waiters")
        _healthz_answers_in_time(url)
    client.close()


def test_a_chunked_body_is_read_whole_and_refused_past_the_limit(server: LiveServer) -> None:
    def chunks(size: int) -> Iterator[bytes]:
        body = json.dumps({"query": "{ version }", "padding": "x" * size}).encode()
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    url = f"{server.base_url}/graphql"
    headers = {"Content-Type": "application/json"}
    small = requests.post(url, data=chunks(10), headers=headers, timeout=SETTLE)
    assert small.status_code == 200 and small.json()["data"]["version"], small.text
    large = requests.post(url, data=chunks(1024 * 1024), headers=headers, timeout=SETTLE)
    assert large.status_code == 413, large.text
    assert large.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
