"""The Redis store on `redis+sentinel://`: it serves, follows a failover by
itself, and the tokens it mints after one are above every token before it,
even those the old primary minted and never replicated.

One primary, one replica and three Sentinels for the module; each test leaves
the pair replicating again (`reattach`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.pool.errors import OutcomeUnknown, StoreUnavailable
from app.pool.lease import AcquireRequest, Caller, Lease
from app.stores.redis import RedisStore
from app.stores.redis.topology import RedisOptions
from app.stores.redis.wire import EPOCH_SHIFT
from app.stores.redis_url import BadRedisUrl, parse_redis_url

from .conditions import poll_until
from .support.redis_sentinel import (
    FAILOVER_WAIT,
    MASTER,
    SentinelProcess,
    SentinelRedis,
)

ANYONE = Caller.auth_off()
#: Seconds a store whose changes wait for a replica gives it: a loaded machine's
#: replica confirms in time, and a confirmed change answers at once.
PATIENT = 10.0
SIZE = 1000


def acquired_soon(store: RedisStore, pool: str, owner: str) -> Lease:
    """A grant once the store serves again: every failure meanwhile is one the
    store may answer during a switch."""
    got: list[Lease] = []
    failed: list[Exception] = []

    def granted() -> bool:
        try:
            got.append(store.acquire(AcquireRequest(pool, owner=owner, request_id=owner)))
        except (StoreUnavailable, OutcomeUnknown) as error:
            failed.append(error)
            return False
        return True

    assert poll_until(granted, FAILOVER_WAIT), f"the store did not serve again: {failed[-1:]}"
    return got[0]


def test_the_url_names_the_sentinels_the_primary_and_the_db() -> None:
    url = parse_redis_url("redis+sentinel://app@10.0.0.1:26379,[::1]:26380,h3/objmgr/2")
    assert url.nodes == (("10.0.0.1", 26379), ("::1", 26380), ("h3", 26379))
    assert (url.master, url.db, url.user, url.password) == ("objmgr", 2, "app", None)
    assert parse_redis_url("redis+sentinel://h:1/m").db == 0
    with pytest.raises(BadRedisUrl):
        parse_redis_url("redis+sentinel://h:1")
    with pytest.raises(BadRedisUrl):
        RedisStore("redis+sentinel://h:1")


def test_the_store_serves_on_the_primary_the_sentinels_name(watched: SentinelRedis) -> None:
    store = RedisStore(watched.url)
    store.ensure_pool("p", SIZE)

    lease = store.acquire(AcquireRequest("p", owner="a"))
    store.free("p", lease.obj, ANYONE, lease.token)

    with watched.primary.client() as client:
        assert client.exists("objmgr:{pool:p}:leases") == 0
        assert client.hget("objmgr:{pool:p}:counters", "token") == str(lease.token).encode()


def test_after_a_failover_it_serves_again_unopened_with_higher_tokens(
    watched: SentinelRedis,
) -> None:
    acknowledged = RedisStore(
        watched.url, socket_timeout=PATIENT, options=RedisOptions(min_replicas=1)
    )
    acknowledged.ensure_pool("p", SIZE)
    before = [acknowledged.acquire(AcquireRequest("p", owner=f"a{n}")) for n in range(5)]
    at_once = RedisStore(watched.url)
    at_once.acquire(AcquireRequest("p", owner="c"))
    old = watched.primary

    watched.kill(old)
    watched.wait_failover(old)
    # The promoted primary has no replica yet: only a store that requires none serves.
    after = acquired_soon(at_once, "p", "b")
    watched.reattach(old)
    confirmed = acquired_soon(acknowledged, "p", "d")

    assert after.token > max(lease.token for lease in before)
    assert confirmed.token > after.token
    assert after.token >> EPOCH_SHIFT >= watched.config_epoch() >= 1
    # Acknowledged by a replica before the kill: every one survived.
    for lease in before:
        held = acknowledged.lease("p", lease.obj)
        assert held is not None and held.token == lease.token


def test_tokens_the_old_primary_never_replicated_stay_below_the_new_ones(
    watched: SentinelRedis,
) -> None:
    store = RedisStore(watched.url, options=RedisOptions(min_replicas=0))
    store.ensure_pool("p", SIZE)
    replicated = store.acquire(AcquireRequest("p", owner="a"))
    replica = watched.isolate_replica()
    # Acknowledged at once (no replica required), on the primary alone.
    unreplicated = [store.acquire(AcquireRequest("p", owner=f"u{n}")) for n in range(20)]
    old = watched.primary

    watched.kill(old)
    watched.resume(replica)
    assert watched.wait_failover(old) is replica
    after = acquired_soon(store, "p", "b")

    # What a failover with 0 replicas required loses: the grants the replica never saw.
    for lease in unreplicated:
        held = store.lease("p", lease.obj)
        assert held is None or held.owner != lease.owner
    assert store.lease("p", replicated.obj) is not None
    # Yet no token repeats or goes down: the promoted primary's epoch is higher.
    assert after.token > max(lease.token for lease in unreplicated)
    watched.reattach(old)
    # And once more on the node that comes back as a replica and is promoted later.
    second = watched.primary
    watched.kill(second)
    watched.wait_failover(second)
    again = acquired_soon(store, "p", "c")
    assert again.token > after.token
    watched.reattach(second)


def test_a_manual_failover_is_followed_off_the_demoted_primary(watched: SentinelRedis) -> None:
    # One replica required: the demoted primary, up and a primary still until
    # the Sentinels reconfigure it, has none, so nothing it takes is acknowledged.
    store = RedisStore(watched.url, socket_timeout=PATIENT, options=RedisOptions(min_replicas=1))
    store.ensure_pool("p", SIZE)
    before = store.acquire(AcquireRequest("p", owner="a"))
    old = watched.primary

    # The old primary stays up, demoted to a replica: nothing may be sent to it.
    with watched.sentinels[0].client() as sentinel:
        sentinel.sentinel_failover(MASTER)
    watched.wait_failover(old)
    after = acquired_soon(store, "p", "b")

    assert after.token > before.token
    # Granted on the new primary, whatever the old one says of itself meanwhile.
    with watched.primary.client() as client:
        assert client.hexists("objmgr:{pool:p}:leases", str(after.obj))
    watched.wait_watched()


def test_a_sentinel_with_a_password_of_its_own_is_asked_with_it(
    watched: SentinelRedis, tmp_path: Path
) -> None:
    """OBJMGR_REDIS_SENTINEL_PASSWORD: the Sentinels' `requirepass`, not the data nodes'."""
    secret = "sentinel-only-Qw8e7r6t"
    # Watching the primary by a name of its own, it stays out of the module's group.
    guarded = SentinelProcess(
        tmp_path / "guarded", watched.primary.port, requirepass=secret, master="guarded"
    )
    guarded.start()
    try:
        url = f"redis+sentinel://127.0.0.1:{guarded.port}/guarded"
        store = RedisStore(url, options=RedisOptions(sentinel_password=secret))
        store.ensure_pool("guarded", 2)
        lease = store.acquire(AcquireRequest("guarded", owner="a"))
        assert store.lease("guarded", lease.obj) == lease

        refused = RedisStore(url)
        with pytest.raises(StoreUnavailable) as error:
            refused.acquire(AcquireRequest("guarded", owner="b"))
        assert secret not in str(error.value)
    finally:
        guarded.kill()
