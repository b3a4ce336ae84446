"""Following pools' journals on Redis: a blocking stream read, on a connection of its own.

`XREAD BLOCK ms COUNT first STREAMS P:events AFTER-0` answers at once when
the stream holds entries after `after`, else as soon as a script on any host
appends one, else nil once `ms` passed. It holds its connection meanwhile, so
it never travels on the command connections, whose pipelines carry the scripts
and whose socket timeout is short: each pool followed gets a connection of its
own, whose reply is awaited for the block plus the socket timeout. A lost
connection (Redis killed or restarted) is `StoreUnavailable` at once, and the
next read connects afresh; a Redis that hangs is one after the block and the
socket timeout.

Connections: at most one per pool, kept between reads (the caller follows
each pool in a loop) and closed by the next read of any pool once unused for
`IDLE_AFTER` seconds, or by the store's close. A second concurrent reader of
a pool gets a connection of its own, closed when it is done.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import redis

from ...pool.events import Event
from .model import events_key
from .replies import event_from
from .target import RedisTarget
from .wire import LOST, unavailable

#: Seconds a pool's connection is kept unused before the next read closes it.
IDLE_AFTER = 30.0


class Followers:
    """This process's blocking reads of pools' journals."""

    def __init__(self, target: RedisTarget) -> None:
        self._timeout = target.socket_timeout
        # Its connections are made and closed here, not pooled.
        self._topology = target.connect()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        # pool -> its connection, and when its last read ended.
        self._idle: dict[str, tuple[redis.Connection, float]] = {}

    def read(self, pool: str, after: int, first: int, timeout: float) -> list[Event]:
        """Events of `pool` with seq > `after`, at most `first`, waiting up to
        `timeout` seconds for the first. Raises `StoreUnavailable`."""
        connection = self._take(pool)
        try:
            reply = self._xread(connection, pool, after, first, timeout)
        except (*LOST, redis.RedisError) as error:
            connection.disconnect()
            raise unavailable(error) from error
        except BaseException:
            # Interrupted mid-reply (a greenlet killed): the connection's state is unknown.
            connection.disconnect()
            raise
        self._give_back(pool, connection)
        if not reply:
            return []
        # One stream asked, its entries as XRANGE answers them: {key: entries} in
        # RESP3, [[key, entries]] in RESP2.
        streams = reply.values() if isinstance(reply, dict) else [pair[1] for pair in reply]
        return [event_from(pool, entry) for entries in streams for entry in entries]

    def _xread(
        self, connection: redis.Connection, pool: str, after: int, first: int, timeout: float
    ) -> Any:
        block = [] if timeout <= 0 else ["BLOCK", max(1, round(timeout * 1000))]
        stream_id = f"{max(after, 0)}-0"
        connection.send_command(
            "XREAD", "COUNT", first, *block, "STREAMS", events_key(pool), stream_id
        )
        return connection.read_response(timeout=max(timeout, 0.0) + self._timeout)

    def _take(self, pool: str) -> redis.Connection:
        now = time.monotonic()
        with self._lock:
            if self._pid != os.getpid():
                # A forked child: the parent's sockets are the parent's.
                self._pid, self._idle = os.getpid(), {}
            stale = [name for name, (_, since) in self._idle.items() if now - since > IDLE_AFTER]
            closing = [self._idle.pop(name)[0] for name in stale]
            kept = self._idle.pop(pool, None)
        for connection in closing:
            connection.disconnect()
        if kept is not None:
            return kept[0]
        return self._topology.connection_for(events_key(pool))

    def _give_back(self, pool: str, connection: redis.Connection) -> None:
        with self._lock:
            spare = pool in self._idle or self._pid != os.getpid()
            if not spare:
                self._idle[pool] = (connection, time.monotonic())
        if spare:
            connection.disconnect()

    def close(self) -> None:
        with self._lock:
            connections = [connection for connection, _ in self._idle.values()]
            self._idle = {}
        for connection in connections:
            connection.disconnect()
