"""Every store checked against a model of one pool (tests/pool_model.py): grants
of several objects, contiguous or not (rule R10 of app/stores/base.py), named
objects (R11), the pool's policy (R12), cooling and reuse order (R13),
revocation (R14), owners' leases (R15), the queue (R5), replays (R2) and tokens
(R3). Each step's answer (the leases granted, or the code refused) and, after
every step, the pool's counts, its leases and each owner's, must be the model's.

The clock ticks a millisecond every step, so that no two changes happen at one
instant and the free order (R1) has no ties but the ones the rules order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from app.pool.errors import PoolError
from app.pool.lease import AcquireRequest, Caller, Lease, RevokeFilter
from app.pool.policy import PoolPolicy
from app.stores.base import Store, Ticket

from .conftest import Clock
from .machine_stores import OnMemory, OnRedis, OnSQLite, use_redis_url
from .pool_model import ModelLease, PoolModel

POOL = "model"
SIZE = 6
TICK = 0.001
CALLERS = {
    "alice": Caller("alice", is_admin=False),
    "bob": Caller("bob", is_admin=False),
    "root": Caller("root", is_admin=True),
}
OWNERS = st.sampled_from(["alice", "bob", None])
LABELS = st.sampled_from(["job-a", "job-b", "x", None])
MAX_WAITERS = 2


@st.composite
def policies(draw: st.DrawFn) -> PoolPolicy:
    max_ttl = draw(st.sampled_from([None, 2.5, 5.0]))
    defaults = [None, 1.0, 2.0] + ([] if max_ttl is None else [max_ttl])
    return PoolPolicy(
        default_ttl=draw(st.sampled_from(defaults)),
        max_ttl=max_ttl,
        max_per_owner=draw(st.sampled_from([None, 1, 2, 4])),
        reuse_delay=draw(st.sampled_from([None, 0.5, 1.5])),
        reuse_first=draw(st.booleans()),
        description=draw(st.sampled_from([None, "shared runners"])),
    )


def outcome(call: Any) -> Any:
    try:
        return call()
    except PoolError as error:
        return error.code


def shown(lease: Lease | ModelLease) -> tuple[Any, ...]:
    return (
        lease.obj,
        lease.token,
        lease.owner,
        lease.label,
        lease.acquired_at,
        lease.expires_at,
        lease.ttl,
        lease.request_id,
    )


def grant_kind(asked: dict[str, Any], want: Any) -> str:
    """What an acquire was and got, for hypothesis' statistics."""
    if asked.get("obj") is not None:
        shape = "named"
    elif asked.get("count", 1) > 1:
        shape = "contiguous set" if asked.get("contiguous") else "set"
    else:
        shape = "one"
    if not isinstance(want, tuple):
        return f"{shape} refused {want}"
    return f"{shape} replayed" if want[1] else f"{shape} granted"


