"""objmgr_client: several objects, a named one, policies and revocation, without a server.

A loopback proxy with no upstream loses every reply: what the client sent is
what these tests read.
"""

from __future__ import annotations

from datetime import UTC, datetime

import objmgr_client
import pytest
from conftest import ProxyFactory
from objmgr_client import NO_POLICY, Client, Lease, LeaseSet, ObjmgrError, Pool, PoolPolicy

AT = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
LEASE_JSON = {
    "pool": "ports",
    "obj": 7,
    "owner": "ci-7",
    "label": "job 42",
    "token": 12,
    "acquiredAt": AT.isoformat(),
    "expiresAt": None,
    "ttl": 60.0,
    "requestId": "job-42",
}
POLICY_JSON = {
    "defaultTtl": 30.0,
    "maxTtl": 3600.0,
    "maxPerOwner": 10,
    "reuseDelay": 5.0,
    "reuseFirst": True,
    "description": "build ports",
}


def test_a_lease_reads_its_ttl_and_request_id_and_a_replay_equals_the_lease() -> None:
    lease = Lease.from_json(LEASE_JSON)
    assert (lease.ttl, lease.request_id, lease.replayed) == (60.0, "job-42", False)
    assert lease.to_json() == LEASE_JSON
    replay = Lease.from_json(LEASE_JSON, replayed=True)
    assert replay.replayed and replay == lease, "replayed is what the answer said, not the lease"
    older = Lease.from_json({k: v for k, v in LEASE_JSON.items() if k not in ("ttl", "requestId")})
    assert (older.ttl, older.request_id) == (None, None)


def test_a_lease_set_is_a_sequence_of_its_leases() -> None:
    leases = tuple(Lease.from_json({**LEASE_JSON, "obj": obj, "token": obj}) for obj in (3, 4, 5))
    granted = LeaseSet(leases, replayed=True)
    assert len(granted) == 3 and list(granted) == list(leases) and granted[-1].obj == 5
    assert granted.objs == [3, 4, 5] and granted.replayed


def test_a_policy_and_a_pool_read_as_the_api_spells_them_and_back() -> None:
    policy = PoolPolicy.from_json(POLICY_JSON)
    assert policy == PoolPolicy(30.0, 3600.0, 10, 5.0, True, "build ports")
    assert policy.to_json() == POLICY_JSON
    empty = {name: None for name in POLICY_JSON} | {"reuseFirst": False}
    assert PoolPolicy.from_json(empty) == NO_POLICY and NO_POLICY.to_json() == empty
    pool_json = {
        "name": "ports",
        "size": 10,
        "available": 6,
        "inUse": 3,
        "waiting": 0,
        "cooling": 1,
        "policy": POLICY_JSON,
    }
    pool = Pool.from_json(pool_json)
    assert (pool.cooling, pool.policy) == (1, policy)
    assert pool.to_json() == pool_json
    with pytest.raises(ObjmgrError, match="BAD_RESPONSE"):
        PoolPolicy.from_json({"maxPerOwner": "ten"})


def test_acquire_many_is_sent_again_with_one_request_id(lossy_proxy: ProxyFactory) -> None:
    proxy = lossy_proxy(None, 0)
    client = Client(proxy.url, timeout=5, retry_delay=0.01)
    with pytest.raises(ObjmgrError) as caught:
        client.acquire_many(3, "ports", contiguous=True, ttl=10)
    assert caught.value.code == "UNREACHABLE"
    bodies = proxy.bodies()
    assert len(bodies) == objmgr_client.DEFAULT_ACQUIRE_ATTEMPTS, "bounded"
    ids = {body["variables"]["requestId"] for body in bodies}
    assert len(ids) == 1 and all(ids), "one fresh id, the same on every attempt"
    sent = bodies[0]["variables"]
    assert (sent["count"], sent["pool"], sent["contiguous"], sent["ttl"]) == (3, "ports", True, 10)
    assert "acquireObjects(" in bodies[0]["query"]

    with pytest.raises(ObjmgrError):
        client.acquire_many(2, request_id="set-1", attempts=2)
    assert [b["variables"]["requestId"] for b in proxy.bodies()[-2:]] == ["set-1", "set-1"]
    with pytest.raises(ValueError, match="attempts"):
        client.acquire_many(2, attempts=0)


def test_acquire_names_its_object_and_hold_passes_it_on(lossy_proxy: ProxyFactory) -> None:
    proxy = lossy_proxy(None, 0)
    client = Client(proxy.url, timeout=5, retry_delay=0.01)
    with pytest.raises(ObjmgrError):
        client.acquire("ports", obj=7, attempts=1)
    with pytest.raises(ObjmgrError), client.hold("ports", obj=8, attempts=1):
        pass
    assert [body["variables"]["obj"] for body in proxy.bodies()] == [7, 8]
    with pytest.raises(ObjmgrError):
        client.acquire("ports", attempts=1)
    assert proxy.bodies()[-1]["variables"]["obj"] is None, "no obj: any object"


def test_revoke_set_policy_and_create_pool_send_their_arguments(
    lossy_proxy: ProxyFactory,
) -> None:
    proxy = lossy_proxy(None, 0)
    client = Client(proxy.url, timeout=5, retry_delay=0.01)
    with pytest.raises(ObjmgrError, match="UNREACHABLE"):
        client.revoke("ports", owner="ci-7", label_prefix="job ", objs=(1, 2), reason="cancelled")
    with pytest.raises(ObjmgrError, match="UNREACHABLE"):
        client.set_policy("ports", max_ttl=60, reuse_first=True)
    with pytest.raises(ObjmgrError, match="UNREACHABLE"):
        client.create_pool("ports", 10, policy=PoolPolicy(max_per_owner=2))
    revoke, policy, create = (body["variables"] for body in proxy.bodies())
    assert len(proxy.bodies()) == 3, "none is sent twice: only acquires are retried"
    assert revoke == {
        "pool": "ports",
        "owner": "ci-7",
        "labelPrefix": "job ",
        "objs": [1, 2],
        "reason": "cancelled",
    }
    assert policy["policy"] == {**NO_POLICY.to_json(), "maxTtl": 60, "reuseFirst": True}
    assert create["policy"]["maxPerOwner"] == 2


def test_calls_that_cannot_mean_anything_are_refused_before_sending() -> None:
    client = Client("http://127.0.0.1:9", timeout=1)
    with pytest.raises(ValueError, match="not both"):
        client.set_policy("ports", PoolPolicy(max_ttl=60), max_ttl=30)
    with pytest.raises(ValueError, match="owner"):
        client.leases(None)
    with pytest.raises(ValueError, match="after"):
        client.leases(None, owner="ci-7", after=3)
