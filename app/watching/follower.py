"""One pool's follower in a worker: reads the journal as it grows, fans out.

A thread (a greenlet under gunicorn's gevent worker) loops on
`Store.wait_for_events`, which costs nothing while nothing happens, and
offers each page it reads to every subscriber of the pool in this worker.
Its subscriber set and position are the hub's, changed under the hub's lock,
so that a subscriber joins at a position exactly: every event above it is
offered to it, none at or below.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from ..pool.errors import StoreUnavailable
from ..stores.base import Store
from .codes import STORE_UNAVAILABLE, WatchLimits
from .stream import FIRST_RETRY_DELAY, MAX_RETRY_DELAY, Subscriber

log = logging.getLogger(__name__)


class Followed(Protocol):
    """What a follower asks of its hub (`WatchHub`), which keeps its position and
    subscribers under the hub's lock."""

    store: Store
    limits: WatchLimits

    def follower_position(self, follower: Follower) -> int | None: ...

    def moved_on(self, follower: Follower, position: int) -> Sequence[Subscriber]: ...

    def end_followed(self, follower: Follower, code: str, message: str) -> None: ...


class Follower:
    def __init__(self, hub: Followed, pool: str, position: int) -> None:
        self.hub = hub
        self.pool = pool
        #: The seq of the last event offered to the subscribers (hub's lock).
        self.position = position
        #: The pool's subscribers in this worker (hub's lock).
        self.subscribers: set[Subscriber] = set()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"objmgr-watch-{pool}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Cut a pause between retries short; the loop ends once it has no subscribers."""
        self._wake.set()

    def _run(self) -> None:
        hub, limits = self.hub, self.hub.limits
        failing_since: float | None = None
        delay = FIRST_RETRY_DELAY
        while True:
            position = hub.follower_position(self)
            if position is None:
                return
            try:
                events = hub.store.wait_for_events(
                    self.pool, position, limits.page, limits.follow_wait
                )
            except Exception as error:
                if hub.follower_position(self) is None:
                    return  # nobody to tell: the last subscriber left meanwhile
                reason = error.message if isinstance(error, StoreUnavailable) else repr(error)
                if not isinstance(error, StoreUnavailable):
                    log.exception("watching %r: reading the journal failed", self.pool)
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                    log.warning("watching %r: the journal could not be read: %s", self.pool, reason)
                elif now - failing_since > limits.store_patience:
                    hub.end_followed(
                        self,
                        STORE_UNAVAILABLE,
                        f"the journal of pool {self.pool!r} could not be read for "
                        f"{limits.store_patience:g} seconds: {reason}; subscribe again with "
                        "the last seq received as after",
                    )
                    failing_since = None
                    continue
                self._wake.wait(delay)
                self._wake.clear()
                delay = min(delay * 2, MAX_RETRY_DELAY)
                continue
            failing_since, delay = None, FIRST_RETRY_DELAY
            if events:
                for subscriber in hub.moved_on(self, events[-1].seq):
                    subscriber.offer(events)
