"""Whether the client of a request still listens, asked without blocking."""

from __future__ import annotations

import select
import socket
from collections.abc import Callable
from typing import Any


def _find_native_poll() -> Callable[[], Any]:
    """The C library's poll, even where gevent has replaced `select.poll`."""
    try:
        from gevent.monkey import get_original
    except ImportError:  # pragma: no cover - gevent is a dependency of the server
        return select.poll
    return get_original("select", "poll")


_native_poll = _find_native_poll()


def client_connected(environ: dict[str, Any]) -> Callable[[], bool]:
    """A check that the request's client has not hung up.

    A closed connection reads as ready with nothing to read. gunicorn hands
    the socket over in the WSGI environ; without it (the test client) the
    client is taken to be there. The peek uses poll, not select: select
    cannot watch a descriptor at or above FD_SETSIZE (1024), and a worker
    holding a thousand waiters hands out such descriptors.
    """
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return lambda: True

    def connected() -> bool:
        try:
            poller = _native_poll()
            poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
            # A timeout of zero never blocks, so the native poll is safe under gevent.
            ready = poller.poll(0)
            return not ready or sock.recv(1, socket.MSG_PEEK) != b""
        except (OSError, ValueError):
            return False

    return connected
