"""What an acquire costs next to the cheapest request the server answers.

Starts the real server (gunicorn, deploy/gunicorn.conf.py, app:create_app(), gevent workers) on a
free loopback port for each store asked for, all at once, and measures with wrk, interleaving
stores and requests round by round so that drift on the machine hits them all alike:

    GET  /healthz                                                   plain Flask JSON route
    POST /graphql  mutation { acquireObject { success lease { obj token } } }
    POST /graphql  { version }                                      GraphQL without the store

Same threads, connections and duration for each. The table gives requests/s, the ratio to the
store's own /healthz, the acquire rate against SQLite's, non-2xx counts and how many bodies were
what they should be (every acquire `"success": true`, cross-checked against the pool's `inUse`
afterwards). The project's targets, each with 2 workers: acquire/healthz >= 0.5 on SQLite, and a
Redis acquire rate >= 0.8x SQLite's.

    .venv/bin/python bench/acquire_vs_healthz.py                       # sqlite,memory,redis
    .venv/bin/python bench/acquire_vs_healthz.py --stores sqlite,redis
    .venv/bin/python bench/acquire_vs_healthz.py --stores sqlite,stock   # + the reference
    .venv/bin/python bench/acquire_vs_healthz.py --cache-micro         # + what the cache buys

For redis the benchmark starts a redis-server of its own (tests/redis_server.py) on a free
loopback port, never the 6379 a developer may run, with its data dir in the scratch directory and
the durable settings production is told to use: `--appendonly yes --appendfsync always
--save ""`. Its CPU time counts as the server's. Everything it started is stopped at the end,
on an error or a SIGTERM too.

Each run lasts --duration seconds, by default what fits --budget (90 s of wrk in all, at most
5 s a run), so that more stores keep the whole run near a minute and a half.

`stock` is the reference the SQLite target is set against: the same app and SQLite store with
`/graphql` served by graphql-server's view as it comes, without a document cache
(bench/stock_graphql.py).

A store is one entry of STORES: a name, and how to make what it serves (its OBJMGR_STORE URL,
worker count, WSGI app and any server of its own) for the length of the run.
Exit status: 0 when every check passed (whatever the figures), 1 when one failed, 2 when the
benchmark could not run (no wrk or redis-server, a server did not start).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA_SCRIPT = Path(__file__).resolve().with_name("wrk_report.lua")
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
POOL_SIZE = 2_000_000_000  # creating a pool is O(1), so this costs nothing and never runs out
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
TARGET_RATIO = 0.5  # sqlite acquire/healthz, 2 workers
TARGET_REDIS_VS_SQLITE = 0.8  # redis acquire/s over sqlite's, 2 workers each

ACQUIRE = "mutation { acquireObject { success lease { obj token } } }"
VERSION = "{ version }"
IN_USE = "{ pool { inUse } }"


class BenchError(Exception):
    """The benchmark could not run (as opposed to: it ran and a check failed)."""


# What is measured -------------------------------------------------------------------------------
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


# Where the state lives --------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreRun:
    name: str
    url: str  # OBJMGR_STORE
    workers: int
    env: dict[str, str] = field(default_factory=dict)  # more environment for its server
    # Processes outside gunicorn's group that do the store's work: their CPU is the server's too.
    pids: tuple[int, ...] = ()
    about: str = ""  # printed with the server's address
    wsgi_app: str = "app:create_app()"
    pythonpath: Path | None = None  # where gunicorn finds wsgi_app, when not in the project


@contextlib.contextmanager
def redis_store(_args: argparse.Namespace, scratch: Path) -> Iterator[StoreRun]:
    """A redis-server of the benchmark's own, durable as in production, for the whole run."""
    # The tests' helper, so that the bench and the fault tests run the same durable settings.
    # tests/ is not installed; it is importable from the checkout only.
    sys.path.insert(0, str(ROOT))
    try:
        from tests.redis_server import RedisServer
    finally:
        sys.path.remove(str(ROOT))

    try:
        server = RedisServer(scratch / "data")
    except RuntimeError as error:
        raise BenchError(str(error)) from None
    try:
        try:
            server.start()
        except RuntimeError as error:
            raise BenchError(f"redis-server did not start: {error}") from None
        assert server.process is not None
        with server.client() as client:
            version = client.info("server")["redis_version"]
            config = {
                name: client.config_get(name)[name]
                for name in ("appendonly", "appendfsync", "save")
            }
        settings = ", ".join(f"{name} {value!r}" for name, value in config.items())
        yield StoreRun(
            "redis",
            server.url,
            2,
            pids=(server.process.pid,),
            about=f"redis-server {version} pid {server.process.pid}: {settings}",
        )
    finally:
        server.stop()


