"""The Redis store on a real three-primary Redis Cluster: pools on every shard, two hosts,
a slot moved under an open store, NOSCRIPT on the new node, health of every primary.

The cluster is started once for the module and emptied before each test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.pool.errors import PoolExhausted, StoreUnavailable
from app.pool.lease import AcquireRequest, Caller
from app.stores.redis import RedisStore
from app.stores.redis.wire import EPOCH_SHIFT

from .support.redis_cluster import ClusterNodeServer, RedisCluster, launch_cluster

ROOT = Path(__file__).resolve().parent.parent
POOL_SIZE = 12
HOST_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with launch_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


@pytest.fixture
def url(cluster: RedisCluster) -> str:
    cluster.flush()
    return cluster.url


def pool_slot(cluster: RedisCluster, pool: str) -> int:
    return cluster.slot_of(f"objmgr:{{pool:{pool}}}:meta")


def pools_on_every_shard(cluster: RedisCluster, per_shard: int = 2) -> dict[str, int]:
    """Pool names, `per_shard` on each primary, by the port of the primary serving each."""
    found: dict[str, int] = {}
    counts = dict.fromkeys((node.port for node in cluster.nodes), 0)
    for index in range(1000):
        name = f"pool-{index}"
        port = cluster.node_serving(pool_slot(cluster, name)).port
        if counts[port] < per_shard:
            counts[port] += 1
            found[name] = port
        if all(count == per_shard for count in counts.values()):
            return found
    raise AssertionError(f"no pool names landed on every shard: {counts}")


def config_epoch(node: ClusterNodeServer) -> int:
    with node.client() as client:
        info = client.execute_command("CLUSTER", "INFO").decode()
    return int(info.split("cluster_my_epoch:", 1)[1].split()[0])


def drain(store: RedisStore, pool: str, owner: str) -> list[tuple[int, int]]:
    """Acquire until the pool is exhausted: the (obj, token) pairs granted."""
    got: list[tuple[int, int]] = []
    for _ in range(POOL_SIZE * 2 + 1):
        try:
            lease = store.grant(AcquireRequest(pool=pool, owner=owner)).leases[0]
        except PoolExhausted:
            return got
        got.append((lease.obj, lease.token))
    raise AssertionError(f"{pool} never ran out")


# Run as a host of its own: drains the pools given, prints what it got as JSON.
HOST = """
import json, sys
from app.stores.redis import RedisStore
from tests.test_redis_cluster import drain
store = RedisStore(sys.argv[1])
store.open()
got = {}
for round in range(2):
    for pool in sys.argv[3:]:
        got.setdefault(pool, []).extend(drain(store, pool, sys.argv[2]))
store.close()
print(json.dumps(got))
"""


def test_pools_land_on_every_shard_and_each_object_goes_to_one_host_of_two(
    cluster: RedisCluster, url: str
) -> None:
    pools = pools_on_every_shard(cluster)
    assert set(pools.values()) == {node.port for node in cluster.nodes}
    setup = RedisStore(url)
    for pool in pools:
        setup.ensure_pool(pool, POOL_SIZE)
    hosts = [
        subprocess.Popen(
            [sys.executable, "-c", HOST, url, f"host{index}", *pools],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for index in range(2)
    ]
    outputs = []
    for host in hosts:
        out, err = host.communicate(timeout=HOST_TIMEOUT)
        assert host.returncode == 0, err.decode()
        outputs.append(json.loads(out))
    for pool in pools:
        granted = [pair for output in outputs for pair in output[pool]]
        objects = sorted(obj for obj, _ in granted)
        assert objects == list(range(1, POOL_SIZE + 1)), (pool, granted)
        tokens = [token for _, token in granted]
        assert len(set(tokens)) == len(tokens)
        held = {lease.obj: lease.token for lease in setup.leases(pool, 100, 0)}
        assert held == dict(granted)


def test_two_stores_in_one_process_share_every_pool_on_every_shard(
    cluster: RedisCluster, url: str
) -> None:
    pools = pools_on_every_shard(cluster, per_shard=1)
    first, second = RedisStore(url), RedisStore(url)
    for pool in pools:
        first.ensure_pool(pool, POOL_SIZE)
    for pool in pools:
        granted = drain(first, pool, "a")
        for obj, token in granted[POOL_SIZE // 4 :]:
            first.free(pool, obj, Caller.auth_off(), token)
        granted = granted[: POOL_SIZE // 4]
        granted += drain(second, pool, "b")
        assert sorted(obj for obj, _ in granted) == list(range(1, POOL_SIZE + 1))


def test_tokens_stand_on_the_epoch_of_the_primary_that_minted_them(
    cluster: RedisCluster, url: str
) -> None:
    pools = pools_on_every_shard(cluster, per_shard=1)
    store = RedisStore(url)
    for pool, port in pools.items():
        store.ensure_pool(pool, POOL_SIZE)
        lease = store.grant(AcquireRequest(pool=pool, owner="a")).leases[0]
        node = next(node for node in cluster.nodes if node.port == port)
        assert lease.token >> EPOCH_SHIFT == config_epoch(node)


def test_listings_across_pools_reach_every_shard(cluster: RedisCluster, url: str) -> None:
    pools = pools_on_every_shard(cluster, per_shard=1)
    store = RedisStore(url)
    for pool in pools:
        store.ensure_pool(pool, POOL_SIZE)
        store.grant(AcquireRequest(pool=pool, owner="ann"))
    assert {stats.name for stats in store.pools(100, "")} == set(pools)
    assert {lease.pool for lease in store.owner_leases("ann", 100)} == set(pools)


def test_a_store_opened_before_a_slot_moved_follows_it_and_reloads_its_scripts(
    cluster: RedisCluster, url: str
) -> None:
    store = RedisStore(url)
    store.open()
    store.ensure_pool("moving", POOL_SIZE)
    before = store.grant(AcquireRequest(pool="moving", owner="a")).leases[0]
    slot = pool_slot(cluster, "moving")
    source = cluster.node_serving(slot)
    target = next(node for node in cluster.nodes if node is not source)
    cluster.move_slot(slot, target)
    # The new node has never run a script of this store.
    with target.client() as client:
        client.script_flush()
    after = store.grant(AcquireRequest(pool="moving", owner="a")).leases[0]
    assert after.token > before.token
    assert {lease.obj for lease in store.leases("moving", 100, 0)} == {before.obj, after.obj}
    assert cluster.node_serving(slot) is target
    with target.client() as client:
        assert client.exists("objmgr:{pool:moving}:leases") == 1
    store.free("moving", before.obj, Caller.auth_off(), before.token)
    # The journal's blocking reads go to the new node too.
    assert [event.kind for event in store.wait_for_events("moving", 0, 100, 0.0)]


def test_ping_and_readiness_fail_while_any_primary_does_not_answer(
    cluster: RedisCluster, url: str
) -> None:
    store = RedisStore(url, socket_timeout=0.5)
    store.ping()
    store.check_ready()
    # Whichever node holds the readiness key, each paused primary is noticed.
    for paused in cluster.nodes:
        paused.pause()
        try:
            with pytest.raises(StoreUnavailable):
                store.ping()
            with pytest.raises(StoreUnavailable):
                store.check_ready()
        finally:
            paused.resume()
        store.ping()
        store.check_ready()
