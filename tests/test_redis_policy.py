"""What only the Redis store's policy, cooling and revocation have to show: every
key the new scripts touch is one of their KEYS and in their pool's slot, a
revocation runs in batches of at most REVOKE_BATCH leases, one script each,
and `cooling` is counted without walking the cooling objects. What every
store promises runs in test_store_policy.py and test_store_revoke.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from redis.crc import key_slot

from app.pool.events import EventKind
from app.pool.lease import AcquireRequest, Caller, RevokeFilter
from app.pool.policy import PoolPolicy
from app.stores.redis import RedisStore
from app.stores.redis.commands import SCRIPTS
from app.stores.redis.model import REVOKE_BATCH

from .conftest import Clock
from .support.fills import fill_redis_leases
from .test_redis_journal import END, KEYLESS, Seen, declared_keys, keys_of, monitored

ADMIN = Caller(None, is_admin=True)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture
def store(redis_url: str, clock: Clock) -> Iterator[RedisStore]:
    store = RedisStore(redis_url, clock=clock)
    yield store
    store.close()


def by_script(seen: list[Seen]) -> list[tuple[Seen, list[Seen]]]:
    """Each EVALSHA a client sent, with the commands its script ran."""
    runs: list[tuple[Seen, list[Seen]]] = []
    for command in seen:
        if command.source != "lua" and command.args[0].upper() == "EVALSHA":
            runs.append((command, []))
        elif command.source == "lua" and runs:
            runs[-1][1].append(command)
    return runs


def test_the_new_scripts_touch_their_own_pools_declared_keys_only(
    store: RedisStore, client: redis.Redis
) -> None:
    policy = PoolPolicy(default_ttl=60, max_per_owner=5, reuse_delay=5)
    store.create_pool("a", 20, policy=policy)
    store.create_pool("b", 20)
    with client.monitor() as monitor:
        for pool in ("a", "b"):
            store.set_policy(pool, policy, principal="root")
            store.grant(AcquireRequest(pool, owner="w", count=3, request_id="r"))
            store.grant(AcquireRequest(pool, owner="w", count=3, request_id="r"))  # replayed
            store.grant(AcquireRequest(pool, owner="v", count=4, contiguous=True))
            store.grant(AcquireRequest(pool, owner="v", obj=15))
            store.leases(pool, 10, 0, owner="v")
            store.revoke(pool, RevokeFilter(owner="v", reason="drain"), principal="root")
            store.revoke(pool, RevokeFilter(objs=frozenset({1, 2})), principal="root")
            store.grant(AcquireRequest(pool, count=2, contiguous=True))
            store.pool(pool)
        store.owner_leases("w", 10)
        client.echo(END)
        seen = list(monitored(monitor))
    ran = {name for name, script in SCRIPTS.items() for c in seen if c.args[1:2] == (script.sha,)}
    assert ran >= {"policy", "acquire", "leases", "revoke", "stats"}
    for call, commands in by_script(seen):
        declared = declared_keys(call)
        tags = {key.split("}", 1)[0] + "}" for key in declared}
        assert len(tags) == 1, declared  # one pool's keys, never two
        for command in commands:
            if command.args[0].upper() in KEYLESS:
                continue
            for key in keys_of(client, command):
                assert key in declared or ":session:" in key, (key, command)
                assert key_slot(key.encode()) == key_slot(declared[0].encode())


def test_a_revocation_runs_in_bounded_batches_one_script_each(
    store: RedisStore, client: redis.Redis
) -> None:
    leases = 2 * REVOKE_BATCH + 50
    store.create_pool("big", leases + 10)
    fill_redis_leases(client, "big", leases)
    with client.monitor() as monitor:
        revoked = store.revoke("big", RevokeFilter(reason="maintenance"), principal="root")
        client.echo(END)
        seen = list(monitored(monitor))
    assert [lease.obj for lease in revoked] == list(range(1, leases + 1))
    batches = [
        sum(1 for command in commands if command.args[0].upper() == "XADD")
        for _, commands in by_script(seen)
    ]
    # Each batch one script, at most REVOKE_BATCH events each, all of them journaled.
    assert len(batches) >= 3 and max(batches) <= REVOKE_BATCH and sum(batches) == leases
    events = store.events("big", after=0, first=1000)
    revocations = [event for event in events if event.kind is EventKind.REVOKED]
    assert len(revocations) == leases
    assert {(event.reason, event.principal) for event in revocations} == {("maintenance", "root")}
    assert store.pool("big").available == leases + 10  # type: ignore[union-attr]


def test_cooling_is_counted_without_walking_the_cooling_objects(
    store: RedisStore, client: redis.Redis, clock: Clock
) -> None:
    costs = {}
    for cooling in (10, 2_000):
        pool = f"cool-{cooling}"
        store.create_pool(pool, 3_000, policy=PoolPolicy(reuse_delay=30))
        fill_redis_leases(client, pool, cooling)
        revoked = store.revoke(pool, RevokeFilter(), principal="root")
        assert len(revoked) == cooling
        with client.monitor() as monitor:
            stats = store.pool(pool)
            client.echo(END)
            seen = list(monitored(monitor))
        assert stats is not None and (stats.cooling, stats.available) == (cooling, 3_000 - cooling)
        # This process's reaper may run a script meanwhile: count the stats script's.
        sha = SCRIPTS["stats"].sha
        costs[cooling] = sum(len(ran) for call, ran in by_script(seen) if call.args[1] == sha)
    assert costs[2_000] == costs[10], costs
    # Once their cooling ended, every read counts them available, before they are moved.
    clock.advance(31)
    stats = store.pool("cool-2000")
    assert stats is not None and (stats.cooling, stats.available) == (0, 3_000)