# name -> (options, a fresh scratch directory) -> the store to serve while the context lasts.
STORES: dict[
    str, Callable[[argparse.Namespace, Path], contextlib.AbstractContextManager[StoreRun]]
] = {
    "sqlite": lambda _args, scratch: contextlib.nullcontext(
        StoreRun("sqlite", f"sqlite:///{scratch / 'objmgr.sqlite3'}", 2)
    ),
    "memory": lambda _args, _scratch: contextlib.nullcontext(StoreRun("memory", "memory://", 1)),
    "redis": redis_store,
    # The same SQLite store behind graphql-server's view as it comes (bench/stock_graphql.py).
    "stock": lambda _args, scratch: contextlib.nullcontext(
        StoreRun(
            "stock",
            f"sqlite:///{scratch / 'objmgr.sqlite3'}",
            2,
            about="graphql-server's GraphQLView unmodified: no document cache",
            wsgi_app="stock_graphql:create_app()",
            pythonpath=Path(__file__).resolve().parent,
        )
    ),
}
DEFAULT_STORES = "sqlite,memory,redis"


# wrk ----------------------------------------------------------------------------------------------
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


def run_wrk(base_url: str, scenario: Scenario, args: argparse.Namespace, seconds: int) -> WrkResult:
    env = {**os.environ, "BENCH_METHOD": scenario.method, "BENCH_EXPECT": scenario.expect}
    env.pop("BENCH_BODY", None)
    if scenario.body is not None:
        env["BENCH_BODY"] = scenario.body
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",  # wrk takes whole seconds
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        base_url + scenario.path,
    ]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=seconds + 20, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish: {' '.join(command)}") from None
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return WrkResult(**json.loads(line.removeprefix("BENCH_RESULT ")))
    raise BenchError(f"wrk gave no result (exit {done.returncode}):\n{done.stdout}{done.stderr}")


# The server ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(group: int, pids: tuple[int, ...] = ()) -> float | None:
    """User and system CPU time of the processes in process group `group` and of `pids`
    (Linux /proc).

    The load on a shared machine moves requests/s; CPU time per request moves much less.
    """
    ticks = 0
    try:
        stats = list(Path("/proc").glob("[0-9]*/stat"))
        hertz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    for path in stats:
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        # After the name: state, ppid, pgrp, ..., utime (14th field of stat), stime (15th).
        if int(fields[2]) == group or int(path.parent.name) in pids:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / hertz


@dataclass(frozen=True)
class Server:
    url: str
    group: int  # the process group of gunicorn's master and workers
    pids: tuple[int, ...] = ()  # the store's own processes (redis-server)

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(self.group, self.pids)


def http_json(url: str, body: dict[str, object] | None = None, timeout: float = 5.0) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


@contextlib.contextmanager
def serving(store: StoreRun, scratch: Path) -> Iterator[Server]:
    """gunicorn serving `store` on a free loopback port."""
    port = free_port()
    # The operator's own OBJMGR_* settings (tokens, waits, ...) do not leak into the run.
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("OBJMGR_")},
        "OBJMGR_STORE": store.url,
        "OBJMGR_WORKERS": str(store.workers),
        "OBJMGR_BIND": f"127.0.0.1:{port}",
        "OBJMGR_POOL_SIZE": str(POOL_SIZE),
        "OBJMGR_ENV": "development",
        "PYTHONUNBUFFERED": "1",
        **store.env,
    }
    log_path = scratch / f"gunicorn-{store.name}.log"
    command = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF), store.wsgi_app]
    if store.pythonpath is not None:
        command[-1:-1] = ["--pythonpath", str(store.pythonpath)]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, base_url, log_path)
        yield Server(base_url, server.pid, store.pids)
    finally:
        stop(server)


