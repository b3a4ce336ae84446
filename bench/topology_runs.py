"""bench.redis_topologies' machinery: the Redis topologies it starts, the pools spread over a
cluster's shards, the wrk runs over several pools, and what the store holds afterwards.

Every Redis process is the tests' own (tests/support: durable, AOF synced on every write, on
free loopback ports) and is stopped by its PID when its context ends.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import cpu_seconds
from tests.support.redis_cluster import RedisCluster, launch_cluster
from tests.support.redis_sentinel import ReplicatedRedis, replicated_redis
from tests.support.redis_server import RedisServer, launch_redis

from .servers import Server, StoreRun, http_json
from .wrk import BenchError, wrk_result

LUA_SCRIPT = Path(__file__).resolve().with_name("wrk_pools.lua")
POOL_SIZE = 2_000_000_000  # creating a pool is O(1): it never runs out
#: Candidate names tried for pools spread evenly over the shards, at most this many.
NAME_CANDIDATES = 1000
MODES = ("cycle", "acquire")  # acquire+free alternating, and acquire alone
MODE_LABELS = {"cycle": "acquire+free", "acquire": "acquire"}


@dataclass(frozen=True)
class Topologies:
    """The three Redis set-ups of one run, all running."""

    single: RedisServer
    cluster: RedisCluster
    pair: ReplicatedRedis

    def pids(self) -> dict[str, tuple[int, ...]]:
        def pid(server: RedisServer) -> int:
            assert server.process is not None
            return server.process.pid

        return {
            "single": (pid(self.single),),
            "cluster": tuple(pid(node) for node in self.cluster.nodes),
            "pair": (pid(self.pair.primary), pid(self.pair.replica)),
        }


@contextlib.contextmanager
def topologies(scratch: Path) -> Iterator[Topologies]:
    """One durable redis-server, a 3-primary cluster and a primary with its replica."""
    with contextlib.ExitStack() as stack:
        try:
            single = launch_redis(scratch / "single")
            stack.callback(single.stop)
            cluster = stack.enter_context(launch_cluster(scratch / "cluster"))
            pair = stack.enter_context(replicated_redis(scratch / "pair"))
        except (RuntimeError, AssertionError) as error:
            raise BenchError(f"a Redis topology did not start: {error}") from None
        yield Topologies(single, cluster, pair)


def redis_version(server: RedisServer) -> str:
    with server.client() as client:
        return str(client.info("server")["redis_version"])


def durability(server: RedisServer) -> str:
    with server.client() as client:
        config = {
            name: client.config_get(name)[name] for name in ("appendonly", "appendfsync", "save")
        }
    return ", ".join(f"{name} {value!r}" for name, value in config.items())


def pool_slot_key(pool: str) -> str:
    """A key with the pool's hash tag: CLUSTER KEYSLOT of it is the pool's slot."""
    return f"objmgr:{{pool:{pool}}}:meta"


def spread_pools(cluster: RedisCluster, count: int) -> dict[str, int]:
    """`count` pool names (letters and digits), as many on each shard as can be, by the
    cluster's own slot map: name -> the port of the primary serving it."""
    ports = [node.port for node in cluster.nodes]
    per_shard = -(-count // len(ports))
    chosen: dict[str, int] = {}
    taken = dict.fromkeys(ports, 0)
    for number in range(NAME_CANDIDATES):
        if len(chosen) == count:
            break
        name = f"p{number}"
        port = cluster.node_serving(cluster.slot_of(pool_slot_key(name))).port
        if taken[port] < per_shard:
            taken[port] += 1
            chosen[name] = port
    if len(chosen) < count:
        raise BenchError(f"found only {len(chosen)} pool names spread over the shards")
    return chosen


def create_pools(server: Server, pools: list[str]) -> None:
    for pool in pools:
        document = (
            f'mutation {{ createPool(name: "{pool}", size: {POOL_SIZE}) {{ success code }} }}'
        )
        answer = http_json(server.url + "/graphql", {"query": document})
        created = answer.get("data", {}).get("createPool") if isinstance(answer, dict) else None
        if not created or not created.get("success"):
            raise BenchError(f"createPool {pool} on {server.url}: {answer}")


@dataclass(frozen=True)
class PoolsRun:
    """One wrk run over the pools: what it sent, and the successes it counted per pool."""

    requests: int
    duration_us: int
    responses: int
    ok_2xx: int
    non_2xx: int
    unexpected: int
    socket_errors: int
    timeouts: int
    p50_us: int
    p99_us: int
    acquired: dict[str, int]
    freed: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0


def run_pools(
    base_url: str, pools: list[str], mode: str, args: argparse.Namespace, seconds: int
) -> PoolsRun:
    env = {**os.environ, "BENCH_POOLS": ",".join(pools), "BENCH_MODE": mode}
    return PoolsRun(**wrk_result(LUA_SCRIPT, base_url + "/graphql", args, seconds, env))


@dataclass
class Variant:
    """One server under test: a store, its pools, and every run made against it."""

    key: str
    label: str
    store: StoreRun
    pools: list[str]
    runs: dict[str, list[PoolsRun]] = field(default_factory=lambda: {mode: [] for mode in MODES})
    cpu_seconds: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(MODES, 0.0))
    #: Of the Redis processes alone: whether Redis or the Python in front of it is the limit.
    redis_cpu_seconds: dict[str, float | None] = field(
        default_factory=lambda: dict.fromkeys(MODES, 0.0)
    )
    #: Every run, warm-ups included: each may leave a request per connection uncounted.
    all_runs: list[PoolsRun] = field(default_factory=list)

    def total(self, mode: str, name: str) -> int:
        return sum(getattr(run, name) for run in self.runs[mode])

    def rps(self, mode: str) -> float:
        seconds = self.total(mode, "duration_us") / 1e6
        return self.total(mode, "requests") / seconds if seconds else 0.0

    def p50_ms(self, mode: str) -> float:
        """The median of the runs' p50s."""
        values = sorted(run.p50_us for run in self.runs[mode])
        return values[len(values) // 2] / 1000 if values else 0.0

    def p99_ms(self, mode: str) -> float:
        """The worst of the runs' p99s."""
        return max((run.p99_us for run in self.runs[mode]), default=0) / 1000

    def cpu_us_per_request(self, mode: str) -> float | None:
        return self._per_request(self.cpu_seconds[mode], mode)

    def redis_cpu_us_per_request(self, mode: str) -> float | None:
        return self._per_request(self.redis_cpu_seconds[mode], mode)

    def _per_request(self, spent: float | None, mode: str) -> float | None:
        requests = self.total(mode, "requests")
        return None if spent is None or not requests else spent / requests * 1e6

    def seen(self, kind: str) -> dict[str, int]:
        """Successes of `kind` (acquired, freed) counted per pool over every run."""
        counts = dict.fromkeys(self.pools, 0)
        for run in self.all_runs:
            for pool, count in getattr(run, kind).items():
                counts[pool] += count
        return counts


def measure_into(
    variant: Variant, server: Server, mode: str, args: argparse.Namespace, seconds: int
) -> PoolsRun:
    def redis_cpu() -> float | None:
        return cpu_seconds(None, variant.store.pids)

    before, redis_before = server.cpu_seconds(), redis_cpu()
    run = run_pools(server.url, variant.pools, mode, args, seconds)
    after, redis_after = server.cpu_seconds(), redis_cpu()
    variant.runs[mode].append(run)
    variant.all_runs.append(run)
    variant.cpu_seconds[mode] = added(variant.cpu_seconds[mode], before, after)
    variant.redis_cpu_seconds[mode] = added(
        variant.redis_cpu_seconds[mode], redis_before, redis_after
    )
    return run


def added(spent: float | None, before: float | None, after: float | None) -> float | None:
    """`spent` and the CPU time between two readings; None once one could not be read."""
    return None if spent is None or before is None or after is None else spent + after - before


def warm_up(variant: Variant, server: Server, args: argparse.Namespace) -> None:
    for mode in MODES:
        variant.all_runs.append(run_pools(server.url, variant.pools, mode, args, args.warmup))


@dataclass(frozen=True)
class PoolState:
    in_use: int
    last_seq: int | None  # the journal's last event; None: fewer events than expected


def pool_state(server: Server, pool: str, after: int, first: int) -> PoolState:
    """The pool's inUse, and the last seq of its journal among the `first` events after
    `after` (the changes already known to be there)."""
    query = (
        f'{{ pool(name: "{pool}") {{ inUse }} '
        f'events(pool: "{pool}", after: {after}, first: {first}) {{ seq }} }}'
    )
    try:
        answer = http_json(server.url + "/graphql", {"query": query}, timeout=10)
        data = answer["data"]  # type: ignore[index]
        events = data["events"]
        return PoolState(int(data["pool"]["inUse"]), int(events[-1]["seq"]) if events else None)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BenchError(f"{pool} on {server.url}: cannot read inUse and events: {error}") from None
