"""What an acquire costs next to the cheapest request the server answers, and next to etcd.

Starts the real server (gunicorn, deploy/gunicorn.conf.py, app:create_app(), gevent workers) on a
free loopback port for each store asked for, all at once, and measures with wrk, interleaving
servers and requests round by round so that drift on the machine hits them all alike:

    GET  /healthz                                                   plain Flask JSON route
    POST /graphql  mutation { acquireObject { success lease { obj token } } }
    POST /graphql  { version }                                      GraphQL without the store
    POST /graphql  mutation { acquireObjects(count: 10) { success leases { obj token } } }

and, with `etcd` among the stores, the peer users would pick instead in the same rounds: one
etcd member's lease grant and put-if-absent txn with a lease (bench/etcd_peer.py).

Same threads, connections and duration for each. The table gives requests/s with its spread
over the rounds, CPU per request, the ratio to the store's own /healthz, non-2xx counts and
how many bodies were what they should be (every acquire `"success": true`, every
acquireObjects set ten leases, cross-checked against the pool's `inUse` afterwards; every
txn succeeded, cross-checked against the keys etcd holds). Then each target of issue 14, with
2 workers, its ratio over all rounds, its spread round by round, and met / NOT met:

    sqlite acquireObject          >= 0.8x its /healthz
    redis acquireObject           >= 0.9x sqlite's
    sqlite { version }            >= 0.9x its /healthz
    sqlite acquireObjects(10)     >= 0.5x its acquireObject requests/s
    sqlite acquireObject          >= 1.0x etcd's put-if-absent txn

and the references beside them: the stock graphql-server's acquire, etcd's grant and its
grant + txn pair (what a fresh slot takes in etcd).

    .venv/bin/python -m bench.acquire_vs_healthz                   # sqlite,redis,stock,etcd
    .venv/bin/python -m bench.acquire_vs_healthz --stores sqlite,memory,redis
    .venv/bin/python -m bench.acquire_vs_healthz --rounds 5 --duration 3
    .venv/bin/python -m bench.acquire_vs_healthz --cache-micro     # + what the cache buys

from the checkout's root (`make bench`).

For redis the benchmark starts a redis-server of its own (tests/support/redis_server.py) on a free
loopback port, never the 6379 a developer may run, with its data dir in the scratch directory and
the durable settings production is told to use: `--appendonly yes --appendfsync always
--save ""`. Its CPU time counts as the server's. etcd runs as it comes, its WAL fsynced
before each write is answered, its CPU time its own. Everything the benchmark started is
stopped by its pid at the end, on an error or a SIGTERM too.

Each run lasts --duration seconds, by default what fits --budget (100 s of wrk in all, at most
5 s a run), so that more stores keep the whole run under two minutes.

`stock` is the reference the SQLite figures are set against: the same app and SQLite store
with `/graphql` served by graphql-server's view as it comes, without a document cache
(bench/stock_graphql.py).

The wrk runner is bench/wrk.py, the servers under test bench/servers.py (a store is one entry
of its STORES), the etcd peer bench/etcd_peer.py, the table and the targets bench/report.py.

Exit status: 0 when every check passed (whatever the figures), 1 when one failed, 2 when the
benchmark could not run (no wrk, redis-server or etcd, a server did not start).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .etcd_peer import SCENARIOS as ETCD_SCENARIOS
from .etcd_peer import EtcdPeer, etcd_peer
from .report import PeerResult, StoreResult, peer_problems, print_table, problems
from .servers import (
    DEFAULT_STORES,
    LEASES_PER_ANSWER,
    OBJMGR_SCENARIOS,
    PEERS,
    POOL_SIZE,
    STORES,
    Server,
    StoreRun,
    http_json,
    serving,
)
from .wrk import ACQUIRE, IN_USE, VERSION, BenchError, Series, WrkResult, plan, run_wrk


def timed_run(
    series: Series, cpu_seconds: Callable[[], float | None], run: Callable[[], WrkResult]
) -> WrkResult:
    """`run` added to `series` with the CPU `cpu_seconds` says the server spent over it."""
    before = cpu_seconds()
    result = run()
    after = cpu_seconds()
    series.runs.append(result)
    if before is None or after is None or series.cpu_seconds is None:
        series.cpu_seconds = None
    else:
        series.cpu_seconds += after - before
    return result


def warm_up(result: StoreResult, server: Server, args: argparse.Namespace) -> None:
    for scenario in OBJMGR_SCENARIOS:
        warm = run_wrk(server.url, scenario, args, args.warmup)
        count_acquiring(result, scenario.key)
        result.warmup_acquired += warm.expected * LEASES_PER_ANSWER.get(scenario.key, 0)


def count_acquiring(result: StoreResult, key: str) -> None:
    result.acquire_runs += key == "acquire"
    result.batch_runs += key == "batch"


def measure(
    stores: list[StoreRun], peer: EtcdPeer | None, scratch: Path, args: argparse.Namespace
) -> tuple[list[StoreResult], PeerResult | None]:
    """Every server at once; rounds interleave servers and scenarios, so drift hits all."""
    results = [
        StoreResult(store, {sc.key: Series() for sc in OBJMGR_SCENARIOS}) for store in stores
    ]
    peer_result = None
    if peer is not None:
        peer_result = PeerResult("etcd", peer.version, {sc.key: Series() for sc in ETCD_SCENARIOS})
        print(f"  etcd {peer.version} pid {peer.pid} on {peer.url}, data dir {peer.data_dir}")
    with contextlib.ExitStack() as servers:
        running: list[Server] = []
        for store in stores:
            running.append(servers.enter_context(serving(store, scratch)))
            print(f"  {store.name}: {store.workers} worker(s) on {running[-1].url} ({store.url})")
            if store.about:
                print(f"    {store.about}")
        for result, server in zip(results, running, strict=True):
            warm_up(result, server, args)
        if peer is not None and peer_result is not None:
            for scenario in ETCD_SCENARIOS:
                warm = peer.run(scenario, args, args.warmup)
                peer_result.warmup_expected[scenario.key] = warm.expected
                peer_result.runs[scenario.key] = 1
        for round_no in range(1, args.rounds + 1):
            for result, server in zip(results, running, strict=True):
                figures = []
                for scenario in OBJMGR_SCENARIOS:
                    run = timed_run(
                        result.series[scenario.key],
                        server.cpu_seconds,
                        functools.partial(run_wrk, server.url, scenario, args, args.duration),
                    )
                    count_acquiring(result, scenario.key)
                    figures.append(f"{scenario.key} {run.rps:,.0f}/s")
                print(
                    f"    round {round_no} {result.store.name}: " + ", ".join(figures), flush=True
                )
            if peer is not None and peer_result is not None:
                figures = []
                for scenario in ETCD_SCENARIOS:
                    run = timed_run(
                        peer_result.series[scenario.key],
                        peer.cpu_seconds,
                        functools.partial(peer.run, scenario, args, args.duration),
                    )
                    peer_result.runs[scenario.key] += 1
                    figures.append(f"{scenario.key} {run.rps:,.0f}/s")
                print(f"    round {round_no} etcd: " + ", ".join(figures), flush=True)
        for result, server in zip(results, running, strict=True):
            try:
                answer = http_json(server.url + "/graphql", {"query": IN_USE})
                result.in_use = int(answer["data"]["pool"]["inUse"])  # type: ignore[index]
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise BenchError(f"{result.store.name}: cannot read pool.inUse: {error}") from None
    if peer is not None and peer_result is not None:
        peer_result.keys_held = peer.keys_held()
        peer_result.leases_held = peer.leases_held()
    return results, peer_result


# Document cache micro-benchmark -------------------------------------------------------------------
def cache_micro(iterations: int) -> None:
    """Per-request microseconds of parse+validate against a DocumentCache hit, in-process."""
    from flask import Request
    from graphql import execute
    from werkzeug.test import EnvironBuilder

    from app.api.context import RequestContext
    from app.api.documents import DocumentCache
    from app.api.schema import schema
    from app.pool.lease import Caller
    from app.service import LeaseService
    from app.stores.memory import MemoryStore

    graphql_schema = schema.graphql_schema
    cache = DocumentCache(graphql_schema, introspection=True)
    service = LeaseService(MemoryStore(default_pool=("default", POOL_SIZE)))
    service.store.open()
    context = RequestContext(
        request=Request(EnvironBuilder(path="/graphql", method="POST").get_environ()),
        caller=Caller.auth_off(),
        service=service,
        client_connected=lambda: True,
    )

    def per_call_us(action: Callable[[], object]) -> float:
        action()
        start = time.perf_counter()
        for _ in range(iterations):
            action()
        return (time.perf_counter() - start) / iterations * 1e6

    print(f"\ndocument cache, in-process, {iterations} iterations (microseconds per request)")
    header = (
        f"{'document':<20} {'parse+validate':>14} {'cache hit':>10} {'execute':>9} "
        f"{'saved/request':>13}"
    )
    print(header)
    print("-" * len(header))
    for label, query in (("acquireObject", ACQUIRE), ("{ version }", VERSION)):
        prepared = cache.get(query)
        assert not isinstance(prepared, tuple), prepared
        document = prepared.document
        uncached = per_call_us(functools.partial(cache._load, query))
        cached = per_call_us(functools.partial(cache.get, query))
        executed = per_call_us(
            functools.partial(execute, graphql_schema, document, context_value=context)
        )
        print(
            f"{label:<20} {uncached:>14.1f} {cached:>10.2f} {executed:>9.1f} "
            f"{uncached - cached:>13.1f}"
        )


# Main ---------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stores",
        "--store",
        default=DEFAULT_STORES,
        help=f"comma-separated, served side by side: {', '.join([*STORES, *PEERS])} "
        f"(default: {DEFAULT_STORES})",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument(
        "--budget",
        type=float,
        default=100.0,
        help="seconds of wrk in all, warm-ups included, when --duration is not given (default 100)",
    )
    parser.add_argument(
        "--duration", type=int, default=None, help="seconds per run (default: from --budget)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--cache-micro",
        action="store_true",
        help="also time the document cache against plain parse+validate, in-process",
    )
    parser.add_argument("--micro-iterations", type=int, default=2000)
    parser.add_argument(
        "--tmpdir",
        type=Path,
        default=None,
        help="where the SQLite file and the Redis data dir go (default: $TMPDIR)",
    )
    args = parser.parse_args(argv)
    # Each store gets one scratch directory named after it, so a name counts once.
    names = list(dict.fromkeys(name.strip() for name in args.stores.split(",") if name.strip()))
    unknown = [name for name in names if name not in STORES and name not in PEERS]
    if not names or unknown:
        known = ", ".join([*STORES, *PEERS])
        parser.error(f"--stores: expected some of {known}, got {args.stores!r}")
    args.store_names = [name for name in names if name in STORES]
    args.etcd = "etcd" in names
    for name in ("threads", "connections", "rounds", "micro_iterations"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.duration is not None and not 0 < args.duration <= 60:
        parser.error("--duration must be in (0, 60]")
    if not 0 < args.warmup <= 10 or not 0 < args.budget <= 600:
        parser.error("--warmup must be in (0, 10] and --budget in (0, 600]")
    return args


def filesystem(path: Path) -> str:
    """The type of the filesystem holding `path` (fsync costs differ wildly)."""
    best, kind = "", "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount = parts[1]
            inside = str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > len(best):
                best, kind = mount, parts[2]
    return kind


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: `make system-deps` (apt-get install wrk)", file=sys.stderr)
        return 2
    # A SIGTERM must still stop the servers: turn it into SystemExit so `finally` runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    runs = len(args.store_names) * len(OBJMGR_SCENARIOS) + args.etcd * len(ETCD_SCENARIOS)
    planned = plan(args, runs)
    with tempfile.TemporaryDirectory(prefix="objmgr-bench-", dir=args.tmpdir) as scratch_dir:
        scratch = Path(scratch_dir).resolve()
        load_before = load_average()
        print(
            f"objmgr bench: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"scratch {scratch} ({filesystem(scratch)}), ~{planned:.0f}s of wrk, "
            f"load average {load_before}",
            flush=True,
        )
        try:
            # Whatever a store started (redis-server, etcd) stops here, before its
            # directory goes.
            with contextlib.ExitStack() as backends:
                stores = []
                for name in args.store_names:
                    (scratch / name).mkdir()
                    stores.append(backends.enter_context(STORES[name](args, scratch / name)))
                peer = None
                if args.etcd:
                    (scratch / "etcd").mkdir()
                    peer = backends.enter_context(etcd_peer(scratch / "etcd"))
                results, peer_result = measure(stores, peer, scratch, args)
        except BenchError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 2
    print_table(results, peer_result, args)
    print(
        f"load average {load_before} before, {load_average()} after: other work on the host "
        "moves req/s; the ratios and CPU us/req move less"
    )
    if args.cache_micro:
        cache_micro(args.micro_iterations)
    found = [problem for result in results for problem in problems(result, args.connections)]
    if peer_result is not None:
        found.extend(peer_problems(peer_result, args.connections))
    for problem in found:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
