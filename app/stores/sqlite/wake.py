"""Waking the waiters of other processes on one host, and telling which processes live.

Every process with waiters or followers of a journal binds one datagram
socket in the abstract Unix namespace (no file to clean up; it goes with the
process) and reads it on one thread, a greenlet under gevent. A process that
made a change that may let a queue's head be served sends the pool's name,
after COMMIT, to the socket of the process that holds the head; one that
wrote events, to the sockets of the pool's watchers (`watchers.py`). Sends
never block: a full or vanished receiver is skipped, and its `WaitRoom` (or
follower) finds the change on its own recheck.

A waiter is live while its process lives, told by the pid and the process's
start time (boot id and clock ticks since boot from /proc), never by a wall
clock: a clock step cannot kill a waiter, a stopped process (SIGSTOP, a long
request) keeps its place, a killed one loses it at once, and a pid used again
by another process is not taken for the first.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_serials = itertools.count(1)
_MESSAGE_BYTES = 512


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


BOOT_ID = _boot_id()


def started(pid: int) -> str | None:
    """The start of process `pid` ("boot:ticks"), None when it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after its last ')'.
    fields = text.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return f"{BOOT_ID}:{fields[19]}"


#: Whether /proc tells processes apart here; without it liveness falls back to kill(0).
PROC_WORKS = started(os.getpid()) is not None


def alive(pid: int, start: str) -> bool:
    """Whether the process `pid` that started at `start` still runs."""
    if PROC_WORKS:
        return started(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def this_process() -> tuple[int, str]:
    pid = os.getpid()
    return pid, started(pid) or f"{BOOT_ID}:pid-{pid}"


class Listener:
    """This process's socket for wake-ups of one store, read by one thread."""

    def __init__(self, name: str, on_pool: Callable[[str], None]) -> None:
        """`name` tells the store apart (its database); `on_pool` gets each pool named."""
        self._name = name
        self._on_pool = on_pool
        self._lock = threading.Lock()
        self._pid = 0
        self._socket: socket.socket | None = None
        self._address = b""
        self._sender: socket.socket | None = None
        self._sender_pid = 0

    def address(self) -> bytes:
        """This process's address, bound (and read) from the first call in the process on."""
        if self._pid == os.getpid():
            return self._address
        with self._lock:
            if self._pid != os.getpid():
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                address = f"\0objmgr/{self._name}/{os.getpid()}/{next(_serials)}".encode()
                sock.bind(address)
                self._socket, self._address, self._pid = sock, address, os.getpid()
                threading.Thread(
                    target=self._read, args=(sock,), name="objmgr-wakeups", daemon=True
                ).start()
        return self._address

    def send(self, address: bytes, pool: str) -> bool:
        """Tell the process at `address` that `pool` changed; never blocks. False
        when it was not sent."""
        if self._sender is None or self._sender_pid != os.getpid():
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
            self._sender_pid = os.getpid()
        try:
            self._sender.sendto(pool.encode(), address)
        except OSError as error:
            # Gone (refused, no such address) or not reading fast enough (EAGAIN):
            # its room rechecks every pool it waits in on its own.
            log.debug("wake-up for pool %r not sent: %s", pool, error)
            return False
        return True

    def _read(self, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(_MESSAGE_BYTES)
            except OSError:
                return
            if not data:
                if self._socket is not sock:
                    return
                continue
            try:
                self._on_pool(data.decode())
            except Exception:
                log.exception("waking the waiters of pool %r failed", data)

    def close(self) -> None:
        with self._lock:
            sock, self._socket, self._pid = self._socket, None, 0
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._sender is not None and self._sender_pid == os.getpid():
            self._sender.close()
        self._sender = None
