"""The acquire rate on one Redis against a 3-shard Redis Cluster, and what
OBJMGR_REDIS_MIN_REPLICAS=1 costs on a primary with a replica, side by side in one run.

    make bench-redis       # or: .venv/bin/python -m bench.redis_topologies [--pools 12]
                           #     [--rounds 3] [--duration 3] [--connections 16]

Starts, all on free loopback ports and durable as in production (AOF synced on every
write, tests/support):

    single   one redis-server                    OBJMGR_STORE=redis://...
    cluster  three primaries, `redis-cli --cluster create`, OBJMGR_STORE=redis+cluster://...
    min0     a primary and its replica, the store on the primary, OBJMGR_REDIS_MIN_REPLICAS=0
    min1     the same pair and primary,                           OBJMGR_REDIS_MIN_REPLICAS=1

and a gunicorn (deploy/gunicorn.conf.py, gevent workers) serving each, all at once. wrk
(bench/wrk_pools.lua) spreads its requests over --pools pools, each thread taking the pools
in turn; their names are picked by the cluster's slot map so that each shard serves as many
(the same names on single and cluster; min0 and min1 have pools of their own on the pair).
Two loads, each measured on every variant:

    acquire+free  acquireObject(pool:), and once one is held, freeObject of it: alternating
    acquire       acquireObject(pool:) alone (its p50/p99 are an acquire's)

Rounds interleave the variants, single and cluster taking turns to go first, and min0 and
min1 likewise, so that drift on the machine hits both sides of a ratio alike. The table
gives requests/s, the rounds' spread, p50 (the median of the rounds') and p99 (their worst),
CPU per request of gunicorn and of the Redis processes behind it (and of those processes
alone: whether Redis or the Python in front of it is the limit), and the ratios
cluster/single and min1/min0.

After the rounds every pool is read back through the API: its journal's last seq is 1 (the
pool's creation) plus every acquire and free wrk saw answered with success, plus at most one
request per connection per run that was answered after wrk stopped counting; its inUse is
the acquires seen less the frees seen, within the same slack. So every acquire answered is
in the store, and nothing was lost.

Everything it started is stopped by its PID at the end, on an error, a SIGTERM or Ctrl-C too.

Exit status: 0 when every check passed (whatever the figures), 1 when one failed, 2 when the
benchmark could not run (no wrk or redis-server, a server did not start).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shlex
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from tests.conditions import poll_until

from .acquire_vs_healthz import filesystem, load_average
from .servers import Server, StoreRun, serving
from .topology_runs import (
    MODE_LABELS,
    MODES,
    PoolState,
    Topologies,
    Variant,
    create_pools,
    durability,
    measure_into,
    pool_state,
    redis_version,
    spread_pools,
    topologies,
    warm_up,
)
from .wrk import BenchError

#: The pairs compared, each (baseline, other): the ratio printed is other/baseline.
PAIRS = (("single", "cluster"), ("min0", "min1"))
SETTLE_SECONDS = 10.0
MAX_EVENTS_PAGE = 1000


def variants_of(running: Topologies, args: argparse.Namespace) -> list[Variant]:
    pids = running.pids()
    spread = spread_pools(running.cluster, args.pools)
    names = list(spread)
    shards = {port: [name for name, at in spread.items() if at == port] for port in spread.values()}
    for port, on_shard in shards.items():
        print(f"  cluster primary 127.0.0.1:{port} serves pools {', '.join(on_shard)}")
    primary = running.pair.primary.url
    workers = args.workers

    def run(name: str, url: str, pids: tuple[int, ...], **env: str) -> StoreRun:
        return StoreRun(name, url, workers, env=env, pids=pids)

    return [
        Variant("single", "single redis", run("single", running.single.url, pids["single"]), names),
        Variant(
            "cluster",
            "cluster, 3 shards",
            run("cluster", running.cluster.url, pids["cluster"]),
            names,
        ),
        Variant(
            "min0",
            "pair, MIN_REPLICAS=0",
            run("min0", primary, pids["pair"], OBJMGR_REDIS_MIN_REPLICAS="0"),
            [f"z{name}" for name in names],
        ),
        Variant(
            "min1",
            "pair, MIN_REPLICAS=1",
            run("min1", primary, pids["pair"], OBJMGR_REDIS_MIN_REPLICAS="1"),
            [f"o{name}" for name in names],
        ),
    ]


def measure(variants: list[Variant], scratch: Path, args: argparse.Namespace) -> list[str]:
    """Every variant served at once; rounds interleave them. Returns the failed checks."""
    by_key = {variant.key: variant for variant in variants}
    with contextlib.ExitStack() as stack:
        servers: dict[str, Server] = {}
        for variant in variants:
            server = stack.enter_context(serving(variant.store, scratch))
            servers[variant.key] = server
            print(f"  {variant.key}: {args.workers} workers on {server.url} ({variant.store.url})")
            create_pools(server, variant.pools)
        for variant in variants:
            warm_up(variant, servers[variant.key], args)
        for round_no in range(1, args.rounds + 1):
            for pair in PAIRS:
                order = pair if round_no % 2 else pair[::-1]
                figures = []
                for key in order:
                    for mode in MODES:
                        run = measure_into(by_key[key], servers[key], mode, args, args.duration)
                        figures.append(f"{key} {MODE_LABELS[mode]} {run.rps:,.0f}/s")
                print(f"    round {round_no}: " + ", ".join(figures), flush=True)
        found = []
        for variant in variants:
            found.extend(account(variant, servers[variant.key], args))
    return found


def account(variant: Variant, server: Server, args: argparse.Namespace) -> list[str]:
    """What the store holds against what wrk saw answered, pool by pool."""
    acquired, freed = variant.seen("acquired"), variant.seen("freed")
    # A request answered after wrk stopped counting: at most one per connection per run.
    slack = args.connections * len(variant.all_runs)
    first = min(MAX_EVENTS_PAGE, slack + 1)

    def read() -> dict[str, PoolState]:
        return {
            pool: pool_state(server, pool, acquired[pool] + freed[pool], first)
            for pool in variant.pools
        }

    # Requests wrk left in flight finish on the server: read once two reads agree.
    states: list[dict[str, PoolState]] = [read()]

    def settled() -> bool:
        states.append(read())
        return states[-1] == states[-2]

    poll_until(settled, SETTLE_SECONDS)
    state = states[-1]
    found = []
    unseen_changes = 0
    for pool in variant.pools:
        seen = acquired[pool] + freed[pool]
        last = state[pool].last_seq
        if last is None:
            found.append(
                f"{variant.key} {pool}: the journal holds fewer than the {seen} changes seen"
            )
            continue
        unseen = last - 1 - seen
        unseen_changes += unseen
        held_seen = acquired[pool] - freed[pool]
        if not -slack <= state[pool].in_use - held_seen <= slack:
            found.append(
                f"{variant.key} {pool}: inUse {state[pool].in_use}, seen acquired-freed "
                f"{held_seen} (slack {slack})"
            )
    if not 0 <= unseen_changes <= slack:
        found.append(
            f"{variant.key}: {unseen_changes} journaled changes wrk did not see (at most {slack})"
        )
    total_acquired, total_freed = sum(acquired.values()), sum(freed.values())
    held = sum(each.in_use for each in state.values())
    verdict = "FAILED" if found else "ok"
    print(
        f"  accounting {variant.key}: {total_acquired:,} acquires and {total_freed:,} frees "
        f"answered; journals {total_acquired + total_freed + unseen_changes:,} changes, inUse "
        f"{held:,} (slack {slack}): {verdict}"
    )
    return found


def ratio(other: float, baseline: float) -> str:
    return f"{other / baseline:.2f}" if baseline else "-"


def print_table(variants: list[Variant], args: argparse.Namespace) -> None:
    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s over {args.pools} pools, "
        f"{args.rounds} rounds interleaved after a {args.warmup}s warm-up; "
        f"{args.workers} gevent workers per server"
    )
    header = (
        f"{'variant':<22} {'load':<13} {'req/s':>8} {'rounds min..max':>16} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'CPU us/req':>10} {'Redis us/req':>12} {'non-2xx':>7} {'bad bodies':>10}"
    )
    print(header)
    print("-" * len(header))
    for variant in variants:
        for mode in MODES:
            rates = [run.rps for run in variant.runs[mode]]
            cpu = variant.cpu_us_per_request(mode)
            redis_cpu = variant.redis_cpu_us_per_request(mode)
            print(
                f"{variant.label:<22} {MODE_LABELS[mode]:<13} {variant.rps(mode):>8,.0f} "
                f"{f'{min(rates):,.0f}..{max(rates):,.0f}':>16} {variant.p50_ms(mode):>7.1f} "
                f"{variant.p99_ms(mode):>7.1f} {'-' if cpu is None else f'{cpu:,.0f}':>10} "
                f"{'-' if redis_cpu is None else f'{redis_cpu:,.0f}':>12} "
                f"{variant.total(mode, 'non_2xx'):>7} {variant.total(mode, 'unexpected'):>10}"
            )
    print(
        "(acquire+free: each request one acquire or one free; CPU us/req: gunicorn's master "
        "and workers and the Redis processes behind it; Redis us/req: those processes alone)"
    )
    print()
    by_key = {variant.key: variant for variant in variants}
    for baseline_key, other_key in PAIRS:
        baseline, other = by_key[baseline_key], by_key[other_key]
        parts = []
        for mode in MODES:
            parts.append(f"{MODE_LABELS[mode]} {ratio(other.rps(mode), baseline.rps(mode))}")
            mine, theirs = other.cpu_us_per_request(mode), baseline.cpu_us_per_request(mode)
            if mine and theirs:
                parts[-1] += f" (CPU per request {mine / theirs:.2f})"
        print(f"{other_key}/{baseline_key} req/s: " + ", ".join(parts))
    low, high = by_key["min0"], by_key["min1"]
    print(
        f"acquire p50 {low.p50_ms('acquire'):.1f} -> {high.p50_ms('acquire'):.1f} ms, "
        f"p99 {low.p99_ms('acquire'):.1f} -> {high.p99_ms('acquire'):.1f} ms with "
        "OBJMGR_REDIS_MIN_REPLICAS 0 -> 1"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pools", type=int, default=12, help="pools the load spreads over")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--duration", type=int, default=3, help="seconds per run (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--tmpdir", type=Path, default=None, help="scratch (default: $TMPDIR)")
    args = parser.parse_args(argv)
    if min(args.pools, args.workers, args.threads, args.connections, args.rounds) < 1:
        parser.error("--pools, --workers, --threads, --connections and --rounds must be >= 1")
    if args.pools > 100:
        parser.error("--pools: at most 100")
    if not 0 < args.duration <= 60 or not 0 < args.warmup <= 10:
        parser.error("--duration must be in (0, 60] and --warmup in (0, 10]")
    return args


def machine_line(running: Topologies) -> str:
    return (
        f"{os.cpu_count()} cores ({platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}), redis-server {redis_version(running.single)} "
        f"({durability(running.single)}), load average {load_average()}"
    )


def interrupted(signum: int, _frame: object) -> None:
    # SystemExit unwinds every context: the servers are stopped by their PIDs.
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed: `make system-deps`", file=sys.stderr)
            return 2
    handlers = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return run_bench(args, sys.argv[1:] if argv is None else argv)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def run_bench(args: argparse.Namespace, argv: list[str]) -> int:
    command = shlex.join([sys.executable, "-m", "bench.redis_topologies", *argv])
    with tempfile.TemporaryDirectory(prefix="objmgr-bench-", dir=args.tmpdir) as scratch_dir:
        scratch = Path(scratch_dir).resolve()
        print(f"objmgr bench, Redis topologies: {command}")
        print(f"  scratch {scratch} ({filesystem(scratch)})", flush=True)
        try:
            with topologies(scratch) as running:
                print(f"  machine: {machine_line(running)}")
                variants = variants_of(running, args)
                found = measure(variants, scratch, args)
                load_after = load_average()
        except BenchError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 2
    print_table(variants, args)
    print(f"load average after: {load_after}")
    print(f"command: {command}")
    for problem in found:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
