"""Real gunicorn servers for the live tests, and a small GraphQL client.

Kept out of conftest.py so that test modules and client processes can
import it by name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import requests
from objmgr_client.operations import ACQUIRE, FREE, LEASE, LEASES, POOL

from ..conditions import poll_until, wait_until
from ..support.gunicorn import (
    ROOT,
    START_TIMEOUT,
    STOP_TIMEOUT,
    clean_environment,
    gunicorn_argv,
    wait_until_serving,
)
from ..support.ports import free_port
from ..support.processes import alive, children, spawn, stop_group
from ..support.processes import die_with_parent as _die_with_parent

# Re-exported for the live tests that import them from here.
__all__ = [
    "HTTP_TIMEOUT",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "GraphQL",
    "LiveServer",
    "Outcome",
    "_die_with_parent",
    "alive",
    "free_port",
    "hammer",
    "poll_until",
    "spawn",
    "wait_until",
    "wait_until_serving",
]

POLL = 0.05
HTTP_TIMEOUT = 30.0


class GraphQL:
    """POSTs operations to /graphql as JSON; one keep-alive connection."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.url = f"{base_url}/graphql"
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def post(
        self, query: str, variables: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, Any], int]:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = dict(variables)
        response = self.session.post(self.url, json=body, timeout=HTTP_TIMEOUT)
        return response.json(), response.status_code

    def data(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of an operation that must succeed at the GraphQL level."""
        body, status = self.post(query, variables)
        assert status == 200 and "errors" not in body, (status, body)
        return body["data"]

    def acquire(self, **variables: Any) -> dict[str, Any]:
        return self.data(ACQUIRE, variables)["acquireObject"]

    def free(self, obj: int, **variables: Any) -> dict[str, Any]:
        return self.data(FREE, {"obj": obj, **variables})["freeObject"]

    def pool(self, name: str = "default") -> dict[str, Any]:
        return self.data(POOL, {"name": name})["pool"]

    def leases(self, name: str = "default") -> list[dict[str, Any]]:
        """Every lease of the pool, in object order (a pool of the tests holds at most 1000)."""
        return self.data(LEASES, {"name": name, "first": 1000})["pool"]["leases"]

    def lease(self, obj: int, pool: str = "default") -> dict[str, Any] | None:
        return self.data(LEASE, {"obj": obj, "pool": pool})["lease"]

    def close(self) -> None:
        self.session.close()


class LiveServer:
    """One gunicorn master with its workers, configured by OBJMGR_* only.

    The port and the SQLite file stay the same across `restart`, as they would
    for a service restarted by its supervisor.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.database = directory / "objmgr.sqlite3"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}
        self.overrides: dict[str, str | None] = {}
        self.stdout_path = directory / "stdout.log"
        self.stderr_path = directory / "stderr.log"
        self._runs = 0
        # A short private directory for gunicorn's control socket: by default
        # every gunicorn of the user shares ~/.gunicorn/gunicorn.ctl, and a test
        # server would take it over from whatever else runs on the machine.
        self._runtime = Path(tempfile.mkdtemp(prefix="objmgr-live-"))

    # starting -----------------------------------------------------------
    def spawn(self, overrides: Mapping[str, str | None] | None = None) -> subprocess.Popen[bytes]:
        """Start gunicorn without waiting for it to serve; None in `overrides` unsets."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("this server is running; stop it first")
        # Nothing from the developer's shell may configure the server under test
        # (GUNICORN_CMD_ARGS would, behind OBJMGR_*'s back).
        self.overrides = dict(overrides or {})
        env = clean_environment(
            {
                "OBJMGR_STORE": f"sqlite:///{self.database}",
                "OBJMGR_BIND": f"127.0.0.1:{self.port}",
                "OBJMGR_WORKERS": "2",
                "XDG_RUNTIME_DIR": str(self._runtime),
                "PYTHONUNBUFFERED": "1",
                **self.overrides,
            }
        )
        self.env = env
        self._runs += 1
        self.stdout_path = self.directory / f"stdout.{self._runs}.log"
        self.stderr_path = self.directory / f"stderr.{self._runs}.log"
        self.process = spawn(
            gunicorn_argv(),
            ROOT,
            env,
            self.stdout_path,
            self.stderr_path,
        )
        return self.process

    def start(self, overrides: Mapping[str, str | None] | None = None) -> str:
        """Start gunicorn; return its base URL once it serves with all its workers."""
        process = self.spawn(overrides)
        self._wait_ready(process)
        return self.base_url

    def restart(self, overrides: Mapping[str, str | None] | None = None) -> str:
        """Start again on the same port and SQLite file, by default with the same settings."""
        if self.process is not None and self.process.poll() is None:
            self.stop()
        return self.start(self.overrides if overrides is None else overrides)

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        wait_until_serving(process, self.base_url, self.output)
        expected = int(self.env.get("OBJMGR_WORKERS", "2"))
        wait_until(
            lambda: len(self.workers()) == expected,
            max(0.0, deadline - time.monotonic()),
            f"{expected} workers",
        )

    def wait_exit(self, timeout: float = START_TIMEOUT) -> int:
        """The exit code of a server expected to refuse to start."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError(
                f"gunicorn was expected to exit but kept running:\n{self.output()}"
            ) from None

    # observing ----------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def workers(self) -> list[int]:
        return children(self.pid) if self.process is not None else []

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        out = self.stdout_path.read_text(errors="replace")
        return f"--- stdout ---\n{out[-4000:]}\n--- stderr ---\n{self.stderr()[-4000:]}"

    def client(self, token: str | None = None) -> GraphQL:
        """A new client, hence a new connection (see `only_worker`)."""
        return GraphQL(self.base_url, token)

    def acquire_once(self, **variables: Any) -> dict[str, Any]:
        """One acquire on a connection of its own, closed after its answer."""
        client = self.client()
        try:
            return client.acquire(**variables)
        finally:
            client.close()

    def waiting(self, pool: str = "default") -> int:
        """The pool's waiters, asked on a new connection: under `only_worker`, the worker
        let through answers."""
        observer = self.client()
        try:
            return int(observer.pool(pool)["waiting"])
        finally:
            observer.close()

    @contextlib.contextmanager
    def only_worker(self, pid: int) -> Iterator[None]:
        """Let one worker take new connections by stopping (SIGSTOP) the others.

        The kernel hands a new connection to whichever worker calls accept(),
        so this is how a test chooses the worker that serves a request. A
        worker stopped inside a write transaction would block the store for
        everyone, so it is let go and stopped again until it holds no lock.
        (Should pytest itself be SIGKILLed inside this block, the stopped
        workers outlive it: nothing can run in them to notice.)
        """
        others = [worker for worker in self.workers() if worker != pid]
        try:
            for _attempt in range(50):
                for other in others:
                    os.kill(other, signal.SIGSTOP)
                if not self._store_write_locked():
                    break
                for other in others:
                    os.kill(other, signal.SIGCONT)
                time.sleep(POLL)
            else:
                raise AssertionError("a stopped worker kept the store locked")
            yield
        finally:
            for other in others:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(other, signal.SIGCONT)

    def _store_write_locked(self) -> bool:
        """Whether a writer holds the store: the `flock` writers take beside the
        database before BEGIN and let go after COMMIT, or SQLite's write lock."""
        if not self.database.exists():
            return False
        lock = self.database.with_name(self.database.name + ".lock")
        if lock.exists():
            fd = os.open(lock, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            finally:
                os.close(fd)  # closing lets go of a lock taken
        conn = sqlite3.connect(self.database, timeout=0.2, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            conn.close()

    # stopping -----------------------------------------------------------
    def stop(self) -> None:
        """Quick shutdown (SIGINT), then SIGKILL for whatever is left of the group.

        Not SIGTERM: a graceful stop waits for idle keep-alive connections,
        seconds per test that tell nothing.
        """
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT)
        self._kill_group()

    def kill9(self) -> None:
        """SIGKILL the master and every worker at once, as a crash or OOM kill would."""
        if self.process is None:
            return
        workers = self.workers()
        self._kill_group()
        wait_until(lambda: not any(alive(pid) for pid in workers), STOP_TIMEOUT, "workers to die")

    def kill_worker(self, pid: int) -> None:
        """SIGKILL one worker, as the OOM killer would; the master forks a new one."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not alive(pid), STOP_TIMEOUT, f"worker {pid} to die")

    def _kill_group(self) -> None:
        assert self.process is not None
        stop_group(self.process, timeout=STOP_TIMEOUT)

    def close(self) -> None:
        """Kill the server, whatever state it is in, and drop its control socket directory."""
        try:
            if self.process is not None:
                self._kill_group()
        finally:
            shutil.rmtree(self._runtime, ignore_errors=True)


Outcome = tuple[int | None, int | None, str | None]


def hammer(base_url: str, attempts: int, label: str, start: Any, results: Any) -> None:
    """Body of a client process: `attempts` acquires in a row, reported as (obj, token, code).

    `start` is a multiprocessing barrier so that every process begins at once.
    """
    try:
        client = GraphQL(base_url)
        start.wait(timeout=HTTP_TIMEOUT)
        outcomes: list[Outcome] = []
        for _ in range(attempts):
            payload = client.acquire(label=label)
            lease = payload["lease"]
            if payload["success"]:
                outcomes.append((lease["obj"], lease["token"], None))
            else:
                outcomes.append((None, None, payload["code"]))
        results.put((label, outcomes))
    except BaseException as error:
        results.put((label, f"client process failed: {error!r}"))