def wait_until_serving(server: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"gunicorn exited with {server.returncode}:\n{tail(log_path)}")
        with contextlib.suppress(OSError, ValueError):
            if http_json(base_url + "/healthz", timeout=1.0) == {"status": "ok"}:
                return
        time.sleep(0.1)
    raise BenchError(f"no /healthz within {START_TIMEOUT:g}s:\n{tail(log_path)}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole process group (master and workers), SIGKILL what lingers."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=wait)
            return


def tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


# One store ----------------------------------------------------------------------------------------
@dataclass
class StoreResult:
    store: StoreRun
    series: dict[str, Series]
    in_use: int = 0
    acquire_runs: int = 0  # warm-up included: every one of them took objects
    warmup_acquired: int = 0

    def ratio(self, key: str) -> float:
        healthz = self.series[HEALTHZ.key].rps
        return self.series[key].rps / healthz if healthz else 0.0

    def cpu_ratio(self, key: str) -> str:
        healthz = self.series[HEALTHZ.key].cpu_us_per_request
        other = self.series[key].cpu_us_per_request
        return "-" if healthz is None or not other else f"{healthz / other:.2f}"

    @property
    def acquired(self) -> int:
        """Acquire responses with success true, warm-up included."""
        return self.series["acquire"].total("expected") + self.warmup_acquired


def measure(stores: list[StoreRun], scratch: Path, args: argparse.Namespace) -> list[StoreResult]:
    """Every store served at once; rounds interleave stores and scenarios, so drift hits all."""
    results = [StoreResult(store, {sc.key: Series() for sc in SCENARIOS}) for store in stores]
    with contextlib.ExitStack() as servers:
        running: list[Server] = []
        for store in stores:
            running.append(servers.enter_context(serving(store, scratch)))
            print(f"  {store.name}: {store.workers} worker(s) on {running[-1].url} ({store.url})")
            if store.about:
                print(f"    {store.about}")
        for result, server in zip(results, running, strict=True):
            for scenario in SCENARIOS:
                warm = run_wrk(server.url, scenario, args, args.warmup)
                if scenario.key == "acquire":
                    result.warmup_acquired += warm.expected
                    result.acquire_runs += 1
        for round_no in range(1, args.rounds + 1):
            for result, server in zip(results, running, strict=True):
                figures = []
                for scenario in SCENARIOS:
                    series = result.series[scenario.key]
                    cpu_before = server.cpu_seconds()
                    run = run_wrk(server.url, scenario, args, args.duration)
                    cpu_after = server.cpu_seconds()
                    series.runs.append(run)
                    if cpu_before is None or cpu_after is None or series.cpu_seconds is None:
                        series.cpu_seconds = None
                    else:
                        series.cpu_seconds += cpu_after - cpu_before
                    result.acquire_runs += scenario.key == "acquire"
                    figures.append(f"{scenario.key} {run.rps:,.0f}/s")
                print(
                    f"    round {round_no} {result.store.name}: " + ", ".join(figures), flush=True
                )
        for result, server in zip(results, running, strict=True):
            try:
                answer = http_json(server.url + "/graphql", {"query": IN_USE})
                result.in_use = int(answer["data"]["pool"]["inUse"])  # type: ignore[index]
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise BenchError(f"{result.store.name}: cannot read pool.inUse: {error}") from None
    return results


