"""The one interface every store implements; the API knows nothing else.

Every method is one atomic step against shared state: two workers or two
hosts calling at once can never both be granted one object. Stores reclaim
expired leases themselves, before anything reads or hands out an object, and
decide the time by their own clock (the server's, never the client's).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..pool.lease import AcquireRequest, Caller, Lease, PoolStats


@dataclass(frozen=True)
class Ticket:
    """A place in a pool's queue of waiters; lower ids arrived earlier."""

    pool: str
    id: int


class Store(ABC):
    # pools ------------------------------------------------------------
    @abstractmethod
    def ensure_pool(self, name: str, size: int) -> None:
        """Create the pool unless it exists (its size is then left alone)."""

    @abstractmethod
    def create_pool(self, name: str, size: int) -> PoolStats: ...

    @abstractmethod
    def resize_pool(self, name: str, size: int) -> PoolStats: ...

    @abstractmethod
    def delete_pool(self, name: str, force: bool) -> PoolStats:
        """Delete the pool; its leases and waiters go with it when `force`."""

    @abstractmethod
    def pool(self, name: str) -> PoolStats | None: ...

    @abstractmethod
    def pools(self, first: int, after: str) -> list[PoolStats]:
        """Pools in name order, names above `after`, at most `first`."""

    # leases -----------------------------------------------------------
    @abstractmethod
    def leases(self, pool: str, first: int, after: int) -> list[Lease]:
        """Live leases in object order, objects above `after`, at most `first`."""

    @abstractmethod
    def lease(self, pool: str, obj: int) -> Lease | None: ...

    @abstractmethod
    def acquire(self, request: AcquireRequest, ticket: Ticket | None = None) -> Lease:
        """Grant an object, or raise `PoolExhausted`.

        A live lease with the same owner and request id is returned as it is.
        Without a ticket nothing is granted while anyone waits; with one, only
        to the oldest live waiter, whose ticket the grant then removes.
        """

    @abstractmethod
    def free(self, pool: str, obj: int, caller: Caller, token: int | None) -> int: ...

    @abstractmethod
    def renew(
        self, pool: str, obj: int, token: int, caller: Caller, ttl: float | None
    ) -> Lease: ...

    # waiting ----------------------------------------------------------
    @abstractmethod
    def join_queue(self, pool: str) -> Ticket: ...

    @abstractmethod
    def leave_queue(self, ticket: Ticket) -> None:
        """Give up a place in the queue; a no-op when it is already gone."""

    @abstractmethod
    def wait_for_change(self, ticket: Ticket, timeout: float) -> bool:
        """Block until `ticket` heads its queue and its pool changed, or `timeout`
        seconds passed; True when woken. Costs nothing while it blocks: stores wake
        waiters through `waking.WaitRoom`, never by polling. Spurious wake-ups are
        allowed: the caller tries again and waits again."""

    # health -----------------------------------------------------------
    @abstractmethod
    def ping(self) -> None:
        """Raise `StoreUnavailable` unless the store answers reads; changes nothing."""

    def check_ready(self) -> None:
        """Raise `StoreUnavailable` unless the store can read and durably write.

        `/readyz` asks this. Stores override it with a write that changes no
        lease (a scratch row or key); the default only reads.
        """
        self.ping()

    def close(self) -> None:  # noqa: B027 - most stores hold nothing to close
        """Release connections."""
