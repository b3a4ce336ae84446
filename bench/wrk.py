"""The wrk runner: what each run requests and checks, and what it counts.

wrk_report.lua (beside this file) makes every request of a run the same and counts the
responses whose body matches the run's expected pattern.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LUA_SCRIPT = Path(__file__).resolve().with_name("wrk_report.lua")

# The smallest documents that do the work measured: a document of objmgr_client.operations
# selects every field of a lease, and the bytes it adds would move the figures compared
# across runs. tests/test_bench_reference.py checks them against the live schema.
ACQUIRE = "mutation { acquireObject { success lease { obj token } } }"
VERSION = "{ version }"
IN_USE = "{ pool { inUse } }"


class BenchError(Exception):
    """The benchmark could not run (as opposed to: it ran and a check failed)."""


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    method: str
    path: str
    expect: str  # a Lua pattern every response body must match
    query: str | None = None

    @property
    def body(self) -> str | None:
        return None if self.query is None else json.dumps({"query": self.query})


HEALTHZ = Scenario("healthz", "GET /healthz", "GET", "/healthz", r'"status":%s*"ok"')
SCENARIOS = (
    HEALTHZ,
    Scenario("acquire", "POST acquireObject", "POST", "/graphql", r'"success":%s*true', ACQUIRE),
    Scenario("version", "POST { version }", "POST", "/graphql", r'"version":%s*"', VERSION),
)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_us: int
    responses: int
    ok_2xx: int
    non_2xx: int
    expected: int
    socket_errors: int
    timeouts: int
    p50_us: int
    p99_us: int

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0


@dataclass
class Series:
    """The runs of one scenario against one server, warm-up excluded."""

    runs: list[WrkResult] = field(default_factory=list)
    cpu_seconds: float | None = 0.0  # the server's (master and workers); None: not measurable

    def total(self, name: str) -> int:
        return sum(getattr(run, name) for run in self.runs)

    @property
    def cpu_us_per_request(self) -> float | None:
        requests = self.total("requests")
        return (
            None if self.cpu_seconds is None or not requests else self.cpu_seconds / requests * 1e6
        )

    @property
    def rps(self) -> float:
        seconds = self.total("duration_us") / 1e6
        return self.total("requests") / seconds if seconds else 0.0

    @property
    def p99_ms(self) -> float:
        return max((run.p99_us for run in self.runs), default=0) / 1000


def plan(args: argparse.Namespace, runs: int) -> int:
    """Seconds of wrk `runs` runs a round take in all; sets `args.duration` from the
    budget when it was not given (each run at most 5 s, at least 1)."""
    if args.duration is None:
        args.duration = int(min(5, max(1, (args.budget / runs - args.warmup) // args.rounds)))
    return int(runs * (args.warmup + args.rounds * args.duration))


def run_into(
    series: Series,
    base_url: str,
    cpu_seconds: Callable[[], float | None],
    scenario: Scenario,
    args: argparse.Namespace,
    seconds: int,
) -> WrkResult:
    """One run of `scenario` against `base_url`, added to `series` with the CPU
    `cpu_seconds` says the server spent over it (None from then on when it cannot)."""
    before = cpu_seconds()
    run = run_wrk(base_url, scenario, args, seconds)
    after = cpu_seconds()
    series.runs.append(run)
    if before is None or after is None or series.cpu_seconds is None:
        series.cpu_seconds = None
    else:
        series.cpu_seconds += after - before
    return run


def run_wrk(base_url: str, scenario: Scenario, args: argparse.Namespace, seconds: int) -> WrkResult:
    env = {**os.environ, "BENCH_METHOD": scenario.method, "BENCH_EXPECT": scenario.expect}
    env.pop("BENCH_BODY", None)
    if scenario.body is not None:
        env["BENCH_BODY"] = scenario.body
    return WrkResult(**wrk_result(LUA_SCRIPT, base_url + scenario.path, args, seconds, env))


def wrk_result(
    script: Path, url: str, args: argparse.Namespace, seconds: int, env: dict[str, str]
) -> dict[str, Any]:
    """What `script` printed as its `BENCH_RESULT` line, decoded, after a wrk run of
    `seconds` on `url` with the bench's threads and connections."""
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",  # wrk takes whole seconds
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=seconds + 20, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish: {' '.join(command)}") from None
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
            return result
    raise BenchError(f"wrk gave no result (exit {done.returncode}):\n{done.stdout}{done.stderr}")
