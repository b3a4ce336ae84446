"""The worker's followers of pools' journals and their subscribers (see the package)."""

from __future__ import annotations

from dataclasses import dataclass

from ..pool.events import Event
from ..stores.base import Store

#: `extensions.code` of a stream that ended because events it had not yet been
#: given are no longer in the journal (it asked for `after` older than what is kept).
EVENTS_TRIMMED = "EVENTS_TRIMMED"
#: ... because the subscriber did not read fast enough and its buffer filled.
SLOW_CONSUMER = "SLOW_CONSUMER"
#: A subscription refused: the worker, or the principal in this worker, has its most.
TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
#: ... because the worker is shutting down (a restart or a graceful stop).
SHUTTING_DOWN = "SHUTTING_DOWN"


@dataclass(frozen=True)
class WatchLimits:
    #: Open streams in this worker (OBJMGR_MAX_SUBSCRIPTIONS).
    per_worker: int = 4000
    #: Open streams of one principal in this worker (OBJMGR_MAX_SUBSCRIPTIONS_PER_PRINCIPAL).
    per_principal: int = 1000
    #: Events buffered for one subscriber before it is dropped as SLOW_CONSUMER.
    buffer: int = 1000


class WatchRefused(Exception):
    """A stream not opened; nothing was opened."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StreamEnded(Exception):
    """A stream that ended for good: EVENTS_TRIMMED, SLOW_CONSUMER, SHUTTING_DOWN,
    or STORE_UNAVAILABLE when the store could not be read for too long."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EventStream:
    """One subscriber's events of one pool, in seq order, each exactly once."""

    def get(self, timeout: float) -> Event | None:
        """The next event; None when none came within `timeout` seconds (a
        transport's cue for a keepalive). Raises `StreamEnded`."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop: frees the subscriber's place at once; idempotent."""
        raise NotImplementedError


class WatchHub:
    """This worker's watching: one follower per pool watched, fanning out."""

    def __init__(self, store: Store, limits: WatchLimits) -> None:
        raise NotImplementedError

    def subscribe(self, pool: str, after: int | None, principal: str | None) -> EventStream:
        """A stream of `pool`'s events with seq > `after` (None: only events
        committed from now on). Raises `WatchRefused` (TOO_MANY_SUBSCRIPTIONS,
        SHUTTING_DOWN). A replay that would skip trimmed events ends at once
        with `StreamEnded(EVENTS_TRIMMED)` on the first `get`."""
        raise NotImplementedError

    def shut_down(self) -> None:
        """End every stream with SHUTTING_DOWN and refuse new ones (gunicorn's
        worker_int / worker_exit, a graceful stop)."""
        raise NotImplementedError
