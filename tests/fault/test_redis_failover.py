"""Sentinel failovers under load, checked by the history checker.

Real gunicorn hosts on `redis+sentinel://` (a primary, a replica, three
Sentinels, started once for the module), the primary killed with SIGKILL.

- With OBJMGR_REDIS_MIN_REPLICAS=1, client processes acquire, renew and free
  through repeated failovers: the checker finds nothing (no object held twice,
  no token repeated or going down), and a listing read right after each
  failover holds every acknowledged lease not over yet.
- With 0 replicas required, a deterministic run shows what a failover loses:
  grants the primary acknowledged while its replica was cut off are missing
  from the promoted one (`lost-lease`), whose objects are handed out again
  while their first holders still hold them (`overlap`), and nothing else: no
  token repeats or goes down, as the promoted primary's epoch is higher.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from objmgr_client.operations import CREATE_POOL

from ..history import History, LeaseRecord
from ..live.support import GraphQL, LiveServer
from ..support.redis_sentinel import (
    FAILOVER_WAIT,
    SentinelRedis,
)
from .driver import Load, Workload, strike
from .test_faults import granted_after, listing, new_seed, summary

pytestmark = pytest.mark.live

ServerFactory = Callable[[], LiveServer]

FAILOVERS = 3
# Room for the leases walked away from, which linger until they expire.
POOL_SIZE = 32
CLIENTS = 6
# Long enough for FAILOVERS kills, each followed by the promotion and the old
# primary's return as a replica (without one, nothing can be acknowledged).
RUN_FOR = 40.0
MIN_AFTER_LAST = 10
# Leases on their own pool, granted before the run and never ended: each
# listing after a failover must show them.
KEPT = 2


def sentinel_hosts(
    make: ServerFactory, topology: SentinelRedis, min_replicas: int, pool_size: int
) -> list[LiveServer]:
    servers = [make() for _ in range(2)]
    for server in servers:
        server.start(
            {
                "OBJMGR_STORE": topology.url,
                "OBJMGR_REDIS_MIN_REPLICAS": str(min_replicas),
                "OBJMGR_WORKERS": "2",
                "OBJMGR_POOL_SIZE": str(pool_size),
            }
        )
    return servers


def pairs(leases: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(lease["obj"], int(lease["token"])) for lease in leases]


def test_no_acknowledged_grant_is_lost_across_failovers_with_one_replica_required(
    live_servers: ServerFactory, watched: SentinelRedis, tmp_path: Path
) -> None:
    started, seed = time.monotonic(), new_seed()
    servers = sentinel_hosts(live_servers, watched, 1, POOL_SIZE)
    admin = servers[0].client()
    assert admin.data(CREATE_POOL, {"name": "kept", "size": 4})["createPool"]["success"]
    kept = [admin.acquire(pool="kept", owner="kept")["lease"] for _ in range(KEPT)]
    rng = random.Random(seed)
    # Leases long enough that some, walked away from, outlive a switch.
    mix = Workload(
        urls=tuple(server.base_url for server in servers),
        clients=CLIENTS,
        seed=seed,
        pool_size=POOL_SIZE,
        ttl=(3.0, 6.0),
        expire=0.25,
        duration=RUN_FOR,
        max_duration=RUN_FOR + 20,
        max_ops=20_000,
    )
    snapshots: list[tuple[list[tuple[int, int]], float, float, float]] = []

    def fail_over() -> bool:
        if len(snapshots) >= FAILOVERS:
            return False
        old = watched.primary
        killed_at = time.time()
        watched.kill(old)
        watched.wait_failover(old)
        # At once, before the leases of before the kill run out: reads need no replica.
        client = servers[len(snapshots) % 2].client()
        leases, t_sent, t_ack = listing(client, "default", FAILOVER_WAIT)
        still_kept, _, _ = listing(client, "kept", FAILOVER_WAIT)
        assert still_kept == kept, "a lease acknowledged by a replica was lost"
        snapshots.append((pairs(leases), t_sent, t_ack, killed_at))
        client.close()
        watched.reattach(old)
        return True

    with Load(mix) as load:
        load.start()
        failovers = strike(load, 1.0, fail_over, rng)
        history = load.join(timeout=60)

    summary("sentinel, min replicas 1", history, failovers, started, *servers)
    dump = tmp_path / "history.json"
    history.dump(dump)
    violations = history.check()
    assert not violations, f"seed {seed}, history in {dump}\n{history.report(violations)}"
    unexpected = {key: n for key, n in history.outcomes.items() if key.startswith("unexpected:")}
    assert not unexpected, f"seed {seed}: {unexpected}"
    assert failovers == FAILOVERS
    vouched: list[LeaseRecord] = []
    for leases, t_sent, t_ack, killed_at in snapshots:
        found = history.check_snapshot("default", leases, t_sent, t_ack)
        assert not found, history.report(found)
        vouched += history.valid_through("default", killed_at, t_ack)
    print(f"  leases from before a kill found after it: {len(vouched)}")
    assert vouched, "no lease outlived a failover: the listings proved nothing"
    assert granted_after(history, snapshots[-1][2]) >= MIN_AFTER_LAST, "no grants after the last"
    assert len(history.ended("freed")) >= CLIENTS
    admin.close()


class Recorder:
    """Acquires of no TTL through one host, each a `LeaseRecord` held to the end."""

    def __init__(self, server: LiveServer) -> None:
        self.client: GraphQL = server.client()

    def acquire(self, owner: str) -> LeaseRecord:
        t_sent = time.time()
        answer = self.client.acquire(owner=owner)
        t_ack = time.time()
        assert answer["success"], answer
        return self._held(answer["lease"], owner, t_sent, t_ack)

    def acquire_once_served(self, owner: str) -> LeaseRecord:
        """A grant once the host serves again after a switch; a retry carries the
        same requestId, so a lost answer's grant is the one found."""
        t_sent = time.time()
        deadline = time.monotonic() + FAILOVER_WAIT
        for _ in range(int(FAILOVER_WAIT / 0.02) + 1):
            answer = self.client.acquire(owner=owner, requestId=owner)
            if answer["success"]:
                return self._held(answer["lease"], owner, t_sent, time.time())
            assert answer["code"] in ("STORE_UNAVAILABLE", "OUTCOME_UNKNOWN"), answer
            assert time.monotonic() < deadline, f"the host did not serve again: {answer}"
            time.sleep(0.02)
        raise AssertionError("the host did not serve again")

    @staticmethod
    def _held(lease: dict[str, Any], owner: str, t_sent: float, t_ack: float) -> LeaseRecord:
        return LeaseRecord(
            pool="default",
            obj=lease["obj"],
            token=int(lease["token"]),
            client=owner,
            t_sent=t_sent,
            t_ack=t_ack,
            end="held",
            owner=owner,
        )


