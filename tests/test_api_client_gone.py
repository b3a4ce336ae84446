"""A waiter's check that its client still listens, at any descriptor number."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Iterator

import pytest

from app.api.connection import client_connected

# select() cannot watch descriptors from FD_SETSIZE on.
HIGH_FD = 1500


@pytest.fixture
def high_fd_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft <= HIGH_FD:
        if hard != resource.RLIM_INFINITY and hard <= HIGH_FD:
            pytest.skip(f"the descriptor limit ({hard}) is below {HIGH_FD}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (HIGH_FD + 1, hard))
    server, client = socket.socketpair()
    os.dup2(server.fileno(), HIGH_FD)
    high = socket.socket(fileno=HIGH_FD)
    server.close()
    try:
        yield high, client
    finally:
        high.close()
        client.close()


def test_a_client_on_a_descriptor_above_1023_is_seen_connected_then_gone(
    high_fd_pair: tuple[socket.socket, socket.socket],
) -> None:
    server_side, client_side = high_fd_pair
    connected = client_connected({"gunicorn.socket": server_side})
    assert connected()
    client_side.sendall(b"x")  # a pipelined byte is not a hang-up
    assert connected()
    client_side.close()
    assert server_side.recv(1) == b"x"
    assert not connected()


def test_without_a_socket_the_client_is_taken_to_be_there() -> None:
    assert client_connected({})()
