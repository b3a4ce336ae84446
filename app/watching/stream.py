"""One subscriber's stream: its replay from the journal, then the follower's events.

A subscriber joins its pool's follower at the follower's position `joined_at`
(under the hub's lock, so that every event the follower reads after that is
offered to it). What it asked for before that, seqs `after + 1 .. joined_at`,
it reads itself from the journal, at the pace its client takes them, while
the follower's events wait in its buffer. Whatever the source, an event is
handed out only when its seq is the last one given plus one (seqs of a pool
name are contiguous, rule R9): an event already given is skipped, and a seq
that jumps means the journal no longer holds what lies between, which ends
the stream with EVENTS_TRIMMED rather than hand out a gap.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from ..pool.errors import ErrorCode, StoreUnavailable
from ..pool.events import Event
from ..stores.base import Store
from .codes import CLOSED, EVENTS_TRIMMED, SLOW_CONSUMER, EventStream, StreamEnded, WatchLimits

log = logging.getLogger(__name__)

#: First pause after a failed read of the journal; doubled up to `MAX_RETRY_DELAY`.
FIRST_RETRY_DELAY = 0.05
MAX_RETRY_DELAY = 1.0


class Subscriber(EventStream):
    """The `EventStream` the hub hands out."""

    def __init__(
        self,
        store: Store,
        pool: str,
        after: int,
        joined_at: int,
        principal: str | None,
        limits: WatchLimits,
        release: Callable[[Subscriber], None],
    ) -> None:
        self.pool = pool
        self.principal = principal
        self._store = store
        self._limits = limits
        self._release = release
        # Only the stream's reader (the transport's greenlet) moves these two.
        self._last = after
        self._replayed: deque[Event] = deque()
        self._joined_at = joined_at
        self._failing_since: float | None = None
        self._retry_delay = FIRST_RETRY_DELAY
        # The follower's side. No lock around the buffer: one follower appends
        # to it and one reader takes from it, which a deque allows, and a
        # condition's wait costs a gevent greenlet a trip round the hub besides
        # its wake-up (its ownership check is a failed acquire, which yields),
        # once per subscriber and event. The event is set after each append and
        # at the end; the reader clears it, then looks again before it waits.
        self._ready = threading.Event()
        self._buffer: deque[Event] = deque()
        self._ended: StreamEnded | None = None
        self._ending = threading.Lock()

    @property
    def last_seq(self) -> int:
        """The seq of the last event handed out (the `after` asked for, before the first)."""
        return self._last

    # the follower's side ---------------------------------------------------
    def offer(self, events: Sequence[Event]) -> None:
        """Events the follower read, in order; ends the stream when they do not fit."""
        if self._ended is not None:
            return
        # Only the reader shortens the buffer meanwhile: the bound holds.
        if len(self._buffer) + len(events) > self._limits.buffer:
            # Operators see who is dropped, and how often, without asking the client.
            log.warning(
                "watching %r: subscriber %s fell more than %d events behind after seq %d; "
                "ended with SLOW_CONSUMER",
                self.pool,
                self.principal or "-",
                self._limits.buffer,
                self._last,
            )
            self.end(
                SLOW_CONSUMER,
                f"the subscriber fell more than {self._limits.buffer} events behind pool "
                f"{self.pool!r}; subscribe again with after: {self._last}",
            )
            return
        self._buffer.extend(events)
        self._ready.set()

    def end(self, code: str, message: str) -> None:
        """End the stream for good (the first reason stays); frees its place at once."""
        with self._ending:
            if self._ended is None:
                self._ended = StreamEnded(code, message)
                self._buffer.clear()
        self._ready.set()
        self._release(self)

    # the reader's side -----------------------------------------------------
    def get(self, timeout: float) -> Event | None:
        deadline = time.monotonic() + timeout
        while True:
            if self._ended is not None:
                raise self._ended
            if self._last < self._joined_at:
                # None: the journal could not be read in time.
                return self._next_replayed(deadline)
            if self._buffer:
                try:
                    event = self._buffer.popleft()
                except IndexError:
                    continue  # `end` emptied it meanwhile
                if event.seq <= self._last:
                    continue
                return self._handed_out(event)
            self._ready.clear()
            # An offer or an end between the look above and the clear set the
            # event before it was cleared: look again before waiting.
            if self._buffer or self._ended is not None:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._ready.wait(remaining)

    def close(self) -> None:
        self.end(CLOSED, "the stream was closed")

    def _handed_out(self, event: Event) -> Event:
        if event.seq != self._last + 1:
            self._trimmed(event.seq)
        self._last = event.seq
        return event

    def _trimmed(self, first_kept: int) -> None:
        message = (
            f"events {self._last + 1}..{first_kept - 1} of pool {self.pool!r} are no longer "
            "in the journal (OBJMGR_EVENTS_KEEP); read the pool's state again and subscribe "
            f"with after: {first_kept - 1}"
        )
        self.end(EVENTS_TRIMMED, message)
        assert self._ended is not None
        raise self._ended

    def _next_replayed(self, deadline: float) -> Event | None:
        """The next event of the replay, read from the journal a page at a time;
        None when the journal could not be read before `deadline`."""
        while not self._replayed:
            wanted = min(self._limits.page, self._joined_at - self._last)
            try:
                page = self._store.events(self.pool, self._last, wanted)
            except StoreUnavailable as error:
                if not self._wait_to_retry(error.message, deadline):
                    return None
                continue
            self._failing_since = None
            self._retry_delay = FIRST_RETRY_DELAY
            if not page:
                # The follower had read up to `joined_at`, so those events existed.
                self._trimmed(self._joined_at + 1)
            self._replayed.extend(event for event in page if event.seq <= self._joined_at)
        return self._handed_out(self._replayed.popleft())

    def _wait_to_retry(self, reason: str, deadline: float) -> bool:
        """Pause before reading again; False when `deadline` comes first. Ends the
        stream with STORE_UNAVAILABLE once the store has failed for too long."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            log.warning("watching %r: the journal could not be read: %s", self.pool, reason)
        elif now - self._failing_since > self._limits.store_patience:
            self.end(
                ErrorCode.STORE_UNAVAILABLE,
                f"the journal of pool {self.pool!r} could not be read for "
                f"{self._limits.store_patience:g} seconds: {reason}; subscribe again with "
                f"after: {self._last}",
            )
            assert self._ended is not None
            raise self._ended
        pause = min(self._retry_delay, deadline - now)
        self._retry_delay = min(self._retry_delay * 2, MAX_RETRY_DELAY)
        if pause <= 0:
            return False
        # An end cuts the pause short; a live event that sets it too is looked
        # for once the replay is done.
        self._ready.clear()
        if self._ended is None:
            self._ready.wait(pause)
        return time.monotonic() < deadline
