"""Leases held for as long as a block runs: `HeldLease`, the client's `Renewer`, `lease()`.

Every lease a client holds is renewed by one daemon thread of that client, the
`Renewer`, at a third of its TTL unless told otherwise. Each held lease keeps a
local deadline on `time.monotonic()`: the latest moment its lease can still be
in force by the server's clock, counted from just before the request that
granted or last renewed it was sent. Past that moment, with no renewal
answered in between, the holder may no longer act on the object.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, TypedDict

from .errors import DEFAULT_ACQUIRE_ATTEMPTS, LEASE_LOST, ObjmgrError
from .models import Lease

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger(__name__)

DEFAULT_LEASE_TTL = 30.0
RENEWALS_PER_TTL = 3
MIN_RETRY_DELAY = 0.05
"""Seconds between two renewal attempts of one lease at the least: no busy loop."""
RELEASE_ATTEMPTS = 3
STOP_MARGIN = 1.0
"""Seconds, beyond one request's timeout, that leaving a block waits for the renewer to end."""


class HoldOptions(TypedDict, total=False):
    """What `lease()` and `Client.hold` take beside the pool (see `hold`)."""

    owner: str | None
    label: str | None
    ttl: float | None
    wait: float | None
    request_id: str | None
    renew_every: float | None
    attempts: int
    obj: int | None


class HeldLease:
    """A lease kept alive by its client's renewer; read `lease`, `obj`, `token`, `lost`.

    `check()` before acting on the object: it raises `ObjmgrError(LEASE_LOST)`
    once the lease can no longer be counted on. `error` is the last renewal's
    error (None after a renewal that succeeded); `renewals` counts successes.
    """

    def __init__(
        self,
        client: Client,
        lease: Lease,
        ttl: float | None,
        renew_every: float | None,
        sent_at: float,
    ) -> None:
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl must be positive, not {ttl}")
        if renew_every is not None and renew_every <= 0:
            raise ValueError(f"renew_every must be positive, not {renew_every}")
        self._client = client
        self._lock = threading.Lock()
        self._lease = lease
        self.ttl = ttl
        self.renew_every: float | None = None
        self._deadline: float | None = None
        self.next_renewal: float | None = None
        if ttl is not None:
            self.renew_every = renew_every if renew_every is not None else ttl / RENEWALS_PER_TTL
            self._deadline = sent_at + ttl
            self.next_renewal = sent_at + self.renew_every
        self._lost = False
        self.error: ObjmgrError | None = None
        self.renewals = 0

    def __repr__(self) -> str:
        return f"<HeldLease object {self.obj} of pool {self.pool!r} token {self.token}>"

    @property
    def lease(self) -> Lease:
        """The lease as last granted or renewed."""
        with self._lock:
            return self._lease

    @property
    def obj(self) -> int:
        return self.lease.obj

    @property
    def pool(self) -> str:
        return self.lease.pool

    @property
    def token(self) -> int:
        """The fencing token: give it to the resource the object guards."""
        return self.lease.token

    @property
    def deadline(self) -> float | None:
        """The `time.monotonic()` at which the lease expires at the latest; None without a TTL."""
        with self._lock:
            return self._deadline

    @property
    def time_left(self) -> float | None:
        """Seconds until `deadline` (negative once past it); None without a TTL."""
        deadline = self.deadline
        return None if deadline is None else deadline - time.monotonic()

    @property
    def lost(self) -> bool:
        """True once the lease cannot be counted on: a renewal refused, or its deadline passed.

        It stays true: someone else may have held the object in between.
        """
        with self._lock:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                self._lost = True
            return self._lost

    def check(self) -> None:
        """Raise `ObjmgrError(LEASE_LOST)` if the lease was lost (call before acting on it)."""
        if self.lost:
            reason = f" ({self.error})" if self.error is not None else ""
            raise ObjmgrError(
                LEASE_LOST, f"the lease on object {self.obj} of pool {self.pool!r} was lost{reason}"
            )

    def _mark_lost(self, error: ObjmgrError) -> None:
        with self._lock:
            self._lost = True
            self.error = error

    def renew_once(self) -> None:
        """One renewal (the renewer's): the lease and deadline on success, else a retry or lost."""
        if not self.lost:
            self._renew(confirming=False)

    def confirm(self) -> None:
        """Renew before the lease is handed to its holder, its deadline passed or not.

        An acquire that waited in line may be answered after the deadline
        counted from its sending; the grant itself came later, and a renewal
        that succeeds with the same token shows the object stayed ours, so the
        deadline is counted from this renewal instead.
        """
        self._renew(confirming=True)

    def _renew(self, confirming: bool) -> None:
        interval, ttl, time_left = self.renew_every, self.ttl, self.time_left
        if interval is None or ttl is None or time_left is None:
            return
        lease = self.lease
        sent_at = time.monotonic()
        # An answer that arrives after the deadline is of no use, but to a confirmation.
        timeout = self._client.timeout
        if not confirming:
            timeout = min(timeout, max(time_left, MIN_RETRY_DELAY))
        try:
            renewed = self._client.renew(lease.obj, lease.token, lease.pool, ttl, timeout=timeout)
        except ObjmgrError as error:
            if error.gone:
                log.warning("lease on %s lost: %s", self, error)
                self._mark_lost(error)
                return
            log.info("renewing %s failed, trying again before its deadline: %s", self, error)
            with self._lock:
                self.error = error
                left = (self._deadline or sent_at) - time.monotonic()
                self.next_renewal = time.monotonic() + min(interval, max(MIN_RETRY_DELAY, left / 4))
            return
        with self._lock:
            if not confirming and time.monotonic() >= (self._deadline or sent_at):
                self._lost = True
            self._lease = renewed
            self._deadline = sent_at + ttl
            self.next_renewal = sent_at + interval
            self.error = None
            self.renewals += 1

    def release(self) -> None:
        """Free the object with the lease's token; quiet when it was no longer ours."""
        lease = self.lease
        for attempt in range(1, RELEASE_ATTEMPTS + 1):
            try:
                self._client.free(lease.obj, lease.pool, token=lease.token)
                return
            except ObjmgrError as error:
                if error.gone:
                    self._mark_lost(error)
                    return
                if error.retryable and attempt < RELEASE_ATTEMPTS:
                    # Safe to send again: a repeat of a free that was made is refused.
                    time.sleep(self._client.retry_delay * 2 ** (attempt - 1))
                    continue
                if self.lost:
                    log.warning("could not free %s, lost already: %s", self, error)
                    return
                raise