def problems(result: StoreResult, connections: int) -> list[str]:
    found = []
    name = result.store.name
    for key, series in result.series.items():
        if series.total("non_2xx"):
            found.append(f"{name} {key}: {series.total('non_2xx')} non-2xx responses")
        if series.total("expected") != series.total("responses"):
            bad = series.total("responses") - series.total("expected")
            found.append(f"{name} {key}: {bad} bodies did not match the expected answer")
        if series.total("socket_errors") or series.total("timeouts"):
            found.append(
                f"{name} {key}: {series.total('socket_errors')} socket errors, "
                f"{series.total('timeouts')} timeouts"
            )
    # Requests still in flight when wrk stops were served but not counted: at most one per
    # connection per run.
    low, high = result.acquired, result.acquired + connections * result.acquire_runs
    if not low <= result.in_use <= high:
        found.append(f"{name}: inUse is {result.in_use}, expected {low}..{high} (acquires seen)")
    return found


# Report -------------------------------------------------------------------------------------------
def print_table(results: list[StoreResult], args: argparse.Namespace) -> None:
    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} rounds "
        f"interleaved after a {args.warmup}s warm-up of each; req/s over all rounds"
    )
    header = (
        f"{'store':<8} {'workers':>7}  {'request':<20} {'req/s':>9} {'rounds min..max':>17} "
        f"{'p99 ms':>7} {'CPU us/req':>10} {'non-2xx':>7} {'bodies ok':>17} {'/healthz':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        for scenario in SCENARIOS:
            series = result.series[scenario.key]
            rates = [run.rps for run in series.runs]
            spread = f"{min(rates):,.0f}..{max(rates):,.0f}"
            bodies = f"{series.total('expected')}/{series.total('responses')}"
            cpu = series.cpu_us_per_request
            cpu_text = "-" if cpu is None else f"{cpu:,.0f}"
            print(
                f"{result.store.name:<8} {result.store.workers:>7}  {scenario.label:<20} "
                f"{series.rps:>9,.0f} {spread:>17} {series.p99_ms:>7.1f} {cpu_text:>10} "
                f"{series.total('non_2xx'):>7} {bodies:>17} {result.ratio(scenario.key):>8.2f}"
            )
    helped = [result.store.name for result in results if result.store.pids]
    if helped:
        print(f"(CPU us/req of {', '.join(helped)} includes its store's own server process)")
    print()
    baseline = find(results, "sqlite")
    header = (
        f"{'store':<8} {'workers':>7} {'acquire/s':>10} {'healthz/s':>10} "
        f"{'acquire/healthz':>15} {'by CPU':>6} {'version/healthz':>15} {'by CPU':>6} "
        f"{'acquire vs sqlite':>17} {'by CPU':>6} {'inUse after':>11}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        versus = versus_cpu = "-"
        if baseline is not None and baseline.series["acquire"].rps:
            versus = f"{versus_sqlite(result, baseline):.2f}x"
            mine = result.series["acquire"].cpu_us_per_request
            theirs = baseline.series["acquire"].cpu_us_per_request
            if mine and theirs:
                versus_cpu = f"{theirs / mine:.2f}x"
        print(
            f"{result.store.name:<8} {result.store.workers:>7} "
            f"{result.series['acquire'].rps:>10,.0f} {result.series['healthz'].rps:>10,.0f} "
            f"{result.ratio('acquire'):>15.2f} {result.cpu_ratio('acquire'):>6} "
            f"{result.ratio('version'):>15.2f} {result.cpu_ratio('version'):>6} "
            f"{versus:>17} {versus_cpu:>6} {result.in_use:>11,}"
        )
    print(
        "(by CPU: the ratio if the server's CPU time per request were all that counted; "
        "a ratio well below it means requests wait: on the disk, on locks)"
    )
    print()
    for line in target_lines(results):
        print(line)


def find(results: list[StoreResult], name: str) -> StoreResult | None:
    return next((result for result in results if result.store.name == name), None)


def versus_sqlite(result: StoreResult, sqlite: StoreResult) -> float:
    baseline = sqlite.series["acquire"].rps
    return result.series["acquire"].rps / baseline if baseline else 0.0


def target_lines(results: list[StoreResult]) -> list[str]:
    """One line per target of the project: its figure and whether it is met."""
    sqlite, redis = find(results, "sqlite"), find(results, "redis")
    lines = []
    label = f"target sqlite acquire/healthz >= {TARGET_RATIO} (2 workers):"
    if sqlite is None or sqlite.store.workers != 2:
        lines.append(f"{label:<48} not measured (needs --stores sqlite)")
    else:
        ratio = sqlite.ratio("acquire")
        lines.append(f"{label:<48} {ratio:.2f}  {verdict(ratio >= TARGET_RATIO)}")
    label = f"target redis acquire >= {TARGET_REDIS_VS_SQLITE}x sqlite's (2 workers):"
    if sqlite is None or redis is None or sqlite.store.workers != 2 or redis.store.workers != 2:
        lines.append(f"{label:<48} not measured (needs --stores sqlite,redis)")
    else:
        ratio = versus_sqlite(redis, sqlite)
        lines.append(f"{label:<48} {ratio:.2f}x {verdict(ratio >= TARGET_REDIS_VS_SQLITE)}")
    stock = find(results, "stock")
    if sqlite is not None and stock is not None and stock.ratio("acquire"):
        lines.append(
            f"{'reference: stock graphql-server acquire/healthz:':<48} "
            f"{stock.ratio('acquire'):.2f}  (sqlite's is "
            f"{sqlite.ratio('acquire') / stock.ratio('acquire'):.2f}x that)"
        )
    return lines


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


# Document cache micro-benchmark -------------------------------------------------------------------
def cache_micro(iterations: int) -> None:
    """Per-request microseconds of parse+validate against a DocumentCache hit, in-process."""
    from graphql import execute

    from app.api.documents import DocumentCache
    from app.api.schema import schema
    from app.pool.lease import Caller
    from app.service import LeaseService
    from app.stores.memory import MemoryStore

    graphql_schema = schema.graphql_schema
    cache = DocumentCache(graphql_schema, introspection=True)
    service = LeaseService(MemoryStore())
    service.store.ensure_pool("default", POOL_SIZE)

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
    context = {"service": service, "caller": Caller.auth_off(), "request": None}
    for label, query in (("acquireObject", ACQUIRE), ("{ version }", VERSION)):
        prepared = cache.get(query)
        assert not isinstance(prepared, tuple), prepared
        document = prepared.document
        uncached = per_call_us(lambda q=query: cache._load(q))
        cached = per_call_us(lambda q=query: cache.get(q))
        executed = per_call_us(
            lambda d=document: execute(graphql_schema, d, context_value=context)  # type: ignore[arg-type]
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
        help=f"comma-separated, served side by side: {', '.join(STORES)} "
        f"(default: {DEFAULT_STORES})",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument(
        "--budget",
        type=float,
        default=90.0,
        help="seconds of wrk in all, warm-ups included, when --duration is not given (default 90)",
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
    unknown = [name for name in names if name not in STORES]
    if not names or unknown:
        parser.error(f"--stores: expected some of {', '.join(STORES)}, got {args.stores!r}")
    args.store_names = names
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
    runs = len(args.store_names) * len(SCENARIOS)
    if args.duration is None:
        args.duration = int(min(5, max(1, (args.budget / runs - args.warmup) // args.rounds)))
    planned = runs * (args.warmup + args.rounds * args.duration)
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
            # Whatever a store started (redis-server) stops here, before its directory goes.
            with contextlib.ExitStack() as backends:
                stores = []
                for name in args.store_names:
                    (scratch / name).mkdir()
                    stores.append(backends.enter_context(STORES[name](args, scratch / name)))
                results = measure(stores, scratch, args)
        except BenchError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 2
    print_table(results, args)
    print(
        f"load average {load_before} before, {load_average()} after: other work on the host "
        "moves req/s; the ratios and CPU us/req move less"
    )
    if args.cache_micro:
        cache_micro(args.micro_iterations)
    found = [problem for result in results for problem in problems(result, args.connections)]
    for problem in found:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
