"""What only the Redis store's runs of free objects have to show (rule R10): the
index mirrors the free objects exactly after every change, a contiguous grant
costs a bounded number of commands however many objects are held, and a pool
an older version made (no runs, no owners' index) is upgraded in bounded steps
without losing a lease. What every store promises runs in test_store_several.py."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import redis

from app.pool.errors import PoolError
from app.pool.lease import AcquireRequest, Caller, Lease
from app.pool.policy import PoolPolicy
from app.stores.redis import KEY_PARTS, RedisStore
from app.stores.redis.model import COUNT_SCAN, pool_keys

from .conftest import Clock
from .support.fills import fill_redis_leases

ADMIN = Caller(None, is_admin=True)
POOL = "runs"


def key(part: str, pool: str = POOL) -> str:
    return pool_keys(pool)[KEY_PARTS.index(part)]


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        yield client


@pytest.fixture
def store(redis_url: str, clock: Clock) -> Iterator[RedisStore]:
    store = RedisStore(redis_url, clock=clock)
    yield store
    store.close()


def free_objects(client: redis.Redis, pool: str = POOL) -> set[int]:
    freed = {int(obj) for obj in client.zrange(key("free", pool), 0, -1)}
    retired = {int(member.split(":")[0]) for member in client.zrange(key("retired", pool), 0, -1)}
    return freed | retired


def maximal_runs(objs: set[int]) -> dict[int, int]:
    runs: dict[int, int] = {}
    for obj in sorted(objs):
        if obj - 1 not in objs:
            runs[obj] = obj
        else:
            start = max(s for s in runs if s <= obj)
            runs[start] = obj
    return runs


def assert_runs_mirror_the_free_objects(client: redis.Redis, pool: str = POOL) -> None:
    want = maximal_runs(free_objects(client, pool))
    starts = [int(s) for s in client.zrange(key("runs", pool), 0, -1)]
    ends = {int(s): int(e) for s, e in client.hgetall(key("run_ends", pool)).items()}
    got = {s: ends.get(s, s) for s in starts}
    assert got == want
    assert set(ends) <= set(starts), "an end for no run"
    # Only runs of two or more are classed, each under its length (capped), and
    # each class's lowest start is its entry in run_min.
    long_runs = {s: e for s, e in want.items() if e > s}
    classed = {int(s) for s in client.zrange(key("runs_by_len", pool), 0, -1)}
    assert classed == set(long_runs)
    lowest: dict[int, int] = {}
    for s, e in long_runs.items():
        cls = min(e - s + 1, 1001)
        lowest[cls] = min(lowest.get(cls, s), s)
    mins = {int(c): int(s) for c, s in client.zrange(key("run_min", pool), 0, -1, withscores=True)}
    assert mins == lowest


def test_the_runs_mirror_the_free_objects_after_every_change(
    store: RedisStore, client: redis.Redis, clock: Clock
) -> None:
    store.create_pool(POOL, 40)
    rng = random.Random(12)
    held: dict[int, Lease] = {}
    for _ in range(300):
        choice = rng.random()
        try:
            if choice < 0.35 and held:
                obj = rng.choice(sorted(held))
                store.free(POOL, obj, ADMIN, None)
                del held[obj]
            elif choice < 0.55:
                request = AcquireRequest(POOL, count=rng.randint(2, 6), contiguous=True)
                held.update((lease.obj, lease) for lease in store.grant(request).leases)
            elif choice < 0.7:
                lease = store.grant(AcquireRequest(POOL, obj=rng.randint(1, 40))).leases[0]
                held[lease.obj] = lease
            elif choice < 0.8:
                store.resize_pool(POOL, rng.randint(20, 40))
            else:
                request = AcquireRequest(POOL, count=rng.randint(1, 3))
                held.update((lease.obj, lease) for lease in store.grant(request).leases)
        except PoolError:
            pass  # refused: nothing changed, which the mirror checks too
        assert_runs_mirror_the_free_objects(client)
        assert {lease.obj for lease in store.leases(POOL, 1000, 0)} == set(held)


def script_commands(client: redis.Redis) -> int:
    """Commands run since the last reset, the scripts' own included, but for the scripts."""
    stats = client.info("commandstats")
    skip = {"cmdstat_evalsha", "cmdstat_config", "cmdstat_info"}
    return sum(row["calls"] for name, row in stats.items() if name not in skip)


