"""objmgr_client against a real server: several objects at once, a named object, replays,
pool policies, revocation and one owner's leases."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from conftest import ProxyFactory
from objmgr_client import NO_POLICY, Client, LeaseSet, ObjmgrError, PoolPolicy

from tests.conditions import wait_until
from tests.live.support import LiveServer

pytestmark = pytest.mark.live

_names = itertools.count()


def _code(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ObjmgrError) as caught:
        call(*args, **kwargs)
    assert caught.value.message
    return caught.value.code


def _new_pool(client: Client, size: int, policy: PoolPolicy | None = None) -> str:
    name = f"client-policy-{next(_names)}"
    client.create_pool(name, size, policy=policy)
    return name


def test_several_at_once_contiguous_and_replayed(client: Client) -> None:
    pool = _new_pool(client, 10)
    client.acquire(pool, obj=2)
    run = client.acquire_many(3, pool, contiguous=True, owner="ci-7", ttl=60, request_id="s-1")
    assert isinstance(run, LeaseSet) and not run.replayed
    assert run.objs == [3, 4, 5]
    tokens = [lease.token for lease in run]
    assert tokens == sorted(set(tokens)), "a grant each, tokens increasing"
    assert {(lease.owner, lease.ttl, lease.request_id) for lease in run} == {("ci-7", 60, "s-1")}

    again = client.acquire_many(3, pool, contiguous=True, owner="ci-7", request_id="s-1")
    assert again.replayed and all(lease.replayed for lease in again)
    assert again == LeaseSet(run.leases, replayed=True), "the same leases, not three more"

    spread = client.acquire_many(2, pool)
    assert spread.objs == [1, 6], "what two single acquires would take"
    client.acquire(pool, obj=9)
    # Free now: 7, 8 and 10, three objects but no run of three.
    assert _code(client.acquire_many, 4, pool) == "POOL_EXHAUSTED"
    assert _code(client.acquire_many, 3, pool, contiguous=True, wait=0.2) == "ACQUIRE_TIMEOUT"
    stats = client.get_pool(pool)
    assert stats is not None and stats.in_use == 7, "all or none: nothing taken"
    assert client.acquire_many(3, pool).objs == [7, 8, 10]
    assert _code(client.acquire_many, 0, pool) == "BAD_USER_INPUT"
    assert _code(client.acquire_many, 1001, pool) == "BAD_USER_INPUT"


def test_a_named_object_and_a_replayed_single_acquire(client: Client, pool: str) -> None:
    got = client.acquire(pool, obj=3, owner="ci-7", ttl=30, request_id="n-1")
    assert (got.obj, got.ttl, got.request_id, got.replayed) == (3, 30, "n-1", False)
    again = client.acquire(pool, obj=3, owner="ci-7", request_id="n-1")
    assert again.replayed and again == got
    assert _code(client.acquire, pool, obj=3) == "OBJECT_HELD"
    assert _code(client.acquire, pool, obj=4) == "OUT_OF_RANGE"
    assert client.acquire(pool).obj == 1, "any object: the lowest never used"
    assert client.get_lease(3, pool) == got


def test_a_lost_reply_to_a_set_leaks_nothing(
    server: LiveServer, client: Client, lossy_proxy: ProxyFactory
) -> None:
    pool = _new_pool(client, 5)
    proxy = lossy_proxy(server.port, 1)
    through = Client(proxy.url, timeout=10, retry_delay=0.01)
    run = through.acquire_many(3, pool, contiguous=True, ttl=60)
    bodies = proxy.bodies()
    assert len(bodies) == 2, "sent a second time"
    assert bodies[0]["variables"]["requestId"] == bodies[1]["variables"]["requestId"]
    assert run.replayed, "the second answer replays the first grant"
    stats = client.get_pool(pool)
    assert stats is not None and stats.in_use == 3, "the lost reply leaked no object"
    assert client.leases(pool) == list(run)


def test_policies_set_read_and_followed(client: Client) -> None:
    pool = _new_pool(client, 5, PoolPolicy(max_per_owner=2, description="build ports"))
    stats = client.get_pool(pool)
    assert stats is not None and stats.policy == PoolPolicy(
        max_per_owner=2, description="build ports"
    )
    client.acquire_many(2, pool, owner="ci-7")
    assert _code(client.acquire, pool, owner="ci-7") == "QUOTA_EXCEEDED"
    assert _code(client.acquire, pool, owner="ci-7", wait=5) == "QUOTA_EXCEEDED", "never queued"
    assert client.acquire(pool, owner="ci-8").obj == 3

    changed = client.set_policy(pool, default_ttl=30, max_ttl=60, reuse_first=True)
    assert changed.policy == PoolPolicy(default_ttl=30, max_ttl=60, reuse_first=True)
    assert client.acquire(pool, owner="ci-7").ttl == 30, "the default TTL"
    assert _code(client.acquire, pool, ttl=120) == "BAD_USER_INPUT"
    assert _code(client.set_policy, pool, default_ttl=90, max_ttl=60) == "BAD_USER_INPUT"
    assert client.set_policy(pool, NO_POLICY).policy == NO_POLICY
    assert _code(client.set_policy, "no-such-pool", max_ttl=5) == "POOL_NOT_FOUND"


def test_revocation_by_filter_ends_leases_and_cools_their_objects(client: Client) -> None:
    pool = _new_pool(client, 6, PoolPolicy(reuse_delay=3600))
    alice = [client.acquire(pool, owner="alice", label=f"job {n}") for n in range(2)]
    bob = client.acquire(pool, owner="bob", label="nightly")
    carol = client.acquire(pool, owner="carol", label="job 9")

    assert client.revoke(pool, owner="alice", reason="cancelled") == alice
    assert client.revoke(pool, label_prefix="job ", objs=[carol.obj, bob.obj]) == [carol]
    assert client.revoke(pool, objs=[alice[0].obj]) == [], "nothing left to match"
    assert _code(client.free, alice[0].obj, pool, token=alice[0].token) in (
        "NOT_ALLOCATED",
        "STALE_TOKEN",
    )
    stats = client.get_pool(pool)
    assert stats is not None and (stats.in_use, stats.cooling, stats.available) == (1, 3, 2)
    revoked = [event for event in client.events(pool) if event.kind == "REVOKED"]
    assert [(event.obj, event.reason) for event in revoked] == [
        (alice[0].obj, "cancelled"),
        (alice[1].obj, "cancelled"),
        (carol.obj, None),
    ]
    assert client.revoke(pool) == [bob], "no filter: every lease of the pool"
    assert _code(client.revoke, "no-such-pool") == "POOL_NOT_FOUND"


def test_a_held_lease_revoked_is_lost(client: Client, pool: str) -> None:
    with client.hold(pool, ttl=30, renew_every=0.05) as held:
        client.revoke(pool, objs=[held.obj], reason="maintenance")
        wait_until(lambda: held.lost, 10, "the renewer to find the lease revoked")
        assert _code(held.check) == "LEASE_LOST"


def test_a_lease_held_without_a_ttl_is_renewed_at_the_ttl_its_pool_gives(client: Client) -> None:
    pool = _new_pool(client, 3, PoolPolicy(default_ttl=20))
    with client.hold(pool, ttl=None, renew_every=0.05) as held:
        assert held.ttl == 20 and held.lease.ttl == 20
        assert held.deadline is not None, "a deadline: the lease expires unless renewed"
        wait_until(lambda: held.renewals >= 2, 10, "two renewals of the policy's TTL")
        assert held.lease.ttl == 20
        held.check()
    assert client.get_lease(held.obj, pool) is None, "freed on exit"


def test_one_owners_leases_in_a_pool_and_in_every_pool(client: Client) -> None:
    owner = f"owner-{next(_names)}"
    first, second = _new_pool(client, 3), _new_pool(client, 3)
    mine = [client.acquire(second, owner=owner), client.acquire(first, owner=owner)]
    client.acquire(first, owner="someone else")
    mine.append(client.acquire(first, owner=owner))

    assert client.leases(first, owner=owner) == [mine[1], mine[2]]
    everywhere = client.leases(None, owner=owner)
    assert everywhere == sorted(mine, key=lambda lease: (lease.pool, lease.obj))
    assert client.leases(None, owner=owner, first=1) == everywhere[:1]
    assert client.leases(None, owner="nobody") == []


def test_revoke_and_set_policy_are_for_admins(live_server: LiveServer) -> None:
    url = live_server.start(
        {"OBJMGR_TOKENS": "ops:ops-secret,dev:dev-secret", "OBJMGR_ADMINS": "ops"}
    )
    ops, dev = Client(url, token="ops-secret"), Client(url, token="dev-secret")
    pool = _new_pool(ops, 3)
    held = dev.acquire(pool, owner="ignored")
    assert held.owner == "dev"
    assert _code(dev.revoke, pool) == "FORBIDDEN"
    assert _code(dev.set_policy, pool, max_ttl=5) == "FORBIDDEN"
    assert _code(dev.create_pool, "devs", 3, PoolPolicy(max_ttl=5)) == "FORBIDDEN"
    assert dev.leases(None, owner="dev") == [held]
    assert ops.revoke(pool, owner="dev", reason="maintenance") == [held]
    assert _code(dev.free, held.obj, pool) in ("NOT_ALLOCATED", "STALE_TOKEN")
