"""One pool of the memory store: its objects, leases and the indexes over them.

Pure state: `MemoryStore` takes its lock, journals and wakes around every
change made here.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from ...pool.lease import Lease, PoolStats
from ...pool.policy import NO_POLICY, PoolPolicy, cooling_until
from .objects import ObjectMgr
from .runs import SortedInts


@dataclass
class PoolState:
    objects: ObjectMgr
    policy: PoolPolicy = NO_POLICY
    leases: dict[int, Lease] = field(default_factory=dict)
    # rule R2: (owner, request id) to its leases' objects, in grant order.
    by_request: dict[tuple[str | None, str], list[int]] = field(default_factory=dict)
    # rule R15: each owner's held objects, in order.
    by_owner: dict[str, SortedInts] = field(default_factory=dict)
    # rule R4: (expiry, object, token); a renewal leaves its old entry behind.
    expiries: list[tuple[float, int, int]] = field(default_factory=list)
    waiters: deque[int] = field(default_factory=deque)

    @property
    def name(self) -> str:
        return self.objects.name

    def live(self, lease: Lease | None, now: float) -> Lease | None:
        # rule R4: an expired lease is left out until it is reclaimed
        if lease is None or (lease.expires_at is not None and lease.expires_at <= now):
            return None
        return lease

    @staticmethod
    def current(lease: Lease | None, expires_at: float, token: int) -> bool:
        # A renewal leaves the old entry behind: only the lease's current expiry
        # counts, or it would queue ahead of leases that expired earlier.
        return lease is not None and lease.token == token and lease.expires_at == expires_at

    def put(self, lease: Lease) -> bool:
        """Keep `lease` (granted or renewed); True when it has an expiry to reap."""
        fresh = lease.obj not in self.leases
        self.leases[lease.obj] = lease
        if fresh:
            if lease.request_id is not None:
                self.by_request.setdefault((lease.owner, lease.request_id), []).append(lease.obj)
            if lease.owner is not None:
                owned = self.by_owner.get(lease.owner)
                if owned is None:
                    owned = self.by_owner[lease.owner] = SortedInts()
                owned.add(lease.obj)
        if lease.expires_at is None:
            return False
        heapq.heappush(self.expiries, (lease.expires_at, lease.obj, lease.token))
        return True

    def drop(self, lease: Lease) -> None:
        """Forget `lease`; its object is the caller's to give back."""
        del self.leases[lease.obj]
        if lease.request_id is not None:
            key = (lease.owner, lease.request_id)
            objs = self.by_request.get(key)
            if objs is not None:
                objs.remove(lease.obj)
                if not objs:
                    del self.by_request[key]
        if lease.owner is not None:
            owned = self.by_owner[lease.owner]
            owned.remove(lease.obj)
            if not owned:
                del self.by_owner[lease.owner]

    def end(self, lease: Lease, ended_at: float) -> None:
        """`lease` expired or was revoked at `ended_at`: its object cools or is free (rule R13)."""
        self.drop(lease)
        until = cooling_until(self.policy, ended_at)
        if until is None:
            self.objects.free_object(lease.obj)
        else:
            self.objects.cool_object(lease.obj, until)

    def replay(self, owner: str | None, request_id: str, now: float) -> list[Lease]:
        """rule R2: the live leases of (owner, request id), in token order."""
        objs = self.by_request.get((owner, request_id), ())
        found = [self.live(self.leases.get(obj), now) for obj in objs]
        return sorted((lease for lease in found if lease), key=lambda lease: lease.token)

    def live_count_of(self, owner: str, enough: int, now: float) -> int:
        """`owner`'s live leases, counted up to `enough` (rule R12)."""
        owned = self.by_owner.get(owner)
        if owned is None:
            return 0
        if len(owned) <= enough and not self.expiries:
            return len(owned)
        counted = 0
        for obj in owned.above(0):
            counted += self.live(self.leases[obj], now) is not None
            if counted >= enough:
                break
        return counted

    def live_leases(self, after: int, now: float, owner: str | None = None) -> Iterator[Lease]:
        """Live leases above `after`, in object order; only `owner`'s when given (rule R15)."""
        if owner is None:
            objs = self.objects.held_above(after)
        else:
            owned = self.by_owner.get(owner)
            if owned is None:
                return
            objs = owned.above(after)
        for obj in objs:
            lease = self.live(self.leases.get(obj), now)
            if lease is not None:
                yield lease

    def stats(self, now: float) -> PoolStats:
        """Exact at `now`: expired leases not reclaimed yet count as ended, and
        cooling objects whose end passed as available (rules R4, R13)."""
        objects = self.objects
        expired, ended_within, cooling_within = self._expired_unreclaimed(now)
        cooled = objects.cooling_ended_by(now)
        return PoolStats(
            name=self.name,
            size=objects.size,
            in_use=objects.in_use - expired,
            available=objects.available + cooled + ended_within - cooling_within,
            waiting=len(self.waiters),
            cooling=objects.cooling - cooled + cooling_within,
            policy=self.policy,
        )

    def _expired_unreclaimed(self, now: float) -> tuple[int, int, int]:
        """Leases past their expiry still held: all of them, those within the
        size, and of those the ones whose object would be cooling at `now`.

        Visits only the heap entries due by `now`, so it costs what awaits
        reclamation, not what is held.
        """
        heap, size = self.expiries, self.objects.size
        found = within = cooling = 0
        stack = [0] if heap else []
        while stack:
            index = stack.pop()
            expires_at, obj, token = heap[index]
            if expires_at > now:
                continue
            if self.current(self.leases.get(obj), expires_at, token) and obj <= size:
                within += 1
                until = cooling_until(self.policy, expires_at)
                cooling += until is not None and until > now
            found += self.current(self.leases.get(obj), expires_at, token)
            stack.extend(child for child in (2 * index + 1, 2 * index + 2) if child < len(heap))
        return found, within, cooling
