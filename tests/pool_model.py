"""A model of one pool under the store rules (R1-R15 of app/stores/base.py), the
plainest way to compute what every store must answer: what tests/test_pool_model.py
checks each store against.

Time is the tests' clock. The model settles the pool at the instant it is asked
about (expiries reclaimed, cooling ended), which is what every store's reads
show whenever the store itself reclaims (rule R4): an expired lease counts as
freed at its expiry, an object that cooled as freed at its cooling end (R13),
so the free order is the order of those instants, whatever moment a store got
round to moving them.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

from app.pool.errors import (
    BadUserInput,
    NotAllocated,
    NotOwner,
    ObjectHeld,
    OutOfRange,
    PoolExhausted,
    QuotaExceeded,
    StaleToken,
)
from app.pool.lease import Caller, Lease, RevokeFilter
from app.pool.policy import NO_POLICY, PoolPolicy, cooling_until, grant_ttl, renewal_ttl


@dataclass(frozen=True)
class ModelLease:
    obj: int
    token: int
    owner: str | None
    label: str | None
    acquired_at: float
    expires_at: float | None
    ttl: float | None
    request_id: str | None


@dataclass(frozen=True)
class ModelStats:
    size: int
    in_use: int
    available: int
    waiting: int
    cooling: int
    policy: PoolPolicy


class PoolModel:
    def __init__(self, size: int, now: float, policy: PoolPolicy = NO_POLICY) -> None:
        self.size = size
        self.now = now
        self.policy = policy
        self.held: dict[int, ModelLease] = {}
        # Never-used objects are those not in `used` (rule R1).
        self.used: set[int] = set()
        # (freed at, obj): the longest free first (rule R1).
        self.freed: list[tuple[float, int]] = []
        self.cooling: dict[int, float] = {}
        self.last_token = 0
        self.queue: list[int] = []
        # When the store last certainly reclaimed: a successful change (rule R4).
        self.last_change = now
        self.last_expiry = 0.0

    # time ---------------------------------------------------------------
    def settle(self) -> None:
        """Expired leases reclaimed (R4) into cooling or the free order (R13)."""
        expired = sorted(
            (lease.expires_at, obj)
            for obj, lease in self.held.items()
            if lease.expires_at is not None and lease.expires_at <= self.now
        )
        for expires_at, obj in expired:
            del self.held[obj]
            self.last_expiry = max(self.last_expiry, expires_at)
            self._ended(obj, expires_at)
        for end, obj in sorted((end, obj) for obj, end in self.cooling.items()):
            if end <= self.now:
                del self.cooling[obj]
                bisect.insort(self.freed, (end, obj))

    def _ended(self, obj: int, at: float) -> None:
        """A lease that expired or was revoked at `at`: its object cools or is freed."""
        end = cooling_until(self.policy, at)
        if end is None:
            bisect.insort(self.freed, (at, obj))
        else:
            self.cooling[obj] = end

    def expiry_unsettled(self) -> bool:
        """Whether a lease expired after the last change the store certainly
        reclaimed at: its object cools by the policy of whenever the store
        reclaims it, so a change of `reuse_delay` now could go either way."""
        self.settle()
        return self.last_expiry > self.last_change

    # reads --------------------------------------------------------------
    def stats(self) -> ModelStats:
        self.settle()
        in_use = len(self.held)
        cooling = len(self.cooling)
        return ModelStats(
            self.size,
            in_use,
            self.size - in_use - cooling,
            len(self.queue),
            cooling,
            self.policy,
        )

    def leases(self, owner: str | None = None) -> list[ModelLease]:
        self.settle()
        return [
            lease for _, lease in sorted(self.held.items()) if owner is None or lease.owner == owner
        ]

    def _available_order(self) -> list[int]:
        """The objects single acquires would take, in order (rules R1, R13)."""
        fresh = [obj for obj in range(1, self.size + 1) if obj not in self.used]
        freed = [obj for _, obj in self.freed]
        return freed + fresh if self.policy.reuse_first else fresh + freed

    # changes ------------------------------------------------------------
    def grant(
        self,
        owner: str | None,
        label: str | None,
        ttl: float | None,
        request_id: str | None = None,
        count: int = 1,
        contiguous: bool = False,
        obj: int | None = None,
        ticket: int | None = None,
    ) -> tuple[list[ModelLease], bool]:
        """The leases granted in grant order, and whether they are replayed (R2)."""
        self.settle()
        if count > self.size:
            raise BadUserInput("")
        lease_ttl = grant_ttl(self.policy, ttl)
        if obj is not None and not 1 <= obj <= self.size:
            raise OutOfRange("")
        if request_id is not None:
            mine = [
                lease
                for lease in self.held.values()
                if lease.owner == owner and lease.request_id == request_id
            ]
            if mine:
                if ticket is not None:
                    self.queue.remove(ticket)
                return sorted(mine, key=lambda lease: lease.token), True
        limit = self.policy.max_per_owner
        if limit is not None and owner is not None:
            holding = sum(lease.owner == owner for lease in self.held.values())
            if holding + count > limit:
                raise QuotaExceeded("")
        if self.queue and ticket != self.queue[0]:
            raise PoolExhausted("")
        objs = self._choose(count, contiguous, obj)
        if ticket is not None:
            self.queue.remove(ticket)
        granted = []
        for chosen in objs:
            self.freed = [entry for entry in self.freed if entry[1] != chosen]
            self.used.add(chosen)
            self.last_token += 1
            lease = ModelLease(
                chosen,
                self.last_token,
                owner,
                label,
                self.now,
                None if lease_ttl is None else self.now + lease_ttl,
                lease_ttl,
                request_id,
            )
            self.held[chosen] = lease
            granted.append(lease)
        self.last_change = self.now
        return granted, False

    def _choose(self, count: int, contiguous: bool, obj: int | None) -> list[int]:
        if obj is not None:  # rule R11
            if obj in self.held or obj in self.cooling:
                raise ObjectHeld("")
            return [obj]
        order = self._available_order()
        if contiguous:  # rule R10
            available = set(order)
            for first in range(1, self.size - count + 2):
                run = list(range(first, first + count))
                if available.issuperset(run):
                    return run
            raise PoolExhausted("")
        if len(order) < count:
            raise PoolExhausted("")
        return order[:count]

    def _check(self, obj: int, caller: Caller, token: int | None) -> ModelLease:
        """Rule R8's refusals."""
        self.settle()
        lease = self.held.get(obj)
        if lease is None:
            raise (OutOfRange if not 1 <= obj <= self.size else NotAllocated)("")
        if not caller.is_admin and lease.owner != caller.principal:
            raise NotOwner("")
        if token is not None and token != lease.token:
            raise StaleToken("")
        return lease

    def free(self, obj: int, caller: Caller, token: int | None) -> int:
        self._check(obj, caller, token)
        del self.held[obj]
        # A holder's free never cools (rule R13).
        bisect.insort(self.freed, (self.now, obj))
        self.last_change = self.now
        return obj

    def renew(self, obj: int, caller: Caller, token: int, ttl: float | None) -> ModelLease:
        lease = self._check(obj, caller, token)
        new_ttl = renewal_ttl(self.policy, lease.ttl, ttl)
        renewed = replace(
            lease, ttl=new_ttl, expires_at=None if new_ttl is None else self.now + new_ttl
        )
        self.held[obj] = renewed
        self.last_change = self.now
        return renewed

    def revoke(self, which: RevokeFilter) -> list[ModelLease]:
        """Rule R14: every live lease matching, in object order."""
        self.settle()
        revoked = [
            lease for _, lease in sorted(self.held.items()) if which.matches(_as_lease(lease))
        ]
        for lease in revoked:
            del self.held[lease.obj]
            self._ended(lease.obj, self.now)
        self.last_change = self.now
        return revoked

    def set_policy(self, policy: PoolPolicy) -> None:
        self.settle()
        self.policy = policy
        self.last_change = self.now


def _as_lease(lease: ModelLease) -> Lease:
    """The lease as a store shows it, for the domain's own filter (rule R14)."""
    return Lease(
        "model",
        lease.obj,
        lease.token,
        lease.owner,
        lease.label,
        lease.acquired_at,
        lease.expires_at,
        lease.ttl,
        lease.request_id,
    )
