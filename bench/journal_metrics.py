"""What the event journal, the metrics and the structured logs cost an acquire.

Serves each store twice, side by side, on free loopback ports, with 2 gevent workers each:

    ON   this checkout: the journal written with every change, /metrics, JSON logs
    OFF  the tree as it was before them (commit de456ea, --off-commit), checked out with
         `git worktree add` into the scratch directory and served by the same interpreter
         and packages, its own `app` first on the path

and measures both with wrk, round by round, ON and OFF taking turns to go first, so that
drift on the machine hits them alike:

    GET  /healthz                                                   plain Flask JSON route
    POST /graphql  mutation { acquireObject { success lease { obj token } } }

Before measuring it checks which code each server runs: /metrics answers 200 on ON and 404
on OFF, and ON's log lines are JSON (or text, with --log-format text: what JSON costs).
After, every acquire answered `"success": true` matches the pool's `inUse`; on ON, so do
`objmgr_leases_granted_total` and the journal's last event (the counters and the journal
recorded every grant made while they were measured); lines at WARNING or above in the
servers' logs are shown.

The table gives requests/s, the spread of the rounds, p99, the server's CPU per request and
the ratio ON/OFF of acquire throughput (raw, and over each one's /healthz, which takes out
what the two servers do not share). The project's bar: ON >= 0.95x OFF.

    .venv/bin/python -m bench.journal_metrics                      # sqlite,redis
    .venv/bin/python -m bench.journal_metrics --stores sqlite --rounds 6
    .venv/bin/python -m bench.journal_metrics --log-format text    # ON logging text lines
    .venv/bin/python -m bench.journal_metrics --no-audit-lines     # ON without its audit lines

from the checkout's root. Each Redis variant has a redis-server of its own
(bench/servers.py), durable as in production. The worktree is removed at the end, on an
error or a SIGTERM too.

Exit status: 0 when every check passed (whatever the figures), 1 when one failed, 2 when the
benchmark could not run (no wrk or redis-server, a server did not start, no worktree).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.conditions import poll_until
from tests.support.gunicorn import ROOT

from .acquire_vs_healthz import filesystem, load_average
from .report import StoreResult, print_on_off_table, problems
from .servers import STORES, Server, StoreRun, http_json, http_status, serving, serving_tree
from .wrk import HEALTHZ, IN_USE, SCENARIOS, BenchError, Series, plan, run_into, run_wrk

OFF_COMMIT = "de456ea"
TARGET = 0.95  # ON acquire throughput over OFF's
MEASURED = (HEALTHZ, next(scenario for scenario in SCENARIOS if scenario.key == "acquire"))
VARIANTS = ("on", "off")
AUDIT_OFF_APP = "bench.audit_off:create_app()"
GRANTED = "objmgr_leases_granted_total"
SETTLE_SECONDS = 10.0
# Text and JSON lines alike, and gunicorn's own format (the OFF tree's).
TRACEBACK = "Traceback (most recent call last)"
TROUBLE_MARKS = (
    "level=WARNING",
    "level=ERROR",
    "level=CRITICAL",
    '"level": "WARNING"',
    '"level": "ERROR"',
    '"level": "CRITICAL"',
    "[WARNING]",
    "[ERROR]",
    "[CRITICAL]",
)


@contextlib.contextmanager
def worktree(commit: str, path: Path) -> Iterator[Path]:
    """`commit` checked out at `path` as a git worktree, removed (and unregistered) after."""
    added = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit],
        capture_output=True,
        text=True,
        check=False,
    )
    if added.returncode:
        raise BenchError(f"git worktree add {commit}: {added.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
            capture_output=True,
            check=False,
        )
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)


def commit_line(commit: str) -> str:
    shown = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s", commit],
        capture_output=True,
        text=True,
        check=False,
    )
    return shown.stdout.strip()[:90] or commit


def granted_total(base_url: str) -> int:
    """objmgr_leases_granted_total of the `default` pool, as a scrape of /metrics reads it."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith(GRANTED + "{") and 'pool="default"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def in_use(server: Server, what: str) -> int:
    try:
        answer = http_json(server.url + "/graphql", {"query": IN_USE})
        return int(answer["data"]["pool"]["inUse"])  # type: ignore[index]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BenchError(f"{what}: cannot read pool.inUse: {error}") from None


def counted_every_grant(server: Server, what: str) -> bool:
    return granted_total(server.url) == in_use(server, what)


def check_what_is_served(name: str, on: Server, off: Server, on_log: Path, as_json: bool) -> None:
    """ON serves this checkout's /metrics and logs in its format; OFF has no /metrics."""
    statuses = {"on": http_status(on.url + "/metrics"), "off": http_status(off.url + "/metrics")}
    if statuses != {"on": 200, "off": 404}:
        raise BenchError(f"{name}: /metrics answered {statuses}, expected ON 200 and OFF 404")
    lines = [line for line in on_log.read_text(errors="replace").splitlines() if line.strip()]
    parsed = 0
    for line in lines:
        with contextlib.suppress(ValueError):
            parsed += isinstance(json.loads(line), dict)
    if not lines or (parsed < len(lines) / 2) == as_json:
        raise BenchError(f"{name} ON: {parsed} of {len(lines)} log lines are JSON ({on_log})")
    print(f"    checked: /metrics ON 200, OFF 404; ON's log {parsed}/{len(lines)} JSON lines")


def measure(
    stores: dict[str, dict[str, StoreRun]], scratch: Path, tree: Path, args: argparse.Namespace
) -> tuple[dict[str, dict[str, StoreResult]], list[str]]:
    """Every variant of every store served at once; ON and OFF take turns to go first."""
    results = {
        name: {
            variant: StoreResult(run, {scenario.key: Series() for scenario in MEASURED})
            for variant, run in variants.items()
        }
        for name, variants in stores.items()
    }
    with contextlib.ExitStack() as servers:
        running: dict[str, dict[str, Server]] = {}
        for name, variants in stores.items():
            on = servers.enter_context(serving(variants["on"], scratch))
            off = servers.enter_context(serving_tree(variants["off"], scratch, tree))
            running[name] = {"on": on, "off": off}
            print(f"  {name}: ON {on.url}, OFF {off.url} ({variants['on'].workers} workers each)")
            for variant in VARIANTS:
                if variants[variant].about:
                    print(f"    {variant.upper()} {variants[variant].about}")
            on_log = scratch / f"gunicorn-{variants['on'].name}.log"
            check_what_is_served(name, on, off, on_log, args.log_format == "json")
        for name, pair in running.items():
            for variant, server in pair.items():
                result = results[name][variant]
                for scenario in MEASURED:
                    warm = run_wrk(server.url, scenario, args, args.warmup)
                    if scenario.key == "acquire":
                        result.warmup_acquired += warm.expected
                        result.acquire_runs += 1
        for round_no in range(1, args.rounds + 1):
            order = VARIANTS if round_no % 2 else VARIANTS[::-1]
            for name, pair in running.items():
                figures = []
                for variant in order:
                    result, server = results[name][variant], pair[variant]
                    for scenario in MEASURED:
                        series = result.series[scenario.key]
                        run = run_into(
                            series, server.url, server.cpu_seconds, scenario, args, args.duration
                        )
                        result.acquire_runs += scenario.key == "acquire"
                        figures.append(f"{variant.upper()} {scenario.key} {run.rps:,.0f}/s")
                print(f"    round {round_no} {name}: " + ", ".join(figures), flush=True)
        found = []
        for name, pair in running.items():
            for variant, server in pair.items():
                results[name][variant].in_use = in_use(server, f"{name} {variant}")
            # Requests wrk left in flight may still commit: the two agree once they are done.
            on = pair["on"]
            poll_until(functools.partial(counted_every_grant, on, name), SETTLE_SECONDS)
            results[name]["on"].in_use = held = in_use(on, name)
            found.extend(counted_and_journaled(on, f"{name} ON", held))
    return results, found


def counted_and_journaled(server: Server, what: str, held: int) -> list[str]:
    """What disagrees with `held` grants: the granted counter, or the journal, whose last
    event is the last grant (seq 1 is the pool's creation, and nothing else happened)."""
    found = []
    granted = granted_total(server.url)
    if granted != held:
        found.append(f"{what}: {GRANTED} is {granted}, inUse {held}")
    query = f'{{ events(pool: "default", after: {max(0, held - 3)}, first: 10) {{ seq kind }} }}'
    try:
        answer = http_json(server.url + "/graphql", {"query": query})
        events = answer["data"]["events"]  # type: ignore[index]
        last = events[-1] if events else None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        return [*found, f"{what}: cannot read the journal: {error}"]
    if last != {"seq": held + 1, "kind": "GRANTED"}:
        found.append(f"{what}: the journal's last event is {last}, expected GRANTED seq {held + 1}")
    return found


def log_troubles(scratch: Path) -> list[str]:
    """The servers' log lines at WARNING or above, and tracebacks (told by the exception
    they end with), by log file."""
    troubles = []
    for log in sorted(scratch.glob("gunicorn-*.log")):
        lines = log.read_text(errors="replace").splitlines()
        bad = []
        for number, line in enumerate(lines):
            if TRACEBACK in line:
                # Two workers' tracebacks may interleave: the first line that names an
                # exception ends this one.
                ending = (
                    later
                    for later in lines[number + 1 :]
                    if later.strip() and not later[:1].isspace() and TRACEBACK not in later
                )
                exception = next(ending, "")
                # The worker told to stop at the end of the run (SIGINT: a quick exit).
                if not exception.startswith(("SystemExit", "KeyboardInterrupt")):
                    bad.append(f"{line.strip()} ... {exception}")
            elif any(mark in line for mark in TROUBLE_MARKS):
                bad.append(line)
        if bad:
            troubles.append(f"{log.name}: {len(bad)} lines like {bad[0][:400]!r}")
    return troubles


@contextlib.contextmanager
def store_of(
    name: str, variant: str, args: argparse.Namespace, scratch: Path
) -> Iterator[StoreRun]:
    """The store `name` for one variant, with a directory (and a redis-server) of its own."""
    directory = scratch / f"{name}-{variant}"
    directory.mkdir()
    with STORES[name](args, directory) as run:
        # ON logs as production does (by default); OFF knows no OBJMGR_LOG_FORMAT.
        env = {**run.env, "OBJMGR_LOG_FORMAT": args.log_format} if variant == "on" else run.env
        served = dataclasses.replace(run, name=f"{name}-{variant}", env=env)
        if variant == "on" and args.no_audit_lines:
            served = dataclasses.replace(served, wsgi_app=AUDIT_OFF_APP)
        yield served


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite,redis", help="sqlite, redis or both")
    parser.add_argument("--off-commit", default=OFF_COMMIT, help=f"default {OFF_COMMIT}")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument(
        "--budget", type=float, default=150.0, help="seconds of wrk in all (default 150)"
    )
    parser.add_argument("--duration", type=int, default=None, help="seconds per run")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds (default 1)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds (default 4)")
    parser.add_argument(
        "--log-format",
        choices=("json", "text"),
        default="json",
        help="ON's OBJMGR_LOG_FORMAT (default json, production's)",
    )
    parser.add_argument(
        "--no-audit-lines",
        action="store_true",
        help="ON without its audit line per event (bench/audit_off.py): journal and metrics alone",
    )
    parser.add_argument("--tmpdir", type=Path, default=None, help="scratch (default: $TMPDIR)")
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(name.strip() for name in args.stores.split(",") if name.strip()))
    if not names or not set(names) <= {"sqlite", "redis"}:
        parser.error(f"--stores: expected sqlite, redis or both, got {args.stores!r}")
    args.store_names = names
    if min(args.threads, args.connections, args.rounds) < 1:
        parser.error("--threads, --connections and --rounds must be at least 1")
    if args.duration is not None and not 0 < args.duration <= 60:
        parser.error("--duration must be in (0, 60]")
    if not 0 < args.warmup <= 10 or not 0 < args.budget <= 900:
        parser.error("--warmup must be in (0, 10] and --budget in (0, 900]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: `make system-deps` (apt-get install wrk)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    planned = plan(args, len(args.store_names) * len(VARIANTS) * len(MEASURED))
    with tempfile.TemporaryDirectory(prefix="objmgr-bench-", dir=args.tmpdir) as scratch_dir:
        scratch = Path(scratch_dir).resolve()
        load_before = load_average()
        print(
            f"objmgr bench, journal and metrics ON vs OFF: scratch {scratch} "
            f"({filesystem(scratch)}), ~{planned:.0f}s of wrk, load average {load_before}\n"
            f"  ON  {commit_line('HEAD')} (and the working tree's changes)\n"
            f"  OFF {commit_line(args.off_commit)}",
            flush=True,
        )
        try:
            with contextlib.ExitStack() as backends:
                tree = backends.enter_context(worktree(args.off_commit, scratch / "off-tree"))
                stores = {
                    name: {
                        variant: backends.enter_context(store_of(name, variant, args, scratch))
                        for variant in VARIANTS
                    }
                    for name in args.store_names
                }
                results, found = measure(stores, scratch, tree, args)
        except BenchError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 2
        troubles = log_troubles(scratch)
    print_on_off_table(results, args, MEASURED, TARGET)
    print(f"load average {load_before} before, {load_average()} after")
    for trouble in troubles:
        print(f"in the servers' logs: {trouble}")
    for variants in results.values():
        for result in variants.values():
            found.extend(problems(result, args.connections))
    for problem in found:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
