"""Waiters that cost nothing while they wait, and a reaper for expired leases.

Both run inside one worker process and serve every store:

- `WaitRoom` holds this process's waiting acquires. A store tells it when a
  pool changed in a way that may let the head of the pool's queue be served
  (an object freed or reclaimed, a resize, a waiter served or gone), whether
  the change was made here or, through the store's own channel, in another
  process or host. The room then asks the store which ticket heads the queue
  and wakes that one waiter if it is one of this process's. Nobody else wakes,
  so a free costs one read and one wake-up however many wait. Once a second
  the room also asks again on its own, for the pools it has waiters in, so a
  lost notification or a lease that expired unseen delays a waiter by at most
  that long.
- `Reaper` reclaims expired leases in bounded batches on a thread of its own,
  so no request waits on a mass expiry; it sleeps until the next expiry it
  knows of, or a second at most.
- `Bell` rings for the pools whose journals got events, for the process's
  followers of those journals (`Store.wait_for_events`, through `follow`): a
  follower that found nothing new sleeps until its pool's bell rings, or a
  second at most, and reads again.

Threads are started on first use and again after a fork: gunicorn's workers
each get their own. Under gevent they are greenlets.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from ..pool.errors import PoolError
from ..pool.events import Event
from .base import Ticket

log = logging.getLogger(__name__)

# The timing of every wait, defined here only.
#: Seconds between the room's own checks of each pool it has waiters in, and
#: the longest the reaper sleeps: how late a lost notification, or a lease
#: that expired unseen, can be noticed.
RECHECK_EVERY = 1.0
#: Seconds a waiter blocks at most before the service looks at its client
#: again. A waiter also looks before every try, so a departed client never
#: takes an object: these looks only tidy the queue, and rarer ones cost less CPU.
CLIENT_CHECK_EVERY = 5.0


class _ThreadPerProcess:
    """A daemon thread of its own in each process, started on first use.

    Started again after a fork: the parent's thread does not exist in the child.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._pid = 0
        self._stop = threading.Event()

    def _ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stop = threading.Event()
            self._forget_the_parent()
            threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _forget_the_parent(self) -> None:
        """Drop state a fork copied from the parent; called under the lock."""

    def _run(self) -> None:
        raise NotImplementedError


class WaitRoom(_ThreadPerProcess):
    """This process's waiters, each woken alone when it heads its pool's queue."""

    def __init__(self, head: Callable[[str], int | None], recheck: float = RECHECK_EVERY) -> None:
        """`head(pool)` is the ticket id of the oldest live waiter of `pool`, or None."""
        super().__init__("objmgr-waitroom")
        self._head = head
        self._recheck = recheck
        self._waiters: dict[str, dict[int, threading.Event]] = {}

    def enter(self, ticket: Ticket) -> None:
        """Register `ticket` before its first try, so no wake-up meant for it is missed."""
        self._ensure_started()
        with self._lock:
            self._waiters.setdefault(ticket.pool, {})[ticket.id] = threading.Event()

    def leave(self, ticket: Ticket) -> None:
        with self._lock:
            pool = self._waiters.get(ticket.pool)
            if pool is not None:
                pool.pop(ticket.id, None)
                if not pool:
                    del self._waiters[ticket.pool]

    def wait(self, ticket: Ticket, timeout: float) -> bool:
        """Block up to `timeout` seconds; True when woken as the head of its queue."""
        with self._lock:
            event = self._waiters.get(ticket.pool, {}).get(ticket.id)
        if event is None:
            return True
        woken = event.wait(max(0.0, timeout))
        if woken:
            # Only here: a wake-up landing after a timed-out wait stays for the next.
            event.clear()
        return woken

    def changed(self, pool: str) -> None:
        """Wake the head of `pool`'s queue if it waits in this process."""
        with self._lock:
            if pool not in self._waiters:
                return
        try:
            head = self._head(pool)
        except PoolError as error:
            # The store is down: the waiters find out themselves on their next try.
            log.debug("cannot read the head of pool %r: %s", pool, error.message)
            return
        with self._lock:
            event = None if head is None else self._waiters.get(pool, {}).get(head)
        if event is not None:
            event.set()

    def wake_all(self, pool: str) -> None:
        """Wake every waiter of `pool` here: it is gone, and they must be told."""
        with self._lock:
            events = list(self._waiters.get(pool, {}).values())
        for event in events:
            event.set()

    def waiting_pools(self) -> list[str]:
        with self._lock:
            return list(self._waiters)

    def close(self) -> None:
        self._stop.set()

    def _forget_the_parent(self) -> None:
        # The parent's waiters are greenlets of the parent.
        self._waiters = {}

    def _run(self) -> None:
        stop = self._stop
        while not stop.wait(self._recheck):
            for pool in self.waiting_pools():
                self.changed(pool)