class PoolMachine(RuleBasedStateMachine):
    def make_store(self, clock: Clock) -> Store:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.model = PoolModel(SIZE, self.clock.now)
        self.store = self.make_store(self.clock)
        self.tickets: dict[int, Ticket] = {}

    def teardown(self) -> None:
        for ticket in self.tickets.values():
            self.store.leave_queue(ticket)
        self.store.close()

    def _tick(self, seconds: float = TICK) -> None:
        self.clock.advance(seconds)
        self.model.now = self.clock.now

    @initialize(policy=policies())
    def create(self, policy: PoolPolicy) -> None:
        self.store.create_pool(POOL, SIZE, principal="root", policy=policy)
        self.model.policy = policy

    @rule(
        owner=OWNERS,
        label=LABELS,
        ttl=st.sampled_from([None, 1.0, 2.5, 4.0]),
        request_id=st.sampled_from([None, None, "r1", "r2"]),
        count=st.sampled_from([1, 1, 1, 2, 3, 4, SIZE + 1]),
        contiguous=st.booleans(),
        queued=st.sampled_from([None, None, 0, 1]),
    )
    def acquire(
        self,
        owner: str | None,
        label: str | None,
        ttl: float | None,
        request_id: str | None,
        count: int,
        contiguous: bool,
        queued: int | None,
    ) -> None:
        self._tick()
        self._grant(
            owner=owner,
            label=label,
            ttl=ttl,
            # R2 keys on (owner, request id): an anonymous one is never replayed here.
            request_id=request_id if owner is not None else None,
            count=count,
            contiguous=contiguous and count > 1,
            queued=queued,
        )

    @rule(owner=OWNERS, obj=st.integers(0, SIZE + 1), queued=st.sampled_from([None, None, 0]))
    def acquire_named(self, owner: str | None, obj: int, queued: int | None) -> None:
        self._tick()
        self._grant(owner=owner, label="named", ttl=1.0, obj=obj, queued=queued)

    def _grant(self, queued: int | None, **asked: Any) -> None:
        queue = self.model.queue
        ticket = queue[queued] if queued is not None and queued < len(queue) else None
        request = AcquireRequest(POOL, principal="root", **asked)
        got = outcome(
            lambda: self.store.grant(request, None if ticket is None else self.tickets[ticket])
        )
        want = outcome(lambda: self.model.grant(ticket=ticket, **asked))
        event(f"acquire: {grant_kind(asked, want)}")
        if isinstance(want, tuple):
            leases, replayed = want
            assert not isinstance(got, str), f"{asked}: refused {got}, the model grants {leases}"
            assert [shown(lease) for lease in got.leases] == [shown(lease) for lease in leases]
            assert got.replayed is replayed
            assert all(lease.pool == POOL for lease in got.leases)
        else:
            assert got == want, f"{asked}: the model refuses {want}"
        if ticket is not None and ticket not in self.model.queue:
            del self.tickets[ticket]

    @rule(
        obj=st.integers(0, SIZE + 1),
        who=st.sampled_from(sorted(CALLERS)),
        token_shift=st.none() | st.integers(-1, 1),
    )
    def free(self, obj: int, who: str, token_shift: int | None) -> None:
        self._tick()
        token = self._token(obj, token_shift)
        got = outcome(lambda: self.store.free(POOL, obj, CALLERS[who], token))
        want = outcome(lambda: self.model.free(obj, CALLERS[who], token))
        assert got == want

    @rule(
        obj=st.integers(1, SIZE),
        who=st.sampled_from(sorted(CALLERS)),
        token_shift=st.integers(-1, 1),
        ttl=st.none() | st.sampled_from([1.0, 3.0]),
    )
    def renew(self, obj: int, who: str, token_shift: int, ttl: float | None) -> None:
        self._tick()
        token = self._token(obj, token_shift) or 1
        got = outcome(lambda: self.store.renew(POOL, obj, token, CALLERS[who], ttl))
        want = outcome(lambda: self.model.renew(obj, CALLERS[who], token, ttl))
        if isinstance(want, ModelLease):
            assert not isinstance(got, str), f"renew refused {got}"
            assert shown(got) == shown(want)
        else:
            assert got == want

    @rule(
        owner=st.sampled_from([None, None, "alice", "bob"]),
        label_prefix=st.sampled_from([None, None, None, "job", "job-a", "x"]),
        objs=st.none() | st.none() | st.frozensets(st.integers(1, SIZE + 1), max_size=3),
        reason=st.sampled_from([None, "maintenance"]),
    )
    def revoke(
        self,
        owner: str | None,
        label_prefix: str | None,
        objs: frozenset[int] | None,
        reason: str | None,
    ) -> None:
        self._tick()
        which = RevokeFilter(owner=owner, label_prefix=label_prefix, objs=objs, reason=reason)
        got = self.store.revoke(POOL, which, principal="root")
        want = self.model.revoke(which)
        event(f"revoke: {'some' if want else 'none'} revoked")
        assert [shown(lease) for lease in got] == [shown(lease) for lease in want]

    @rule(policy=policies())
    def set_policy(self, policy: PoolPolicy) -> None:
        self._tick()
        if self.model.expiry_unsettled():
            # An object whose lease expired since the store last reclaimed
            # cools by the policy in force when it is reclaimed: keep that rule.
            policy = replace(policy, reuse_delay=self.model.policy.reuse_delay)
        stats = self.store.set_policy(POOL, policy, principal="root")
        self.model.set_policy(policy)
        assert stats.policy == policy

    @precondition(lambda self: len(self.model.queue) < MAX_WAITERS)
    @rule(now=st.integers(0, 3))
    def join_queue(self, now: int) -> None:
        # A waiter blocks every other grant (rule R5): one draw in four joins,
        # so that most steps find the pool open.
        if now:
            return
        self._tick()
        ticket = self.store.join_queue(POOL)
        self.model.queue.append(ticket.id)
        self.tickets[ticket.id] = ticket

    @precondition(lambda self: bool(self.model.queue))
    @rule(index=st.integers(0, MAX_WAITERS - 1))
    def leave_queue(self, index: int) -> None:
        self._tick()
        ticket = self.model.queue[index % len(self.model.queue)]
        self.store.leave_queue(self.tickets.pop(ticket))
        self.model.queue.remove(ticket)

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.0]))
    def time_passes(self, seconds: float) -> None:
        self._tick(seconds)

    def _token(self, obj: int, shift: int | None) -> int | None:
        if shift is None:
            return None
        held = self.model.held.get(obj)
        return max(1, (held.token if held else self.model.last_token) + shift)

    @invariant()
    def the_store_shows_the_model(self) -> None:
        want = self.model.stats()
        if want.cooling:
            event("a step with objects cooling")
        stats = self.store.pool(POOL)
        assert stats is not None
        fields = ("size", "in_use", "available", "waiting", "cooling", "policy")
        assert {name: getattr(stats, name) for name in fields} == {
            name: getattr(want, name) for name in fields
        }
        assert stats.available + stats.in_use + stats.cooling == stats.size
        listed = self.store.leases(POOL, first=SIZE + 1, after=0)
        assert [shown(lease) for lease in listed] == [shown(x) for x in self.model.leases()]
        for owner in ("alice", "bob"):
            mine = [shown(x) for x in self.model.leases(owner)]
            assert [shown(x) for x in self.store.leases(POOL, SIZE + 1, 0, owner=owner)] == mine
            assert [shown(x) for x in self.store.owner_leases(owner, SIZE + 1)] == mine


class MemoryPool(OnMemory, PoolMachine):
    pass


class SQLitePool(OnSQLite, PoolMachine):
    pass


class RedisPool(OnRedis, PoolMachine):
    pass


TestMemoryPool = MemoryPool.TestCase
TestSQLitePool = SQLitePool.TestCase
TestRedisPool = RedisPool.TestCase
TestMemoryPool.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestSQLitePool.settings = settings(max_examples=30, stateful_step_count=30, deadline=None)
TestRedisPool.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)


@pytest.fixture(autouse=True)
def _redis_for_the_machine(request: pytest.FixtureRequest) -> None:
    use_redis_url(request, TestRedisPool, RedisPool)
