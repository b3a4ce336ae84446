"""A real redis-server of the tests' own, which fault tests can kill and start again.

It listens on a free loopback port (never the 6379 a developer may run) and
keeps an append-only file synced on every write in its own data dir, so a
SIGKILL loses nothing Redis acknowledged, as in production with AOF.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TypeVar, overload

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .ports import free_port

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class RedisServer:
    """One redis-server process; `restart` keeps its port and data dir."""

    def __init__(self, datadir: Path, port: int | None = None) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError(
                "redis-server is not installed: `make system-deps` or "
                "`apt-get install -y redis-server` installs it"
            )
        self.executable = executable
        self.datadir = datadir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self, timeout: float = 1.0) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def command(self) -> list[str]:
        return [
            self.executable,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.datadir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.datadir / "redis.log"),
        ]

    def start(self) -> None:
        """Start the server and return once it answers PING (data loaded)."""
        assert not self.running, "redis-server is running already"
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_TIMEOUT
        with self.client(timeout=0.5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited at start:\n{self.log_tail()}")
                try:
                    client.ping()
                    return
                except redis.ConnectionError:  # refused, or LOADING the AOF
                    time.sleep(0.02)
        self.kill()
        raise RuntimeError(
            f"redis-server did not answer within {START_TIMEOUT}s:\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last save; only what is in the AOF survives."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def restart(self) -> None:
        """Kill the server and start it again on the same port and data dir."""
        self.kill()
        self.start()

    def pause(self) -> None:
        """Freeze the server: connections stay open and nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def _end(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a paused server cannot act on SIGTERM
            self.process.send_signal(sig)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        self.process = None

    def stalled(self) -> bool:
        """Whether the server has stopped answering (paused, or running DEBUG SLEEP)."""
        probe = redis.Redis(port=self.port, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))
        with probe:
            try:
                probe.ping()
            except (redis.TimeoutError, redis.ConnectionError):
                return True
        return False

    def log_tail(self, lines: int = 20) -> str:
        log = self.datadir / "redis.log"
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


class DebuggableRedisServer(RedisServer):
    """A redis-server that takes `DEBUG` commands (`DEBUG SLEEP`) from loopback."""

    def command(self) -> list[str]:
        return [*super().command(), "--enable-debug-command", "local"]


R = TypeVar("R", bound=RedisServer)


@overload
def launch_redis(datadir: Path) -> RedisServer: ...
@overload
def launch_redis(datadir: Path, kind: type[R]) -> R: ...
def launch_redis(datadir: Path, kind: type[RedisServer] = RedisServer) -> RedisServer:
    """A started server of `kind`; another free port if the one picked was taken meanwhile."""
    for attempt in range(3):
        server = kind(datadir)
        try:
            server.start()
        except RuntimeError:
            if attempt == 2:
                raise
            continue
        return server
    raise AssertionError("unreachable")
