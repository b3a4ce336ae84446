"""What the API calls: checks input and roles, then asks the store.

Kept apart from the store so that every store gets the same validation, the
same authorization and the same waiting discipline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypedDict

from .pool import limits
from .pool.errors import (
    AcquireTimeout,
    BadUserInput,
    ErrorCode,
    Forbidden,
    ObjectHeld,
    PoolError,
    PoolExhausted,
)
from .pool.events import Event
from .pool.lease import AcquireRequest, Caller, Grant, Lease, PoolStats, RevokeFilter
from .stores.base import Store
from .stores.waking import CLIENT_CHECK_EVERY

#: The refusals a waiting acquire waits out: the next wake-up may change them.
#: Any other (QUOTA_EXCEEDED, BAD_USER_INPUT, POOL_NOT_FOUND, ...) ends the wait.
UNTIL_WOKEN = (PoolExhausted, ObjectHeld)


class PolicyFields(TypedDict, total=False):
    """A `PoolPolicyInput` as the API received it; `limits.policy` checks it."""

    default_ttl: float | None
    max_ttl: float | None
    max_per_owner: int | None
    reuse_delay: float | None
    reuse_first: bool | None
    description: str | None


def _timed_out(request: AcquireRequest, seconds: float) -> str:
    # In hundredths: the request's deadline was read a moment before this
    # acquire began, so the wait granted is a hair under the one asked for.
    within = f"within {round(seconds, 2):g} seconds"
    if request.obj is not None:
        return f"object {request.obj} of pool {request.pool!r} did not come free {within}"
    if request.count == 1:
        return f"no object of pool {request.pool!r} came free {within}"
    run = " consecutive" if request.contiguous else ""
    return f"{request.count}{run} objects of pool {request.pool!r} did not come free {within}"


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
        """`grant` of one object of the pool: its lease."""
        return self.grant(
            caller,
            pool,
            owner=owner,
            label=label,
            ttl=ttl,
            wait=wait,
            request_id=request_id,
            still_wanted=still_wanted,
            deadline=deadline,
        ).leases[0]

    def grant(
        self,
        caller: Caller,
        pool: str = "default",
        owner: str | None = None,
        label: str | None = None,
        ttl: float | None = None,
        wait: float | None = None,
        request_id: str | None = None,
        count: int = 1,
        contiguous: bool = False,
        obj: int | None = None,
        still_wanted: Callable[[], bool] = lambda: True,
        deadline: float | None = None,
    ) -> Grant:
        """Grant `count` objects (consecutive ones when `contiguous`), or exactly
        `obj`, all or nothing, waiting up to `wait` seconds in the pool's queue
        as one waiter whatever the request asks for (rules R5, R10, R11).

        The observer, when there is one, is told of the wait or the refusal.

        `still_wanted` is asked before every try and every few seconds while
        waiting: a waiter whose client hung up leaves the queue instead of
        taking objects nobody would ever be told about. `deadline` (on this
        service's monotonic clock) ends the wait earlier: every wait of one
        request shares one deadline, so aliased waits cannot add up.
        """
        try:
            request = self._request(
                caller, pool, owner, label, ttl, request_id, count, contiguous, obj
            )
            seconds = limits.wait(wait, self.max_wait)
            if deadline is not None:
                seconds = min(seconds, deadline - self._monotonic())
            return self._grant(request, bool(wait), seconds, still_wanted)
        except PoolError as error:
            if self.observer is not None:
                self.observer.refused(pool, error.code)
            raise

    @staticmethod
    def _request(
        caller: Caller,
        pool: str,
        owner: str | None,
        label: str | None,
        ttl: float | None,
        request_id: str | None,
        count: int,
        contiguous: bool,
        obj: int | None,
    ) -> AcquireRequest:
        # Not `limits.obj`: an object outside 1..size, 0 or below included, is the
        # store's OUT_OF_RANGE (rule R11), after POOL_NOT_FOUND.
        if obj is not None and count != 1:
            raise BadUserInput("a named object is one object: obj goes with count 1 only")
        return AcquireRequest(
            pool=limits.pool_name(pool),
            owner=caller.principal if caller.principal is not None else limits.owner(owner),
            label=limits.label(label),
            ttl=limits.ttl(ttl),
            request_id=limits.request_id(request_id),
            principal=caller.principal,
            count=limits.count(count),
            contiguous=bool(contiguous),
            obj=obj,
        )

    def _grant(
        self,
        request: AcquireRequest,
        waits: bool,
        seconds: float,
        still_wanted: Callable[[], bool],
    ) -> Grant:
        try:
            grant = self.store.grant(request)
        except UNTIL_WOKEN:
            if not waits:
                raise
        else:
            if self.observer is not None:
                self.observer.waited(request.pool, 0.0)
            return grant
        started = self._monotonic()
        try:
            grant = self._wait_for_grant(request, max(0.0, seconds), still_wanted)
        except AcquireTimeout:
            self._waited(request.pool, started)
            raise
        self._waited(request.pool, started)
        return grant

    def _waited(self, pool: str, started: float) -> None:
        if self.observer is not None:
            self.observer.waited(pool, max(0.0, self._monotonic() - started))

    def _wait_for_grant(
        self, request: AcquireRequest, seconds: float, still_wanted: Callable[[], bool]
    ) -> Grant:
        if seconds > 0:
            deadline = self._monotonic() + seconds
            # One ticket for the whole request, whatever it asks for (rules R5, R10):
            # a large request keeps its place while smaller ones behind it wait.
            ticket = self.store.join_queue(request.pool)
            try:
                woken = True
                while still_wanted():
                    if woken:
                        try:
                            return self.store.grant(request, ticket)
                        except UNTIL_WOKEN:
                            pass
                    remaining = deadline - self._monotonic()
                    if remaining <= 0:
                        break
                    woken = self.store.wait_until_woken(ticket, min(remaining, CLIENT_CHECK_EVERY))
            finally:
                self.store.leave_queue(ticket)
        raise AcquireTimeout(_timed_out(request, seconds))

    def revoke(
        self,
        caller: Caller,
        pool: str,
        owner: str | None = None,
        label_prefix: str | None = None,
        objs: list[int] | None = None,
        reason: str | None = None,
    ) -> list[Lease]:
        """End the live leases of `pool` matching every filter given (rule R14);
        the leases revoked, in object order."""
        self._require_admin(caller, "revoke leases of")
        which = RevokeFilter(
            owner=limits.owner(owner),
            label_prefix=limits.label_prefix(label_prefix),
            objs=limits.objs(objs),
            reason=limits.reason(reason),
        )
        return self.store.revoke(limits.pool_name(pool), which, caller.principal)

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

    def leases(
        self, pool: str, first: int = 100, after: int = 0, owner: str | None = None
    ) -> list[Lease]:
        first, after = limits.page(first, after)
        name = limits.pool_name(pool)
        if owner is None:
            return self.store.leases(name, first, after)
        return self.store.leases(name, first, after, limits.owner(owner))

    def owner_leases(self, owner: str, first: int = 100) -> list[Lease]:
        """`owner`'s live leases of every pool, in (pool, object) order (rule R15)."""
        first, _ = limits.page(first, 0)
        checked = limits.owner(owner)
        assert checked is not None  # an owner was given
        return self.store.owner_leases(checked, first)

    def events(self, pool: str = "default", after: int = 0, first: int = 100) -> list[Event]:
        first, _ = limits.page(first, 0)
        return self.store.events(limits.pool_name(pool), limits.event_seq(after), first)

    # pools --------------------------------------------------------------
    def pool(self, name: str = "default") -> PoolStats | None:
        return self.store.pool(limits.pool_name(name))

    def pools(self, first: int = 100, after: str = "") -> list[PoolStats]:
        first, _ = limits.page(first, 0)
        return self.store.pools(first, after)

    def create_pool(
        self, caller: Caller, name: str, size: int, policy: PolicyFields | None = None
    ) -> PoolStats:
        """`policy` None: the default policy (every rule off), and no POLICY_CHANGED."""
        self._require_admin(caller, "create")
        checked_name, checked_size = limits.pool_name(name), limits.pool_size(size)
        if policy is None:
            return self.store.create_pool(checked_name, checked_size, caller.principal)
        return self.store.create_pool(
            checked_name, checked_size, caller.principal, limits.policy(**policy)
        )

    def set_policy(self, caller: Caller, name: str, policy: PolicyFields) -> PoolStats:
        """Replace the pool's whole policy (rule R12): a field left out is no rule."""
        self._require_admin(caller, "set the policy of")
        checked = limits.policy(**policy)
        return self.store.set_policy(limits.pool_name(name), checked, caller.principal)

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
