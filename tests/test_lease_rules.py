"""Leases on every store checked against a model of the contract's rules:
ascending then FIFO order (rule R1 of app/stores/base.py), TTL reclamation by
expiry time (R4), fencing tokens (R3), ownership and stale tokens (R8).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from app.pool.errors import NotAllocated, NotOwner, OutOfRange, PoolError, PoolExhausted, StaleToken
from app.pool.lease import Caller
from app.service import LeaseService
from app.stores.base import Store

from .conftest import Clock
from .machine_stores import OnMemory, OnRedis, OnSQLite, use_redis_url

SIZE = 5
CALLERS = {
    "alice": Caller("alice", is_admin=False),
    "bob": Caller("bob", is_admin=False),
    "root": Caller("root", is_admin=True),
}


@dataclass
class HeldLease:
    obj: int
    token: int
    owner: str
    expires_at: float | None
    ttl: float | None


class LeaseModel:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.next_fresh = 1
        self.freed: list[int] = []
        self.held: dict[int, HeldLease] = {}
        self.last_token = 0

    def reclaim(self) -> None:
        expired = sorted(
            (lease.expires_at, obj)
            for obj, lease in self.held.items()
            if lease.expires_at is not None and lease.expires_at <= self.now
        )
        for _, obj in expired:
            del self.held[obj]
            self.freed.append(obj)

    def acquire(self, owner: str, ttl: float | None) -> HeldLease:
        self.reclaim()
        if self.next_fresh <= SIZE:
            obj = self.next_fresh
            self.next_fresh += 1
        elif self.freed:
            obj = self.freed.pop(0)
        else:
            raise PoolExhausted("")
        self.last_token += 1
        expires = None if ttl is None else self.now + ttl
        self.held[obj] = HeldLease(obj, self.last_token, owner, expires, ttl)
        return self.held[obj]

    def check(self, obj: int, who: str, token: int | None) -> HeldLease:
        self.reclaim()
        lease = self.held.get(obj)
        if lease is None:
            raise (OutOfRange if not 1 <= obj <= SIZE else NotAllocated)("")
        if not CALLERS[who].is_admin and lease.owner != who:
            raise NotOwner("")
        if token is not None and token != lease.token:
            raise StaleToken("")
        return lease

    def free(self, obj: int, who: str, token: int | None) -> None:
        self.check(obj, who, token)
        del self.held[obj]
        self.freed.append(obj)

    def renew(self, obj: int, who: str, token: int, ttl: float | None) -> HeldLease:
        lease = self.check(obj, who, token)
        lease.ttl = lease.ttl if ttl is None else ttl
        lease.expires_at = None if lease.ttl is None else self.now + lease.ttl
        return lease


def outcome(call):
    try:
        return call()
    except PoolError as error:
        return type(error)


class LeaseMachine(RuleBasedStateMachine):
    def make_store(self, clock: Clock) -> Store:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.model = LeaseModel()
        self.clock = Clock(self.model.now)
        self.store = self.make_store(self.clock)
        self.store.ensure_pool("default", SIZE)
        self.service = LeaseService(self.store)

    def teardown(self) -> None:
        self.store.close()

    @rule(who=st.sampled_from(sorted(CALLERS)), ttl=st.none() | st.sampled_from([1.0, 2.5, 4.0]))
    def acquire(self, who: str, ttl: float | None) -> None:
        got = outcome(lambda: self.service.acquire(CALLERS[who], ttl=ttl))
        want = outcome(lambda: self.model.acquire(who, ttl))
        if isinstance(want, HeldLease):
            assert (got.obj, got.token, got.owner, got.expires_at) == (
                want.obj,
                want.token,
                want.owner,
                want.expires_at,
            )
        else:
            assert got is want

    @rule(
        obj=st.integers(0, SIZE + 1),
        who=st.sampled_from(sorted(CALLERS)),
        token_shift=st.none() | st.integers(-1, 1),
    )
    def free(self, obj: int, who: str, token_shift: int | None) -> None:
        token = self._token(obj, token_shift)
        got = outcome(lambda: self.service.free(CALLERS[who], obj, token=token))
        want = outcome(lambda: self.model.free(obj, who, token))
        assert got == (obj if want is None else want)

    @rule(
        obj=st.integers(1, SIZE),
        who=st.sampled_from(sorted(CALLERS)),
        token_shift=st.integers(-1, 1),
        ttl=st.none() | st.sampled_from([1.0, 3.0]),
    )
    def renew(self, obj: int, who: str, token_shift: int, ttl: float | None) -> None:
        token = self._token(obj, token_shift) or 1
        got = outcome(lambda: self.service.renew(CALLERS[who], obj, token, ttl=ttl))
        want = outcome(lambda: self.model.renew(obj, who, token, ttl))
        if isinstance(want, HeldLease):
            assert (got.token, got.expires_at) == (want.token, want.expires_at)
        else:
            assert got is want

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.model.now += seconds

    def _token(self, obj: int, shift: int | None) -> int | None:
        held = self.model.held.get(obj)
        if shift is None:
            return None
        return max(1, (held.token if held else self.model.last_token) + shift)

    @invariant()
    def the_store_shows_the_model_leases(self) -> None:
        self.model.reclaim()
        leases = self.service.leases("default", first=SIZE + 1)
        assert [(x.obj, x.token, x.owner) for x in leases] == [
            (x.obj, x.token, x.owner) for _, x in sorted(self.model.held.items())
        ]
        stats = self.service.pool()
        assert (stats.in_use, stats.available) == (
            len(self.model.held),
            SIZE - len(self.model.held),
        )


class MemoryLeases(OnMemory, LeaseMachine):
    pass


class SQLiteLeases(OnSQLite, LeaseMachine):
    pass


class RedisLeases(OnRedis, LeaseMachine):
    pass


TestMemoryLeases = MemoryLeases.TestCase
TestSQLiteLeases = SQLiteLeases.TestCase
TestRedisLeases = RedisLeases.TestCase
TestSQLiteLeases.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestRedisLeases.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestMemoryLeases.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)


@pytest.fixture(autouse=True)
def _redis_for_the_machine(request: pytest.FixtureRequest) -> None:
    use_redis_url(request, TestRedisLeases, RedisLeases)


__all__ = ["pytest"]


def test_a_caller_is_never_an_admin_by_omission():
    with pytest.raises(TypeError):
        Caller("alice")  # type: ignore[call-arg]
    assert Caller.auth_off() == Caller(principal=None, is_admin=True)
