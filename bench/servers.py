"""The servers under test: a store for each name the benchmark takes, and gunicorn serving it.

A store is one entry of STORES: a name, and how to make what it serves (its OBJMGR_STORE URL,
worker count, WSGI app and any server of its own) for the length of the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import gunicorn
from tests.support.ports import free_port
from tests.support.processes import cpu_seconds, spawn, stop_group
from tests.support.redis_server import RedisServer

from .wrk import SCENARIOS, BenchError, Scenario

POOL_SIZE = 2_000_000_000  # creating a pool is O(1), so this costs nothing and never runs out

BATCH_COUNT = 10
ACQUIRE_BATCH = (
    f"mutation {{ acquireObjects(count: {BATCH_COUNT}) {{ success leases {{ obj token }} }} }}"
)
_LEASE = r'{"obj":%s*%d+,%s*"token":%s*"?%d+"?}'
# The whole list in one pattern: an answered set holds exactly BATCH_COUNT leases.
BATCH = Scenario(
    "batch",
    f"POST acquireObjects({BATCH_COUNT})",
    "POST",
    "/graphql",
    r'"success":%s*true,%s*"leases":%s*%[' + r",%s*".join([_LEASE] * BATCH_COUNT) + r"%]",
    ACQUIRE_BATCH,
)
# What every objmgr server is asked, and how many leases an expected answer of each holds.
OBJMGR_SCENARIOS = (*SCENARIOS, BATCH)
LEASES_PER_ANSWER = {"acquire": 1, "batch": BATCH_COUNT}


@dataclass(frozen=True)
class StoreRun:
    name: str
    url: str  # OBJMGR_STORE
    workers: int
    env: dict[str, str] = field(default_factory=dict)  # more environment for its server
    # Processes outside gunicorn's group that do the store's work: their CPU is the server's too.
    pids: tuple[int, ...] = ()
    about: str = ""  # printed with the server's address
    wsgi_app: str = gunicorn.WSGI_APP


@contextlib.contextmanager
def redis_store(_args: argparse.Namespace, scratch: Path) -> Iterator[StoreRun]:
    """A redis-server of the benchmark's own, durable as in production, for the whole run.

    The tests' server (tests/support/redis_server.py), so that the bench and the fault tests
    run the same durable settings.
    """
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
            wsgi_app="bench.stock_graphql:create_app()",
        )
    ),
}
# Servers that are not objmgr, measured in the same rounds (bench/etcd_peer.py).
PEERS = ("etcd",)
DEFAULT_STORES = "sqlite,redis,stock,etcd"


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


def http_status(url: str, timeout: float = 5.0) -> int:
    """The status a GET of `url` answers, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def settings_of(store: StoreRun) -> dict[str, str]:
    return {
        "OBJMGR_STORE": store.url,
        "OBJMGR_WORKERS": str(store.workers),
        "OBJMGR_POOL_SIZE": str(POOL_SIZE),
        "OBJMGR_ENV": "development",
        **store.env,
    }


@contextlib.contextmanager
def serving(store: StoreRun, scratch: Path) -> Iterator[Server]:
    """gunicorn serving `store` on a free loopback port; the operator's own OBJMGR_* settings
    (tokens, waits, ...) do not leak into the run."""
    settings = settings_of(store)
    try:
        with gunicorn.serving(settings, scratch, f"gunicorn-{store.name}", store.wsgi_app) as live:
            yield Server(live.base_url, live.group, store.pids)
    except gunicorn.ServerDidNotStart as error:
        raise BenchError(str(error)) from None


@contextlib.contextmanager
def serving_tree(store: StoreRun, scratch: Path, tree: Path) -> Iterator[Server]:
    """gunicorn serving `store` with the code of another checkout of the project, `tree`
    (a git worktree), from this interpreter's environment.

    `tree` comes first on the path (PYTHONPATH, the working directory, --chdir), so its
    `app` and its deploy/gunicorn.conf.py are the ones imported, not the checkout's.
    """
    port = free_port()
    log = scratch / f"gunicorn-{store.name}.log"
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(tree / "deploy" / "gunicorn.conf.py"),
        "--chdir",
        str(tree),
        store.wsgi_app,
    ]
    with gunicorn.private_runtime_dir() as runtime:
        env = gunicorn.clean_environment(
            {
                "OBJMGR_BIND": f"127.0.0.1:{port}",
                "XDG_RUNTIME_DIR": str(runtime),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": str(tree),
                **settings_of(store),
            }
        )
        process = spawn(argv, tree, env, log)
        base_url = f"http://127.0.0.1:{port}"
        try:
            gunicorn.wait_until_serving(process, base_url, lambda: gunicorn.tail(log))
            yield Server(base_url, process.pid, store.pids)
        except gunicorn.ServerDidNotStart as error:
            raise BenchError(str(error)) from None
        finally:
            stop_group(process, signal.SIGINT, gunicorn.STOP_TIMEOUT)
