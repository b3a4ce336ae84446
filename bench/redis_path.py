"""The Redis store's path under load: pipelines, round trips and Redis' own time per acquire.

Serves the Redis store twice, each gunicorn (2 gevent workers) on a redis-server of its own
(durable, as in production): the checkout's code, and another tree's (`--base`, a copy of an
earlier commit, e.g. `git archive HEAD | tar -x -C /tmp/base`), so that a change of the store's
path is measured side by side in the same interleaved rounds of wrk acquireObject. Without
`--base`, the checkout alone.

For each server, from its Redis' own counters (INFO stats and commandstats) over the rounds:

    scripts/read    scripts per read event of Redis: how many callers one pipeline carries
    reads/acq       read events per acquire: round trips each acquire costs
    redis us/acq    Redis' own time in the acquire script (commandstats), per acquire
    cpu us/acq      gunicorn's CPU per acquire, and Redis' process CPU per acquire beside it

    .venv/bin/python -m bench.redis_path --base /tmp/base
    .venv/bin/python -m bench.redis_path --rounds 5 --duration 3

Exit status: 0 when every acquire answered success, 1 when one did not, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.processes import cpu_seconds
from tests.support.redis_server import RedisServer

from .servers import POOL_SIZE, Server, StoreRun, serving, serving_tree
from .wrk import SCENARIOS, BenchError, run_wrk

ACQUIRE = next(scenario for scenario in SCENARIOS if scenario.key == "acquire")


@dataclass
class Totals:
    """What one server's rounds added up to."""

    requests: int = 0
    expected: int = 0
    seconds: float = 0.0
    gunicorn_cpu: float = 0.0
    redis_cpu: float = 0.0
    scripts: int = 0
    script_usec: int = 0
    commands: int = 0
    reads: int = 0
    rps: list[float] = field(default_factory=list)


@dataclass
class Served:
    name: str
    server: Server
    redis_pid: int
    client: redis.Redis
    totals: Totals = field(default_factory=Totals)

    def counters(self) -> tuple[float, float, int, int, int, int]:
        stats = self.client.info("stats")
        commands = self.client.info("commandstats")
        evalsha = commands.get("cmdstat_evalsha", {"calls": 0, "usec": 0})
        gunicorn_cpu = cpu_seconds(self.server.group, ()) or 0.0
        redis_cpu = cpu_seconds(None, (self.redis_pid,)) or 0.0
        return (
            gunicorn_cpu,
            redis_cpu,
            int(evalsha["calls"]),
            int(evalsha["usec"]),
            int(stats["total_commands_processed"]),
            int(stats["total_reads_processed"]),
        )


@contextlib.contextmanager
def redis_of_own(scratch: Path) -> Iterator[RedisServer]:
    server = RedisServer(scratch)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def served(name: str, scratch: Path, tree: Path | None) -> Iterator[Served]:
    place = scratch / name
    place.mkdir()
    with redis_of_own(place / "data") as server, server.client() as client:
        assert server.process is not None
        store = StoreRun(name, server.url, 2, pids=(server.process.pid,))
        serve = serving(store, place) if tree is None else serving_tree(store, place, tree)
        with serve as live:
            yield Served(name, live, server.process.pid, client)


def measure(servers: list[Served], args: argparse.Namespace) -> None:
    for one in servers:
        run_wrk(one.server.url, ACQUIRE, args, args.warmup)
    for round_no in range(1, args.rounds + 1):
        figures = []
        for one in servers:
            before = one.counters()
            run = run_wrk(one.server.url, ACQUIRE, args, args.duration)
            after = one.counters()
            delta = [b - a for a, b in zip(before, after, strict=True)]
            totals = one.totals
            totals.requests += run.requests
            totals.expected += run.expected
            totals.seconds += run.duration_us / 1e6
            totals.gunicorn_cpu += delta[0]
            totals.redis_cpu += delta[1]
            totals.scripts += int(delta[2])
            totals.script_usec += int(delta[3])
            totals.commands += int(delta[4])
            totals.reads += int(delta[5])
            totals.rps.append(run.rps)
            figures.append(f"{one.name} {run.rps:,.0f}/s")
        print(f"  round {round_no}: " + ", ".join(figures), flush=True)


def report(servers: list[Served]) -> None:
    header = (
        f"{'server':<8} {'acquire/s':>10} {'spread':>13} {'scripts/read':>12} "
        f"{'reads/acq':>9} {'redis us/acq':>12} {'cpu us/acq':>10} {'redis cpu':>9}"
    )
    print(header)
    print("-" * len(header))
    for one in servers:
        t = one.totals
        requests = max(t.requests, 1)
        print(
            f"{one.name:<8} {t.requests / t.seconds:>10,.0f} "
            f"{min(t.rps):>6,.0f}-{max(t.rps):<6,.0f} "
            f"{t.scripts / max(t.reads, 1):>12.2f} {t.reads / requests:>9.3f} "
            f"{t.script_usec / requests:>12.1f} {t.gunicorn_cpu / requests * 1e6:>10.0f} "
            f"{t.redis_cpu / requests * 1e6:>9.0f}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--base", type=Path, help="another tree of the project to compare")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=3, help="seconds a run (default 3)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"pool size {POOL_SIZE:,}; wrk -t{args.threads} -c{args.connections} -d{args.duration}s")
    try:
        with tempfile.TemporaryDirectory(prefix="objmgr-redis-path-") as place:
            scratch = Path(place)
            with contextlib.ExitStack() as stack:
                servers = [stack.enter_context(served("work", scratch, None))]
                if args.base is not None:
                    servers.append(stack.enter_context(served("base", scratch, args.base)))
                measure(servers, args)
                report(servers)
                failed = [one.name for one in servers if one.totals.expected < one.totals.requests]
    except BenchError as error:
        print(f"bench could not run: {error}", file=sys.stderr)
        return 2
    if failed:
        print(f"acquires that did not answer success on: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
