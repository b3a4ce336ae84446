"""What watching answers with: its limits, its refusals and why a stream ended."""

from __future__ import annotations

from dataclasses import dataclass

from ..pool.errors import ErrorCode
from ..pool.events import Event

#: `extensions.code` of a stream that ended because events it had not yet been
#: given are no longer in the journal (it asked for `after` older than what is kept).
EVENTS_TRIMMED = "EVENTS_TRIMMED"
#: ... because the subscriber did not read fast enough and its buffer filled.
SLOW_CONSUMER = "SLOW_CONSUMER"
#: A subscription refused: the worker, or the principal in this worker, has its most.
TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
#: ... because the worker is shutting down (a restart or a graceful stop).
SHUTTING_DOWN = "SHUTTING_DOWN"
#: ... because the store could not be read (at the start, or for `store_patience` on end).
STORE_UNAVAILABLE = ErrorCode.STORE_UNAVAILABLE.value
#: A stream its own transport closed (the client left): nobody is told.
CLOSED = "CLOSED"


@dataclass(frozen=True)
class WatchLimits:
    #: Open streams in this worker (OBJMGR_MAX_SUBSCRIPTIONS).
    per_worker: int = 4000
    #: Open streams of one principal in this worker (OBJMGR_MAX_SUBSCRIPTIONS_PER_PRINCIPAL);
    #: with auth off there are no principals, and only `per_worker` applies.
    per_principal: int = 1000
    #: Events buffered for one subscriber before it is dropped as SLOW_CONSUMER.
    buffer: int = 1000
    #: Events read from the store at once, by a follower or a replay.
    page: int = 500
    #: Seconds a follower or a replay goes on retrying a store that fails before
    #: its streams end with STORE_UNAVAILABLE.
    store_patience: float = 10.0
    #: Seconds one `Store.wait_for_events` of a follower waits: how long a
    #: follower outlives its last subscriber, at most.
    follow_wait: float = 1.0


class WatchRefused(Exception):
    """A stream not opened; nothing was opened."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StreamEnded(Exception):
    """A stream that ended for good: EVENTS_TRIMMED, SLOW_CONSUMER, SHUTTING_DOWN,
    STORE_UNAVAILABLE when the store could not be read for too long, or CLOSED."""

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
