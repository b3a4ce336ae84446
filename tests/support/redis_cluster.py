"""A real Redis Cluster of the tests' own: three primaries on free loopback ports.

Each primary is a `redis-server --cluster-enabled yes` with its own data dir
and append-only file; `redis-cli --cluster create` assigns the slots. A node
also listens on its cluster bus port (its port + 10000), so both ports are
picked free. `move_slot` hands one slot to another node the way
`redis-cli --cluster reshard` does (CLUSTER SETSLOT IMPORTING/MIGRATING,
MIGRATE of its keys, SETSLOT NODE everywhere), one key at a time with a hook
between keys, so a test can act while the slot is half moved.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from .ports import free_port
from .redis_server import RedisServer

BUS_OFFSET = 10000
SLOTS = 16384
READY_TIMEOUT = 30.0
CREATE_TIMEOUT = 60.0
MIGRATE_TIMEOUT_MS = 5000
PORT_TRIES = 50


def _bus_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port + BUS_OFFSET))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free loopback port whose cluster bus port is free too."""
    for _ in range(PORT_TRIES):
        port = free_port()
        if port + BUS_OFFSET < 65536 and _bus_free(port):
            return port
    raise RuntimeError("no free port with a free cluster bus port")


class ClusterNodeServer(RedisServer):
    """One primary of the cluster; its `nodes.conf` lives in its data dir."""

    def command(self) -> list[str]:
        return [
            *super().command(),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(self.datadir / "nodes.conf"),
            "--cluster-node-timeout",
            "5000",
        ]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def node_id(self) -> str:
        with self.client() as client:
            return str(client.execute_command("CLUSTER", "MYID").decode())


class RedisCluster:
    """Three primaries, no replicas. `start` returns once every node serves every slot."""

    def __init__(self, datadir: Path, size: int = 3) -> None:
        self.datadir = datadir
        self.nodes = [
            ClusterNodeServer(datadir / f"node{index}", cluster_port()) for index in range(size)
        ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(node.address for node in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed (it comes with redis-server)")
        created = subprocess.run(
            [cli, "--cluster", "create", *(node.address for node in self.nodes), "--cluster-yes"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CREATE_TIMEOUT,
            check=False,
        )
        if created.returncode != 0:
            self.stop()
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout.decode()}")
        self.wait_serving()

    def wait_serving(self, timeout: float = READY_TIMEOUT) -> None:
        """Until every node says cluster_state:ok and all agree on who serves each slot."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._serving():
                return
            time.sleep(0.05)
        raise RuntimeError(f"the cluster did not serve within {timeout}s")

    def _serving(self) -> bool:
        maps = []
        for node in self.nodes:
            with node.client() as client:
                try:
                    info = client.execute_command("CLUSTER", "INFO").decode()
                    maps.append(self._slot_map(client))
                except redis.RedisError:
                    return False
            if "cluster_state:ok" not in info:
                return False
        return all(each == maps[0] for each in maps) and len(maps[0]) == SLOTS

    @staticmethod
    def _slot_map(client: redis.Redis) -> dict[int, int]:
        served: dict[int, int] = {}
        for first, last, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
            for slot in range(int(first), int(last) + 1):
                served[slot] = int(primary[1])
        return served

    def client(self, node: int = 0) -> redis.Redis:
        return self.nodes[node].client()

    def flush(self) -> None:
        """FLUSHALL on every primary: nothing of an earlier test is left."""
        for node in self.nodes:
            if not node.running:
                node.start()
            with node.client() as client:
                client.flushall()

    def slot_of(self, key: str) -> int:
        with self.client() as client:
            return int(client.execute_command("CLUSTER", "KEYSLOT", key))

    def node_serving(self, slot: int) -> ClusterNodeServer:
        with self.client() as client:
            port = self._slot_map(client)[slot]
        return next(node for node in self.nodes if node.port == port)

    def move_slot(
        self,
        slot: int,
        target: ClusterNodeServer,
        between_keys: Callable[[], None] | None = None,
    ) -> None:
        """Hand `slot` and its keys from the node serving it to `target`."""
        source = self.node_serving(slot)
        if source is target:
            return
        source_id, target_id = source.node_id(), target.node_id()
        with source.client(timeout=10.0) as src, target.client(timeout=10.0) as dst:
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            for _ in range(SLOTS):  # bounded: a slot's keys, one at a time
                keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1)
                if not keys:
                    break
                src.execute_command(
                    "MIGRATE", "127.0.0.1", target.port, "", 0, MIGRATE_TIMEOUT_MS, "KEYS", *keys
                )
                if between_keys is not None:
                    between_keys()
            # As redis-cli does: the target first, so it serves the slot before
            # the source starts sending clients there.
            dst.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        for node in self.nodes:
            if node is not source and node is not target:
                with node.client() as other:
                    other.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        self.wait_serving()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@contextmanager
def launch_cluster(datadir: Path) -> Iterator[RedisCluster]:
    """A started three-primary cluster, stopped (by PID) on the way out."""
    cluster = RedisCluster(datadir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