class Reaper(_ThreadPerProcess):
    """Reclaims expired leases in bounded batches, off every request's path."""

    def __init__(
        self,
        reclaim: Callable[[int], float | None],
        *,
        batch: int = 500,
        idle: float = RECHECK_EVERY,
    ) -> None:
        """`reclaim(limit)` reclaims at most `limit` expired leases (oldest expiry
        first) and returns the seconds until the next expiry it knows of: 0 when
        more are expired already, None when no lease has a TTL."""
        super().__init__("objmgr-reaper")
        self._reclaim = reclaim
        self._batch = batch
        self._idle = idle
        self._wake = threading.Event()

    def start(self) -> None:
        self._ensure_started()

    def _forget_the_parent(self) -> None:
        self._wake = threading.Event()

    def soon(self) -> None:
        """A lease was granted or renewed here: look again at the next expiry."""
        self.start()
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                delay = self._reclaim(self._batch)
                if failing:
                    log.info("reclaiming expired leases again")
                failing = False
            except PoolError as error:
                if self._stop.is_set():
                    return  # the store closed under the batch: nothing failed
                if not failing:
                    log.warning("cannot reclaim expired leases: %s", error.message)
                failing = True
                delay = self._idle
            except Exception:
                if self._stop.is_set():
                    return  # the store closed under the batch: nothing failed
                log.exception("reclaiming expired leases failed")
                delay = self._idle
            if delay is None or delay > self._idle:
                delay = self._idle
            if delay <= 0:
                # More are expired: the next batch after a turn for everyone else.
                _yield()
                continue
            self._wake.wait(delay)
            self._wake.clear()


class Bell:
    """This process's followers of pools' journals, woken when their pool got events."""

    def __init__(self) -> None:
        self._rung = threading.Condition(threading.Lock())
        # pool -> how often it rang; only pools someone here follows are in it.
        self._rings: dict[str, int] = {}

    def ring(self, pool: str) -> None:
        """`pool`'s journal got events: wake its followers here, if it has any."""
        # Unlocked: a change to a pool nobody here follows pays one dict probe. A
        # follower that starts meanwhile reads the journal after its mark is taken.
        if pool not in self._rings:
            return
        with self._rung:
            self._rings[pool] = self._rings.get(pool, 0) + 1
            self._rung.notify_all()

    def mark(self, pool: str) -> int:
        """Where `pool`'s rings stand; taken before reading the journal, so that
        events committed after that read ring the wait that follows it."""
        with self._rung:
            return self._rings.setdefault(pool, 0)

    def wait(self, pool: str, mark: int, timeout: float) -> None:
        """Block until `pool` rang since `mark`, or `timeout` seconds passed."""
        with self._rung:
            self._rung.wait_for(lambda: self._rings.get(pool, 0) != mark, max(0.0, timeout))

    def forget(self, pool: str) -> None:
        """Nobody here follows `pool` any more; a follower still waiting wakes and reads."""
        with self._rung:
            if self._rings.pop(pool, None) is not None:
                self._rung.notify_all()


def follow(
    bell: Bell,
    read: Callable[[], list[Event]],
    pool: str,
    timeout: float,
) -> list[Event]:
    """`read()`'s events, waiting up to `timeout` seconds for some when there are
    none: woken by `pool`'s bell, and reading again at least every
    `RECHECK_EVERY` seconds, for a wake-up that never came (a lost datagram)."""
    recheck = RECHECK_EVERY  # read at each call: tests lengthen it to see the bell alone
    deadline = time.monotonic() + timeout
    # Bounded: each round ends on a ring or a recheck, and the deadline ends the rounds.
    for _ in range(int(timeout / recheck) + 1000):
        mark = bell.mark(pool)
        events = read()
        left = deadline - time.monotonic()
        if events or left <= 0:
            return events
        bell.wait(pool, mark, min(left, recheck))
    return read()


def _yield() -> None:
    from .batching import gevent_patched

    if gevent_patched():
        import gevent

        gevent.sleep(0)
    else:
        threading.Event().wait(0.001)
