"""What the API calls: checks input and roles, then asks the store.

Kept apart from the store so that every store gets the same validation, the
same authorization and the same waiting discipline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from .pool import limits
from .pool.errors import AcquireTimeout, ErrorCode, Forbidden, PoolError, PoolExhausted
from .pool.events import Event
from .pool.lease import AcquireRequest, Caller, Lease, PoolStats
from .stores.base import Store
from .stores.waking import CLIENT_CHECK_EVERY


class AcquireObserver(Protocol):
    """Told how each acquire ended, for the metrics; called on the acquire's path,
    so it must only count."""

    def waited(self, pool: str, seconds: float) -> None:
        """An acquire of `pool` got a lease, or ACQUIRE_TIMEOUT, after `seconds` in
        its queue: 0 for one that never queued."""

    def refused(self, pool: str, code: ErrorCode) -> None:
        """An acquire was answered `code`; `pool` is the name the client sent,
        checked or not."""


class LeaseService:
    def __init__(
        self,
        store: Store,
        max_wait: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        observer: AcquireObserver | None = None,
    ) -> None:
        self.store = store
        self.max_wait = max_wait
        self._monotonic = monotonic
        self.observer = observer

    def request_deadline(self) -> float:
        """The deadline of a request that starts waiting now, for `acquire(deadline=)`."""
        return self._monotonic() + self.max_wait

    # leases -------------------------------------------------------------
    def acquire(
        self,
        caller: Caller,
        pool: str = "default",
        owner: str | None = None,
        label: str | None = None,
        ttl: float | None = None,
        wait: float | None = None,
        request_id: str | None = None,
        still_wanted: Callable[[], bool] = lambda: True,
        deadline: float | None = None,
    ) -> Lease:
        """Grant an object, waiting up to `wait` seconds in the pool's queue.

        The observer, when there is one, is told of the wait or the refusal.

        `still_wanted` is asked before every try and every few seconds while
        waiting: a waiter whose client hung up leaves the queue instead of
        taking an object nobody would ever be told about. `deadline` (on this service's
        monotonic clock) ends the wait earlier: every wait of one request
        shares one deadline, so aliased waits cannot add up.
        """
        try:
            return self._acquire(
                caller, pool, owner, label, ttl, wait, request_id, still_wanted, deadline
            )
        except PoolError as error:
            if self.observer is not None:
                self.observer.refused(pool, error.code)
            raise

    def _acquire(
        self,
        caller: Caller,
        pool: str,
        owner: str | None,
        label: str | None,
        ttl: float | None,
        wait: float | None,
        request_id: str | None,
        still_wanted: Callable[[], bool],
        deadline: float | None,
    ) -> Lease:
        request = AcquireRequest(
            pool=limits.pool_name(pool),
            owner=caller.principal if caller.principal is not None else limits.owner(owner),
            label=limits.label(label),
            ttl=limits.ttl(ttl),
            request_id=limits.request_id(request_id),
            principal=caller.principal,
        )
        seconds = limits.wait(wait, self.max_wait)
        if deadline is not None:
            seconds = min(seconds, deadline - self._monotonic())
        try:
            lease = self.store.acquire(request)
        except PoolExhausted:
            if not wait:
                raise
        else:
            if self.observer is not None:
                self.observer.waited(request.pool, 0.0)
            return lease
        started = self._monotonic()
        try:
            lease = self._wait_for_object(request, max(0.0, seconds), still_wanted)
        except AcquireTimeout:
            self._waited(request.pool, started)
            raise
        self._waited(request.pool, started)
        return lease

    def _waited(self, pool: str, started: float) -> None:
        if self.observer is not None:
            self.observer.waited(pool, max(0.0, self._monotonic() - started))

    def _wait_for_object(
        self, request: AcquireRequest, seconds: float, still_wanted: Callable[[], bool]
    ) -> Lease:
        if seconds > 0:
            deadline = self._monotonic() + seconds
            ticket = self.store.join_queue(request.pool)
            try:
                woken = True
                while still_wanted():
                    if woken:
                        try:
                            return self.store.acquire(request, ticket)
                        except PoolExhausted:
                            pass
                    remaining = deadline - self._monotonic()
                    if remaining <= 0:
                        break
                    woken = self.store.wait_until_woken(ticket, min(remaining, CLIENT_CHECK_EVERY))
            finally:
                self.store.leave_queue(ticket)
        # In hundredths: the request's deadline was read a moment before this
        # acquire began, so the wait granted is a hair under the one asked for.
        raise AcquireTimeout(
            f"no object of pool {request.pool!r} came free within {round(seconds, 2):g} seconds"
        )

    def free(
        self, caller: Caller, obj: int, pool: str = "default", token: int | None = None
    ) -> int:
        return self.store.free(limits.pool_name(pool), obj, caller, limits.token(token))

    def renew(
        self, caller: Caller, obj: int, token: int, pool: str = "default", ttl: float | None = None
    ) -> Lease:
        return self.store.renew(
            limits.pool_name(pool), obj, limits.token(token), caller, limits.ttl(ttl)
        )

    def lease(self, obj: int, pool: str = "default") -> Lease | None:
        return self.store.lease(limits.pool_name(pool), obj)

    def leases(self, pool: str, first: int = 100, after: int = 0) -> list[Lease]:
        first, after = limits.page(first, after)
        return self.store.leases(limits.pool_name(pool), first, after)

    def events(self, pool: str = "default", after: int = 0, first: int = 100) -> list[Event]:
        first, _ = limits.page(first, 0)
        return self.store.events(limits.pool_name(pool), limits.event_seq(after), first)

    # pools --------------------------------------------------------------
    def pool(self, name: str = "default") -> PoolStats | None:
        return self.store.pool(limits.pool_name(name))

    def pools(self, first: int = 100, after: str = "") -> list[PoolStats]:
        first, _ = limits.page(first, 0)
        return self.store.pools(first, after)

    def create_pool(self, caller: Caller, name: str, size: int) -> PoolStats:
        self._require_admin(caller, "create")
        return self.store.create_pool(
            limits.pool_name(name), limits.pool_size(size), caller.principal
        )

    def resize_pool(self, caller: Caller, name: str, size: int) -> PoolStats:
        self._require_admin(caller, "resize")
        return self.store.resize_pool(
            limits.pool_name(name), limits.pool_size(size), caller.principal
        )

    def delete_pool(self, caller: Caller, name: str, force: bool = False) -> PoolStats:
        self._require_admin(caller, "delete")
        return self.store.delete_pool(limits.pool_name(name), force, caller.principal)

    @staticmethod
    def _require_admin(caller: Caller, verb: str) -> None:
        if not caller.is_admin:
            raise Forbidden(f"principal {caller.principal!r} may not {verb} pools")
