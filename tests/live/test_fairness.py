"""A worker takes turns between its connections: one busy client does not hold it.

The worker is stopped (SIGSTOP) while it is in the middle of the busy client's
queue, and the other client's request is sent then: when the worker runs again
both are waiting, whatever the host's load did to the timing of either process.
"""

from __future__ import annotations

import os
import re
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .support import LiveServer, wait_until

pytestmark = pytest.mark.live

PIPELINED = 1000
ANSWER = b'{"status":"ok"}'
# Rounds in which the worker got through the whole first batch before it could be
# stopped (the test process starved for that long) prove nothing and are run again.
ROUNDS = 5


def _request(request_id: str) -> bytes:
    # The access log names each request by its id, in the order they were answered.
    return f"GET /healthz HTTP/1.1\r\nHost: objmgr\r\nX-Request-Id: {request_id}\r\n\r\n".encode()


def _requests(tag: str, first: int, count: int) -> bytes:
    return b"".join(_request(f"{tag}-{n}") for n in range(first, first + count))


class Answers:
    """Counts the answers read from one connection, however the reads split them."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.count = 0
        self._tail = b""

    def read_until(self, count: int) -> None:
        while self.count < count:
            chunk = self.connection.recv(65536)
            assert chunk, f"the server closed the connection after {self.count} answers"
            data = self._tail + chunk
            self.count += data.count(ANSWER)
            # An answer split between two reads is counted once, when it completes.
            self._tail = data[-(len(ANSWER) - 1) :]


@contextmanager
def _stopped(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _served(live_server: LiveServer, tag: str) -> list[str]:
    pattern = rf"request_id=({tag}-\d+|{tag}-other) "
    return re.findall(pattern, live_server.stderr())


def test_a_client_with_many_requests_queued_does_not_hold_the_worker(
    live_server: LiveServer,
) -> None:
    # One worker, so that both connections are its: the kernel would spread them otherwise.
    live_server.start({"OBJMGR_WORKERS": "1"})
    (worker,) = live_server.workers()
    address = ("127.0.0.1", live_server.port)
    for round_ in range(ROUNDS):
        tag = f"r{round_}"
        with (
            socket.create_connection(address, timeout=30) as busy,
            socket.create_connection(address, timeout=30) as other,
        ):
            busy_answers, other_answers = Answers(busy), Answers(other)
            # Every request of the busy client is there before the first is answered.
            busy.sendall(_requests(tag, 0, PIPELINED))
            busy_answers.read_until(1)
            with _stopped(worker):
                before = len(_served(live_server, tag))
                # Another full queue behind whatever the worker had left of the first.
                busy.sendall(_requests(tag, PIPELINED, PIPELINED))
                other.sendall(_request(f"{tag}-other"))
            other_answers.read_until(1)
            busy_answers.read_until(2 * PIPELINED)

        wait_until(
            lambda: len(_served(live_server, tag)) == 2 * PIPELINED + 1,  # noqa: B023
            10.0,
            "every request in the access log",
        )
        if before >= PIPELINED - 1:
            continue
        order = _served(live_server, tag)
        # When the other client's request came, the busy client had at least PIPELINED
        # requests queued: the other one waited for a turn, not for the whole queue.
        assert len(order) - 1 - order.index(f"{tag}-other") >= PIPELINED // 2, (
            before,
            order.index(f"{tag}-other"),
        )
        return
    pytest.fail(f"the worker answered every request before it could be stopped, {ROUNDS} times")
