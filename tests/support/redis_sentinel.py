"""Replicated Redis of the tests' own: a primary with one replica, and that pair
watched by three Sentinels, all real processes on free loopback ports.

- `launch_replicated(dir)`: a primary and a replica (`--replicaof`), returned
  once replication runs.
- `launch_sentinels(dir)`: the pair plus three `redis-server --sentinel`, each
  with its own generated sentinel.conf, returned once every Sentinel knows the
  replica and the other Sentinels (a failover needs both). Its `url` is the
  store's `redis+sentinel://` URL; `kill`, `pause`, `resume` act on a data
  node by its PID; `wait_failover` waits, on what the Sentinels and the new
  primary report, for a failover to complete; `reattach` restarts a killed
  node as a replica of the current primary.

Every wait is bounded in time and in count, and waits on what the servers
report, never on a fixed delay.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .ports import free_port
from .redis_server import START_TIMEOUT, STOP_TIMEOUT, RedisServer

MASTER = "objmgr"
#: How long a primary may not answer before a Sentinel thinks it down: short,
#: so a failover takes a few seconds, yet above the Sentinel's ping period of a
#: second (at or below it, a Sentinel pings as often as this and takes the
#: primary it has just switched to for down before its first ping is answered).
DOWN_AFTER_MS = 1500
#: Bounds a failover, and spaces two failovers of the same primary name by twice it.
FAILOVER_TIMEOUT_MS = 2000
#: Sentinels that must agree a primary is down before one fails it over.
QUORUM = 2
SENTINELS = 3
#: Long enough for detection, election, promotion and the Sentinels' gossip.
FAILOVER_WAIT = 20.0
POLL = 0.02


def _client(port: int, timeout: float = 0.5, password: str | None = None) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        password=password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )


def _until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / POLL) + 2):
        if predicate():
            return
        if time.monotonic() > deadline:
            break
        time.sleep(POLL)
    raise AssertionError(f"gave up after {timeout:g}s waiting for {what}")


def _quietly(query: Callable[[], Any]) -> Any:
    """`query`'s answer, or None when the server cannot answer now."""
    try:
        return query()
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError, OSError):
        return None


class DataNode(RedisServer):
    """A redis-server that replicates `replicaof` (a port of 127.0.0.1) when set.

    `replicaof` is read at each start only: a Sentinel moves roles at run time,
    so a restart says again what the node must be.
    """

    def __init__(self, datadir: Path, port: int | None = None, replicaof: int | None = None):
        super().__init__(datadir, port)
        self.replicaof = replicaof

    @property
    def pid(self) -> int:
        assert self.process is not None, "the node is not running"
        return self.process.pid

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def command(self) -> list[str]:
        # A replica's full sync starts at once, not after Redis' default wait
        # for more replicas to share it (5 s): a failover's aftermath is shorter.
        command = [*super().command(), "--repl-diskless-sync-delay", "0"]
        if self.replicaof is not None:
            command += ["--replicaof", "127.0.0.1", str(self.replicaof)]
        return command

    def info(self, section: str = "replication") -> dict[str, Any]:
        with _client(self.port) as client:
            answer: dict[str, Any] = client.info(section)
            return answer

    def role(self) -> str | None:
        """`master` or `slave` as the node says; None when it cannot answer."""
        with _client(self.port) as client:
            answer = _quietly(client.role)
        return None if not answer else str(answer[0])


def replicating(primary: DataNode, replica: DataNode) -> bool:
    """Whether `replica` is linked to `primary` and `primary` counts it."""
    theirs = _quietly(replica.info)
    ours = _quietly(primary.info)
    if not theirs or not ours:
        return False
    return (
        theirs.get("master_link_status") == "up"
        and int(theirs.get("master_port", 0)) == primary.port
        and int(ours.get("connected_slaves", 0)) >= 1
    )


def wait_replicating(primary: DataNode, replica: DataNode, timeout: float = START_TIMEOUT) -> None:
    _until(lambda: replicating(primary, replica), timeout, "the replica's link to its primary")


def offsets_equal(primary: DataNode, replica: DataNode) -> bool:
    """Whether the replica has processed all the primary sent (no write in between)."""
    theirs, ours = _quietly(replica.info), _quietly(primary.info)
    if not theirs or not ours:
        return False
    return int(theirs.get("slave_repl_offset", -1)) == int(ours.get("master_repl_offset", -2))


@dataclass
class ReplicatedRedis:
    """A primary and one replica of it."""

    primary: DataNode
    replica: DataNode

    @property
    def url(self) -> str:
        return self.primary.url

    def close(self) -> None:
        for node in (self.replica, self.primary):
            node.kill()