def test_with_no_replica_required_a_failover_loses_grants_but_no_token_repeats(
    live_servers: ServerFactory, watched: SentinelRedis
) -> None:
    replicated_count, cut_off_count = 2, 4
    servers = sentinel_hosts(live_servers, watched, 0, replicated_count + cut_off_count)
    recorder = Recorder(servers[0])
    replicated = [recorder.acquire(f"r{n}") for n in range(replicated_count)]
    replica = watched.isolate_replica()
    # Acknowledged at once: 0 replicas required; the replica never gets them.
    cut_off = [recorder.acquire(f"u{n}") for n in range(cut_off_count)]
    old = watched.primary

    watched.kill(old)
    watched.resume(replica)
    assert watched.wait_failover(old) is replica
    # The promoted primary thinks those objects free, and hands them out again.
    again = [recorder.acquire_once_served(f"n{n}") for n in range(cut_off_count)]
    t_sent = time.time()
    leases = recorder.client.leases()
    t_ack = time.time()
    watched.reattach(old)

    history = History(records=[*replicated, *cut_off, *again])
    kinds = {violation.kind for violation in history.check()}
    lost = history.check_snapshot("default", pairs(leases), t_sent, t_ack)
    print(f"\n[sentinel, min replicas 0] {history.report([*history.check(), *lost])}")
    assert kinds == {"overlap"}
    overlapping = {(v.records[0].client, v.records[1].client) for v in history.check()}
    assert {first for first, _ in overlapping} == {record.client for record in cut_off}
    assert {violation.kind for violation in lost} == {"lost-lease"}
    assert {violation.records[0].client for violation in lost} == {r.client for r in cut_off}
    # Never a token repeated or going down: every new one is above the lost ones.
    assert min(record.token for record in again) > max(record.token for record in cut_off)
    recorder.client.close()