class Renewer:
    """One daemon thread per client that renews every lease the client holds.

    It starts with the first lease added and ends when the last one is removed.
    Leases are renewed one after the other, each when it is due.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._changed = threading.Condition()
        self._held: set[HeldLease] = set()
        self._thread: threading.Thread | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The renewing thread, None while no lease is held."""
        with self._changed:
            return self._thread

    def holding(self) -> int:
        """How many leases are being renewed."""
        with self._changed:
            return len(self._held)

    def add(self, held: HeldLease) -> None:
        if held.next_renewal is None:
            return  # no TTL: nothing to renew
        with self._changed:
            self._held.add(held)
            # Not alive with a thread set: this is a forked child, where it never ran.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="objmgr-renewer", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def remove(self, held: HeldLease) -> None:
        """Stop renewing `held`; with nothing left, return once the thread has ended."""
        with self._changed:
            self._held.discard(held)
            self._changed.notify_all()
            thread = self._thread
            if self._held or thread is None or thread is threading.current_thread():
                return
            # A renewal under way finishes first: at most one request's timeout.
            self._changed.wait_for(
                lambda: self._thread is not thread or bool(self._held),
                self._client.timeout + STOP_MARGIN,
            )
            ended = self._thread is not thread
        if ended:
            # It has left the lock for good and returns: the join is immediate.
            thread.join()

    def _due(self) -> list[HeldLease] | None:
        """The leases due for renewal, once there are any; None when none is held."""
        while self._held:
            now = time.monotonic()
            due = [held for held in self._held if (held.next_renewal or now) <= now]
            if due:
                return sorted(due, key=lambda held: held.next_renewal or now)
            self._changed.wait(min(held.next_renewal or now for held in self._held) - now)
        return None

    def _run(self) -> None:
        while True:
            with self._changed:
                due = self._due()
                if due is None:
                    self._thread = None
                    self._changed.notify_all()
                    return
            for held in due:
                with self._changed:
                    if held not in self._held:
                        continue
                held.renew_once()
                if held.lost:
                    with self._changed:
                        self._held.discard(held)


@contextlib.contextmanager
def hold(
    client: Client,
    pool: str = "default",
    *,
    owner: str | None = None,
    label: str | None = None,
    ttl: float | None = DEFAULT_LEASE_TTL,
    wait: float | None = None,
    request_id: str | None = None,
    renew_every: float | None = None,
    attempts: int = DEFAULT_ACQUIRE_ATTEMPTS,
    obj: int | None = None,
) -> Iterator[HeldLease]:
    """Acquire an object of `pool` (exactly `obj` when given) on `client`, renew it
    while the block runs, free it on exit.

    The acquire carries `request_id` (a new one unless given) and is sent
    again, up to `attempts` times, while its answer is lost or the store is
    out (see `Client.acquire`). With a TTL (`ttl`, or with `ttl=None` the one the
    pool's policy gives the grant), the client's renewer renews the
    lease every `renew_every` seconds (a third of the TTL by default); the
    lease's deadline counts from just before the acquire was sent. When a
    renewal is refused with a code that says the lease is gone, or none is
    answered before that deadline, `held.lost` turns true and `held.check()`
    raises `ObjmgrError(LEASE_LOST)`. On exit the object is freed with its token.
    """
    if renew_every is not None and renew_every <= 0:
        raise ValueError(f"renew_every must be positive, not {renew_every}")
    # Before the first attempt: a repeat may answer with the grant of the first, whose
    # TTL runs from then.
    sent_at = time.monotonic()
    granted = client.acquire(pool, owner, label, ttl, wait, request_id, attempts, obj)
    # The TTL the server granted: a pool's policy gives one to a grant that names none
    # (its defaultTtl or maxTtl), and that lease needs renewing as much as any.
    granted_ttl = granted.ttl if granted.ttl is not None else ttl
    held = HeldLease(client, granted, granted_ttl, renew_every, sent_at)
    body_failed = True
    try:
        time_left, interval = held.time_left, held.renew_every
        if time_left is not None and interval is not None and time_left < interval:
            held.confirm()
        client.renewer.add(held)
        yield held
        body_failed = False
    finally:
        client.renewer.remove(held)
        try:
            held.release()
        except ObjmgrError as error:
            if not body_failed:
                raise
            log.warning("could not free %s after an error: %s", held, error)