def contiguous_cost(store: RedisStore, client: redis.Redis, pool: str) -> tuple[int, int]:
    """The commands of one contiguous grant of 5, and the object it started at."""
    client.config_resetstat()
    grant = store.grant(AcquireRequest(pool, count=5, contiguous=True))
    return script_commands(client), grant.leases[0].obj


def test_a_contiguous_grant_costs_the_same_however_many_objects_are_held(
    store: RedisStore, client: redis.Redis
) -> None:
    costs = {}
    for held in (10_000, 100_000):
        pool = f"held-{held}"
        store.create_pool(pool, held + 10)
        fill_redis_leases(client, pool, held)
        # Lone freed objects all over the pool (a run of one each, one per 97
        # objects), then one run of 5 high up: the first run of 5 is there.
        for obj in [*range(7, held - 100, 97), *range(held - 50, held - 45)]:
            store.free(pool, obj, ADMIN, None)
        cost, at = contiguous_cost(store, client, pool)
        assert at == held - 50
        assert_runs_mirror_the_free_objects(client, pool)
        costs[held] = cost
    # No scan: ten times the objects held and freed, the same commands.
    assert costs[100_000] == costs[10_000], costs
    assert costs[100_000] < 120, costs


def make_it_an_older_versions(client: redis.Redis, pool: str) -> None:
    """The keys as the version before the runs and the owners' index left them."""
    client.hdel(key("meta", pool), "v", "named", "cools", "policy")
    for part in ("runs", "run_ends", "runs_by_len", "run_min", "owners", "named", "cooling"):
        client.delete(key(part, pool))


def test_a_pool_an_older_version_made_is_upgraded_in_bounded_steps(
    store: RedisStore, client: redis.Redis
) -> None:
    count = COUNT_SCAN + COUNT_SCAN // 2  # more than one script's step
    store.create_pool(POOL, count + 10)
    block = 50
    leases = [
        lease
        for n in range(count // block)
        for lease in store.grant(
            AcquireRequest(POOL, owner=f"o{n % 3}", request_id=f"r{n}", count=block)
        ).leases
    ]
    # Free every object but each third one: runs of two, and a run of three at the top.
    for lease in leases:
        if lease.obj % 3 != 0 or lease.obj == count:
            store.free(POOL, lease.obj, ADMIN, None)
    make_it_an_older_versions(client, POOL)
    assert client.hget(key("meta", POOL), "v") is None

    # A plain grant needs no index: it takes the longest free as ever.
    assert store.grant(AcquireRequest(POOL)).leases[0].obj == count + 1
    # A contiguous one waits for the runs: its steps build them, COUNT_SCAN entries each.
    got = store.grant(AcquireRequest(POOL, count=3, contiguous=True)).leases
    assert [lease.obj for lease in got] == [count - 2, count - 1, count]
    assert client.hget(key("meta", POOL), "v") == "2"
    assert_runs_mirror_the_free_objects(client)
    kept = [lease for lease in leases if lease.obj % 3 == 0 and lease.obj < count - 2]
    owned = store.leases(POOL, 1000, 0, owner="o2")
    assert owned == [lease for lease in kept if lease.owner == "o2"]
    # maxPerOwner counts the leases the older version granted.
    store.set_policy(POOL, PoolPolicy(max_per_owner=len(owned)))
    with pytest.raises(PoolError, match="maxPerOwner"):
        store.grant(AcquireRequest(POOL, owner="o2"))
    # A request id of the older version replays its set's survivors.
    replay = store.grant(AcquireRequest(POOL, owner="o1", request_id="r1", count=block))
    assert replay.replayed
    assert list(replay.leases) == [lease for lease in kept if lease.request_id == "r1"]
