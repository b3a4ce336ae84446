"""What keeps a process's waiters alive and wakes them: its session and its listener.

- `Session`: the process's id in the queues it waits in, and one native
  thread that refreshes the session's key in each pool the process has
  waiters in. A native thread, even under gevent, so that a request that holds
  the event loop (a heavy document) does not cost the waiters their turns.
- `Listener`: one pub/sub connection per process, subscribed to the channel
  on which scripts name the pools they changed; it hands each name to the
  wait room. It reconnects after Redis restarts, with backoff, and then has
  the room look at every pool it waits in, for the messages it missed.
"""

from __future__ import annotations

import _thread
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable

import redis

from . import wire
from .model import CHANNEL, SESSION_REFRESH, SESSION_TTL, session_key
from .replies import text
from .target import RedisTarget
from .topology import Topology
from .wire import LOST

log = logging.getLogger(__name__)

#: Seconds between reconnection attempts of the listener, doubling up to the cap.
BACKOFF_FIRST = 0.05
BACKOFF_CAP = 2.0
#: Seconds of silence after which the listener pings, and after which it gives
#: the connection up.
PING_AFTER = 5.0
DEAD_AFTER = 10.0


NativeLock = Callable[[], _thread.LockType]


def _native() -> tuple[Callable[..., object], Callable[[float], None], NativeLock]:
    """A way to start a native thread, to sleep in it and to lock against it, gevent or not."""
    try:
        from gevent import monkey
    except ImportError:
        return _thread.start_new_thread, time.sleep, _thread.allocate_lock
    return (
        monkey.get_original("_thread", "start_new_thread"),
        monkey.get_original("time", "sleep"),
        monkey.get_original("_thread", "allocate_lock"),
    )


class Session:
    """This process's waiters, as Redis sees them: alive while their key is."""

    def __init__(self, target: RedisTarget) -> None:
        self._target = target
        self._pid = 0
        self.id = ""
        # pool -> how many of this process's tickets wait in it. Read by the
        # native thread without a lock: a dict copy is atomic under the GIL.
        self._pools: dict[str, int] = {}
        self._running = False
        # Which refresh thread is the current one: a thread of an earlier
        # start (before a close, or in the parent of a fork) ends at its next turn.
        self._generation = 0
        # Held by the refresh thread while it checks and writes, so that once
        # `close` returns no write of this session reaches Redis.
        self._writing = _native()[2]()

    def current(self) -> str:
        """The session id, a new one (and a new thread) in a forked child."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self.id = uuid.uuid4().hex[:16]
            self._pools = {}
            self._running = False
            # The parent's refresh thread may have held it at the fork.
            self._writing = _native()[2]()
        return self.id

    def joined(self, pool: str) -> None:
        self._pools[pool] = self._pools.get(pool, 0) + 1
        if not self._running:
            self._running = True
            self._generation += 1
            start, sleep, _ = _native()
            start(self._refresh_loop, (self._generation, sleep))

    def left(self, pool: str) -> None:
        count = self._pools.get(pool, 0) - 1
        if count > 0:
            self._pools[pool] = count
        else:
            self._pools.pop(pool, None)

    def close(self) -> None:
        """Stop refreshing; waits out a refresh under way (at most the socket timeout)."""
        with self._writing:
            self._running = False

    def _current(self, generation: int, pid: int) -> bool:
        return self._running and self._generation == generation and self._pid == pid

    def _refresh_loop(self, generation: int, sleep: Callable[[float], None]) -> None:
        # Its own topology: connections made here serve this native thread alone.
        topology = self._target.connect()
        session, pid = self.id, os.getpid()
        failing = False
        while True:
            with self._writing:
                if not self._current(generation, pid):
                    break
                failing = self._refresh(topology, session, failing)
            sleep(SESSION_REFRESH)
        topology.close()

    def _refresh(self, topology: Topology, session: str, failing: bool) -> bool:
        """Whether the refresh failed: the first failure of a run is logged."""
        pools = list(self._pools)
        if not pools:
            return failing
        ttl_ms = str(int(SESSION_TTL * 1000))
        refreshes = [
            wire.Command(("SET", session_key(pool, session), "1", "PX", ttl_ms), False)
            for pool in pools
        ]
        until = wire.deadline_in(self._target.socket_timeout)
        errors = [
            result for result in topology.run(refreshes, until) if isinstance(result, BaseException)
        ]
        if errors and not failing:
            log.warning("cannot refresh the waiters' session: %s", errors[0])
        return bool(errors)


class Listener:
    """One subscription per process; `on_change(pool)` for every pool named on it."""

    def __init__(
        self,
        target: RedisTarget,
        on_change: Callable[[str], None],
        on_reconnect: Callable[[], None],
    ) -> None:
        self._target = target
        self._on_change = on_change
        self._on_reconnect = on_reconnect
        self._pid = 0
        self._stop = False
        #: Set each time the subscription is (again) in place; tests wait on it.
        self.subscribed = threading.Event()

    def start(self) -> None:
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._stop = False
        self.subscribed = threading.Event()
        threading.Thread(target=self._loop, name="objmgr-redis-listener", daemon=True).start()

    def close(self) -> None:
        self._stop = True

    def _loop(self) -> None:
        pause = threading.Event()
        backoff = BACKOFF_FIRST
        failing = False
        while not self._stop and self._pid == os.getpid():
            try:
                self._listen()
            except (*LOST, redis.RedisError) as error:
                if not failing:
                    log.warning("lost the subscription to pool changes, reconnecting: %s", error)
                failing = True
            if self.subscribed.is_set():
                backoff, failing = BACKOFF_FIRST, False
            self.subscribed.clear()
            pause.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_CAP)

    def _listen(self) -> None:
        topology = self._target.connect()
        client = topology.subscriber()
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(CHANNEL)
            heard = time.monotonic()
            pinged = False
            while not self._stop:
                message = pubsub.get_message(timeout=1.0)
                now = time.monotonic()
                if message is None:
                    if now - heard > DEAD_AFTER:
                        raise ConnectionError("no answer to a ping on the subscription")
                    if now - heard > PING_AFTER and not pinged:
                        pubsub.ping()
                        pinged = True
                    continue
                heard, pinged = now, False
                kind = message["type"]
                if kind == "subscribe":
                    log.debug("subscribed to pool changes")
                    self.subscribed.set()
                    # Whatever changed while we were not listening.
                    self._on_reconnect()
                elif kind == "message":
                    self._on_change(text(message["data"]))
        finally:
            pubsub.close()
            client.close()
            topology.close()
