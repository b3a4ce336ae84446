"""Event delivery latency: from a change's commit to its subscribers, over GraphQL over SSE.

For each store (SQLite, Redis) a live gunicorn with 2 gevent workers serves 1 and then
1,000 subscribers of the `default` pool (raw sockets read by one selector loop,
tests/support/subscribers.py); one change at a time (an acquire), the next sent once every
subscriber read the last, so that what is measured is delivery, not a queue. A delivery's
latency is the time its subscriber read it less the event's `at`, the server's clock when
the change's transaction ran (the same host's clock: no skew), so the commit itself (its
fsync) is counted in.

    .venv/bin/python -m bench.watch_latency                       # sqlite,redis; 1 and 1000
    .venv/bin/python -m bench.watch_latency --stores sqlite --subscribers 1,100 --events 50
    .venv/bin/python -m bench.watch_latency --against e590b28     # and that commit, in turns

from the checkout's root. With --against, the commit is checked out as a git worktree in the
scratch directory and served beside the working tree, each with a store of its own, by the
same interpreter; the two take turns at each count, so that both see the same load. The
Redis store has a redis-server of its own (bench/servers.py), durable as in production.
With 1,000 subscribers the reader's own turn through the sockets is in the figures: it is
one process, as a fan-out proxy would be.

Exit status: 0 when every subscriber read every change, 1 when one did not (a stream
refused, ended, or a change not delivered within --timeout), 2 when the benchmark could not
run (no redis-server, a server did not start).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import platform
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from objmgr_client.operations import ACQUIRE

from tests.support.sockets import address_of
from tests.support.subscribers import Subscribers

from .acquire_vs_healthz import filesystem, load_average
from .journal_metrics import commit_line, worktree
from .servers import STORES, Server, StoreRun, http_json, serving, serving_tree
from .wrk import BenchError

DEFAULT_STORES = "sqlite,redis"
DEFAULT_SUBSCRIBERS = "1,1000"
OPEN_TIMEOUT = 60.0


@dataclass(frozen=True)
class Row:
    tree: str  # "working" (the checkout), else the commit of --against
    store: str
    subscribers: int
    events: int
    latencies: list[float]  # seconds, one per delivery
    cpu_seconds: float | None  # the server's CPU over the measured changes
    reader_seconds: float  # this process's CPU over them: the subscribers' side

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


class Failed(Exception):
    """A check of the run failed: a stream refused or ended, or a change not delivered."""


def _at(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["at"])).timestamp()


def _delivered(subscribers: Subscribers, changes: int) -> bool:
    """Whether every subscriber read each of the first `changes` changes."""
    return len(subscribers.deliveries) >= len(subscribers.streams) * changes


def measure(server: Server, tree: str, store: str, count: int, events: int, timeout: float) -> Row:
    with Subscribers(address_of(server.url), "default", count) as subscribers:
        settled = subscribers.pump(
            lambda: subscribers.opened() + len(subscribers.refused()) == count, OPEN_TIMEOUT
        )
        if not settled or subscribers.refused():
            raise Failed(
                f"{store} ({tree}): {subscribers.opened()} of {count} streams opened; "
                f"refused with {sorted(set(subscribers.refused()))}"
            )
        acquire: dict[str, object] = {"query": ACQUIRE, "variables": {"owner": "watch-bench"}}
        # The first change is the warm-up: it shows every subscription is in place.
        cpu_before: float | None = None
        reader_before = 0.0
        for change in range(events + 1):
            if change == 1:
                cpu_before, reader_before = server.cpu_seconds(), time.process_time()
            http_json(f"{server.url}/graphql", acquire, timeout)
            if not subscribers.pump(
                functools.partial(_delivered, subscribers, change + 1), timeout
            ):
                raise Failed(
                    f"{store} ({tree}), {count} subscribers: change {change} reached "
                    f"{len(subscribers.deliveries) - count * change} of them within {timeout:g}s "
                    f"({subscribers.ended()} streams ended)"
                )
        cpu_after, reader = server.cpu_seconds(), time.process_time() - reader_before
        measured = subscribers.deliveries[count:]
        if len(measured) != count * events or subscribers.ended():
            raise Failed(f"{store} ({tree}): {len(measured)} deliveries, {count * events} expected")
        cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        latencies = [d.received - _at(d.event) for d in measured]
        return Row(tree, store, count, events, latencies, cpu, reader)


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'tree':<8} {'store':<7} {'subscribers':>11} {'changes':>7} {'deliveries':>10} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'server CPU ms/change':>20} "
        f"{'reader CPU ms/change':>20}"
    )
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        cpu = "-" if row.cpu_seconds is None else f"{row.cpu_seconds / row.events * 1e3:.1f}"
        print(
            f"{row.tree[:8]:<8} {row.store:<7} {row.subscribers:>11,} {row.events:>7} "
            f"{len(row.latencies):>10,} "
            f"{row.percentile(0.5) * 1e3:>8.2f} {row.percentile(0.99) * 1e3:>8.2f} "
            f"{max(row.latencies) * 1e3:>8.2f} {cpu:>20} "
            f"{row.reader_seconds / row.events * 1e3:>20.1f}"
        )


def store_with_room(store: StoreRun, most: int) -> StoreRun:
    """Every subscriber is the one anonymous principal: room for all of them."""
    env = {
        **store.env,
        "OBJMGR_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": str(max(most, 1)),
        "OBJMGR_MAX_SUBSCRIPTIONS": str(max(most, 1)),
    }
    return dataclasses.replace(store, workers=2, env=env)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.watch_latency", description=__doc__)
    parser.add_argument("--stores", default=DEFAULT_STORES, help="sqlite and/or redis")
    parser.add_argument("--subscribers", default=DEFAULT_SUBSCRIBERS, help="counts to measure")
    parser.add_argument("--events", type=int, default=100, help="changes measured per count")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for one change")
    parser.add_argument("--tmpdir", help="where the scratch directory goes")
    parser.add_argument("--against", help="a commit measured in turns with the working tree")
    args = parser.parse_args(argv)
    args.store_names = [name for name in args.stores.split(",") if name]
    unknown = set(args.store_names) - {"sqlite", "redis"}
    if unknown or not args.store_names:
        parser.error(f"--stores takes sqlite and redis, not {sorted(unknown)}")
    try:
        args.counts = [int(count) for count in args.subscribers.split(",")]
    except ValueError:
        parser.error("--subscribers takes whole numbers separated by commas")
    if not all(1 <= count <= 5000 for count in args.counts):
        parser.error("--subscribers must each be in 1..5000")
    if not 1 <= args.events <= 10_000 or not 0 < args.timeout <= 300:
        parser.error("--events must be in 1..10000 and --timeout in (0, 300]")
    return args


def measure_store(
    args: argparse.Namespace, name: str, scratch: Path, other: Path | None
) -> list[Row]:
    """Every count on store `name`: the working tree's server, and `other`'s in turns."""
    rows: list[Row] = []
    with contextlib.ExitStack() as backend:
        servers: dict[str, Server] = {}
        for tree, path in [("working", None)] + ([] if other is None else [(args.against, other)]):
            place = scratch / tree
            place.mkdir(parents=True)
            made = backend.enter_context(STORES[name](args, place))
            store = store_with_room(made, 2 * max(args.counts))
            served = serving(store, place) if path is None else serving_tree(store, place, path)
            servers[tree] = backend.enter_context(served)
            print(f"{name} ({tree}): {servers[tree].url} {store.about}".rstrip(), flush=True)
        for turn, count in enumerate(args.counts):
            # Neither tree always goes first.
            order = list(servers.items()) if turn % 2 == 0 else list(servers.items())[::-1]
            for tree, server in order:
                rows.append(measure(server, tree, name, count, args.events, args.timeout))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM must still stop the servers: turn it into SystemExit so `finally` runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="objmgr-bench-", dir=args.tmpdir) as scratch_dir:
        scratch = Path(scratch_dir).resolve()
        print(
            f"objmgr watch latency: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"scratch {scratch} ({filesystem(scratch)}), load average {load_average()}",
            flush=True,
        )
        try:
            with contextlib.ExitStack() as trees:
                other = None
                if args.against:
                    other = trees.enter_context(worktree(args.against, scratch / "against-tree"))
                    print(f"against {commit_line(args.against)}", flush=True)
                for name in args.store_names:
                    rows.extend(measure_store(args, name, scratch / name, other))
        except BenchError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 2
        except Failed as failed:
            print_table(rows)
            print(f"CHECK FAILED: {failed}", file=sys.stderr)
            return 1
    print_table(rows)
    print(f"load average {load_average()} after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
