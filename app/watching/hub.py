"""The worker's followers of pools' journals and their subscribers (see the package)."""

from __future__ import annotations

import threading
import weakref
from collections import Counter

from ..pool.errors import StoreUnavailable
from ..stores.base import Store
from .codes import (
    SHUTTING_DOWN,
    STORE_UNAVAILABLE,
    TOO_MANY_SUBSCRIPTIONS,
    EventStream,
    WatchLimits,
    WatchRefused,
)
from .follower import Follower
from .positions import last_seq
from .stream import Subscriber

__all__ = ["WatchHub", "shut_down_all"]

# Every hub of this process, so that gunicorn's shutdown hooks reach them all
# without the app handing its hub over (as app.api.auth does for reloads).
_live: weakref.WeakSet[WatchHub] = weakref.WeakSet()


class WatchHub:
    """This worker's watching: one follower per pool watched, fanning out."""

    def __init__(self, store: Store, limits: WatchLimits) -> None:
        self.store = store
        self.limits = limits
        self._lock = threading.Lock()
        self._followers: dict[str, Follower] = {}
        self._open: set[Subscriber] = set()
        self._by_principal: Counter[str] = Counter()
        self._shutting_down = False
        _live.add(self)

    # subscribing ---------------------------------------------------------
    def subscribe(self, pool: str, after: int | None, principal: str | None) -> EventStream:
        """A stream of `pool`'s events with seq > `after` (None: only events
        committed from now on). Raises `WatchRefused` (TOO_MANY_SUBSCRIPTIONS,
        SHUTTING_DOWN, STORE_UNAVAILABLE when the journal's end cannot be read).
        A replay that would skip trimmed events ends with
        `StreamEnded(EVENTS_TRIMMED)` on the `get` that reaches the gap."""
        with self._lock:
            self._check_room(principal)
            follower = self._followers.get(pool)
            known = follower.position if follower is not None else 0
        try:
            end = (
                known
                if after is not None and follower is not None
                else last_seq(self.store, pool, known)
            )
        except StoreUnavailable as error:
            raise WatchRefused(
                STORE_UNAVAILABLE, f"the journal of pool {pool!r} cannot be read: {error.message}"
            ) from None
        with self._lock:
            # Checked again: other subscribers may have come while the store answered.
            self._check_room(principal)
            follower = self._followers.get(pool)
            if follower is None:
                follower = self._followers[pool] = Follower(self, pool, end)
                follower.start()
            subscriber = Subscriber(
                self.store,
                pool,
                end if after is None else after,
                follower.position,
                principal,
                self.limits,
                self._release,
            )
            follower.subscribers.add(subscriber)
            self._open.add(subscriber)
            if principal is not None:
                self._by_principal[principal] += 1
        return subscriber

    def open_streams(self) -> int:
        with self._lock:
            return len(self._open)

    def followers(self) -> int:
        """Pools followed now, a follower outliving its last subscriber included."""
        with self._lock:
            return len(self._followers)

    def shut_down(self) -> None:
        """End every stream with SHUTTING_DOWN and refuse new ones (gunicorn's
        worker_int / worker_exit, a graceful stop). Idempotent."""
        with self._lock:
            self._shutting_down = True
            subscribers = list(self._open)
            followers = list(self._followers.values())
        for subscriber in subscribers:
            subscriber.end(SHUTTING_DOWN, "the server is shutting down; subscribe again")
        for follower in followers:
            follower.stop()

    def _check_room(self, principal: str | None) -> None:
        if self._shutting_down:
            raise WatchRefused(SHUTTING_DOWN, "the server is shutting down; subscribe again")
        if len(self._open) >= self.limits.per_worker:
            raise WatchRefused(
                TOO_MANY_SUBSCRIPTIONS,
                f"this server process serves {self.limits.per_worker} subscriptions already "
                "(OBJMGR_MAX_SUBSCRIPTIONS); try again later",
            )
        if principal is not None and self._by_principal[principal] >= self.limits.per_principal:
            raise WatchRefused(
                TOO_MANY_SUBSCRIPTIONS,
                f"{principal!r} has {self.limits.per_principal} subscriptions open in this "
                "server process already (OBJMGR_MAX_SUBSCRIPTIONS_PER_PRINCIPAL); close one",
            )

    def _release(self, subscriber: Subscriber) -> None:
        """A stream that ended or was closed leaves its place and its follower."""
        with self._lock:
            if subscriber not in self._open:
                return
            self._open.discard(subscriber)
            if subscriber.principal is not None:
                self._by_principal[subscriber.principal] -= 1
                if self._by_principal[subscriber.principal] <= 0:
                    del self._by_principal[subscriber.principal]
            follower = self._followers.get(subscriber.pool)
            if follower is not None:
                follower.subscribers.discard(subscriber)

    # what followers ask ----------------------------------------------------
    def follower_position(self, follower: Follower) -> int | None:
        """Where `follower` reads on from; None when it is to stop, which it does
        once its last subscriber has left (it leaves the hub then, atomically)."""
        with self._lock:
            if follower.subscribers and not self._shutting_down:
                return follower.position
            if self._followers.get(follower.pool) is follower:
                del self._followers[follower.pool]
            return None

    def moved_on(self, follower: Follower, position: int) -> list[Subscriber]:
        """`follower` read up to `position`: the subscribers to offer those events to."""
        with self._lock:
            follower.position = position
            return list(follower.subscribers)

    def end_followed(self, follower: Follower, code: str, message: str) -> None:
        with self._lock:
            subscribers = list(follower.subscribers)
        for subscriber in subscribers:
            subscriber.end(code, message)


def shut_down_all() -> None:
    """`WatchHub.shut_down` for every hub of this process (gunicorn's hooks)."""
    for hub in list(_live):
        hub.shut_down()