def launch_replicated(datadir: Path) -> ReplicatedRedis:
    """A primary and its replica on free ports, returned once replication runs."""
    for attempt in range(3):
        primary = DataNode(datadir / "primary")
        replica = DataNode(datadir / "replica", replicaof=primary.port)
        try:
            primary.start()
            replica.start()
            wait_replicating(primary, replica)
        except (RuntimeError, AssertionError):
            replica.kill()
            primary.kill()
            if attempt == 2:
                raise
            continue
        return ReplicatedRedis(primary, replica)
    raise AssertionError("unreachable")


class SentinelProcess:
    """One `redis-server --sentinel`, its sentinel.conf generated in its own dir
    (a Sentinel rewrites its file as it learns)."""

    def __init__(
        self,
        directory: Path,
        primary_port: int,
        requirepass: str | None = None,
        master: str = MASTER,
    ) -> None:
        """`requirepass`: the Sentinel's own password, asked of its clients;
        `master`: the name it watches the primary by (another name, another group)."""
        self.requirepass = requirepass
        self.master = master
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed")
        self.executable = executable
        self.directory = directory
        self.port = free_port()
        self.primary_port = primary_port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.directory / "sentinel.conf"

    def client(self) -> redis.Redis:
        return _client(self.port, password=self.requirepass)

    def write_conf(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f"dir {self.directory}",
                    f"logfile {self.directory / 'sentinel.log'}",
                    "daemonize no",
                    "sentinel resolve-hostnames no",
                    f"sentinel monitor {self.master} 127.0.0.1 {self.primary_port} {QUORUM}",
                    f"sentinel down-after-milliseconds {self.master} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {self.master} {FAILOVER_TIMEOUT_MS}",
                    f"sentinel parallel-syncs {self.master} 1",
                    *([f"requirepass {self.requirepass}"] if self.requirepass else []),
                    "",
                ]
            )
        )

    def start(self) -> None:
        self.write_conf()
        self.process = subprocess.Popen(
            [self.executable, str(self.conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process = self.process

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"redis-sentinel exited at start:\n{self.log_tail()}")
            with self.client() as client:
                return _quietly(client.ping) is True

        _until(answers, START_TIMEOUT, "a Sentinel to answer")

    def kill(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)
        self.process = None

    def master_state(self) -> dict[str, Any] | None:
        """What this Sentinel knows of the primary (`SENTINEL MASTER`), None if it cannot say."""
        with self.client() as client:
            state: dict[str, Any] | None = _quietly(lambda: client.sentinel_master(MASTER))
            return state

    def replicas(self) -> list[dict[str, Any]]:
        with self.client() as client:
            return list(_quietly(lambda: client.sentinel_slaves(MASTER)) or [])

    def primary_address(self) -> tuple[str, int] | None:
        with self.client() as client:
            answer = _quietly(lambda: client.sentinel_get_master_addr_by_name(MASTER))
        return None if not answer else (str(answer[0]), int(answer[1]))

    def log_tail(self, lines: int = 20) -> str:
        log = self.directory / "sentinel.log"
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class SentinelRedis:
    """Two data nodes (one primary, one replica) and three Sentinels watching them."""

    nodes: list[DataNode]
    sentinels: list[SentinelProcess]
    failovers: int = field(default=0)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER}/0"

    def primary_address(self) -> tuple[str, int] | None:
        """The primary a quorum of Sentinels reports, None while they disagree."""
        said: dict[tuple[str, int], int] = {}
        for sentinel in self.sentinels:
            address = sentinel.primary_address()
            if address is not None:
                said[address] = said.get(address, 0) + 1
        for address, count in said.items():
            if count >= QUORUM:
                return address
        return None

    def node_at(self, port: int) -> DataNode:
        for node in self.nodes:
            if node.port == port:
                return node
        raise LookupError(f"no data node of ours listens on {port}")

    @property
    def primary(self) -> DataNode:
        address = self.primary_address()
        assert address is not None, "the Sentinels do not agree on a primary"
        return self.node_at(address[1])

    @property
    def replica(self) -> DataNode:
        primary = self.primary
        return next(node for node in self.nodes if node is not primary)

    def config_epoch(self) -> int:
        """The highest `config-epoch` of the primary any Sentinel reports."""
        states = [sentinel.master_state() for sentinel in self.sentinels]
        return max(int(state["config-epoch"]) for state in states if state)

    def kill(self, node: DataNode) -> None:
        """kill -9 of a data node, by its PID."""
        node.kill()

    def pause(self, node: DataNode) -> None:
        node.pause()

    def resume(self, node: DataNode) -> None:
        node.resume()

    def watched(self) -> bool:
        """Whether every Sentinel sees the primary up, the replica linked to it,
        and the other Sentinels: a failover can happen."""
        address = self.primary_address()
        if address is None:
            return False
        replica_ports = {node.port for node in self.nodes if node.port != address[1]}
        for sentinel in self.sentinels:
            state = sentinel.master_state()
            if not state or state["is_sdown"] or state["is_odown"]:
                return False
            if (state["ip"], int(state["port"])) != address:
                return False
            if int(state["num-other-sentinels"]) < SENTINELS - 1:
                return False
            healthy = {
                int(replica["port"])
                for replica in sentinel.replicas()
                if not replica["is_sdown"]
                and not replica["is_odown"]
                and replica.get("master-link-status") == "ok"
                and int(replica.get("master-port", 0)) == address[1]
            }
            if not replica_ports <= healthy:
                return False
        return True

    def wait_watched(self, timeout: float = FAILOVER_WAIT) -> None:
        _until(self.watched, timeout, "the Sentinels to watch the primary and its replica")

    def wait_failover(self, old: DataNode, timeout: float = FAILOVER_WAIT) -> DataNode:
        """The new primary, once every Sentinel reports it in place of `old` and it
        says it is a primary."""

        def switched() -> bool:
            addresses = {sentinel.primary_address() for sentinel in self.sentinels}
            if len(addresses) != 1:
                return False
            (address,) = addresses
            if address is None or address[1] == old.port:
                return False
            return self.node_at(address[1]).role() == "master"

        _until(switched, timeout, f"a failover away from port {old.port}")
        self.failovers += 1
        return self.primary

    def reattach(self, node: DataNode, timeout: float = FAILOVER_WAIT) -> None:
        """Start a killed node again as a replica of the current primary, and wait
        until the Sentinels watch it as one."""
        node.kill()
        _until(
            lambda: (self.primary_address() or node.address) != node.address,
            timeout,
            "the Sentinels to name another primary",
        )
        primary = self.primary
        node.replicaof = primary.port
        node.start()
        wait_replicating(primary, node, timeout)
        self.wait_watched(timeout)

    def isolate_replica(self) -> DataNode:
        """Freeze the replica (SIGSTOP) and cut its link from the primary's side,
        so what the primary writes from now on never reaches it. Returns it."""
        primary, replica = self.primary, self.replica
        replica.pause()
        with _client(primary.port) as client:
            client.client_kill_filter(_type="replica")
        _until(
            lambda: int((_quietly(primary.info) or {}).get("connected_slaves", 1)) == 0,
            START_TIMEOUT,
            "the primary to drop its replica",
        )
        return replica

    def reset(self) -> None:
        """Both nodes running and replicating, watched, and the data emptied: what a
        test of a module sharing the topology starts from, whatever the last one did."""
        for node in self.nodes:
            if node.running:
                node.resume()  # a test that failed while it was frozen
        for node in self.nodes:
            if not node.running:
                self.reattach(node)
        self.wait_watched()
        primary, replica = self.primary, self.replica
        with primary.client() as client:
            client.flushall()
        _until(lambda: offsets_equal(primary, replica), START_TIMEOUT, "the replica to catch up")

    def close(self) -> None:
        for sentinel in self.sentinels:
            sentinel.kill()
        for node in self.nodes:
            node.kill()


def launch_sentinels(datadir: Path) -> SentinelRedis:
    """A primary, its replica and three Sentinels, returned once a failover can happen."""
    for attempt in range(3):
        pair = launch_replicated(datadir / f"try{attempt}")
        sentinels = [
            SentinelProcess(datadir / f"try{attempt}" / f"sentinel{index}", pair.primary.port)
            for index in range(SENTINELS)
        ]
        topology = SentinelRedis([pair.primary, pair.replica], sentinels)
        try:
            for sentinel in sentinels:
                sentinel.start()
            topology.wait_watched()
        except (RuntimeError, AssertionError):
            topology.close()
            if attempt == 2:
                raise
            continue
        return topology
    raise AssertionError("unreachable")


@contextlib.contextmanager
def sentinel_redis(datadir: Path) -> Iterator[SentinelRedis]:
    topology = launch_sentinels(datadir)
    try:
        yield topology
    finally:
        topology.close()


@contextlib.contextmanager
def replicated_redis(datadir: Path) -> Iterator[ReplicatedRedis]:
    pair = launch_replicated(datadir)
    try:
        yield pair
    finally:
        pair.close()
