"""A worker takes turns between its connections: one busy client does not hold it."""

from __future__ import annotations

import re
import socket

import pytest

from .support import LiveServer, wait_until

pytestmark = pytest.mark.live

PIPELINED = 1000
ANSWER = b'{"status":"ok"}'


def _request(tag: str) -> bytes:
    return f"GET /healthz?{tag} HTTP/1.1\r\nHost: objmgr\r\n\r\n".encode()


def _read_answers(connection: socket.socket, count: int) -> None:
    received = b""
    while received.count(ANSWER) < count:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection after {received.count(ANSWER)} answers"
        received += chunk


def test_a_client_with_many_requests_queued_does_not_hold_the_worker(
    live_server: LiveServer,
) -> None:
    # One worker, so that both connections are its: the kernel would spread them otherwise.
    live_server.start({"OBJMGR_WORKERS": "1"})
    address = ("127.0.0.1", live_server.port)
    with (
        socket.create_connection(address, timeout=30) as busy,
        socket.create_connection(address, timeout=30) as other,
    ):
        # Every request of the busy client is there before the first is answered.
        busy.sendall(b"".join(_request(f"busy={n}") for n in range(PIPELINED)))
        _read_answers(busy, 1)
        other.sendall(_request("other"))
        _read_answers(other, 1)
        _read_answers(busy, PIPELINED - 1)

    def served() -> list[str]:
        return re.findall(r"GET /healthz\?(busy=\d+|other) ", live_server.stdout_path.read_text())

    wait_until(lambda: len(served()) == PIPELINED + 1, 10.0, "every request in the access log")
    order = served()
    # The other client waited for a turn, not for the busy client's whole queue.
    assert len(order) - 1 - order.index("other") >= PIPELINED // 2
