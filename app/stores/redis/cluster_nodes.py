"""The nodes of a Redis Cluster as the cluster topology sees them: the slot map and a pool per node.

redis-py's `NodesManager` keeps the slot map (which primary serves each of
the 16384 slots), read with CLUSTER SLOTS from the URL's nodes and then from
every node it found. It is made on first use, not when the topology is, so
that a store opens with no connection made, and made again after a failure
(`stale`). Commands never travel on its clients: each primary gets a
`redis.ConnectionPool` of the store's own deadline-keeping connections, which
`wire.run` sends on and which never retries a command.

Each connection learns, as it connects, its node's `configEpoch`
(`cluster_my_epoch` of CLUSTER INFO) and keeps it as `objmgr_epoch`, the
token floor of every script it carries (`wire.epoch_of`). A replica promoted
by a cluster failover takes an epoch above every other node's, so the tokens
it mints start above any the old primary could have minted.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import redis
from redis.cluster import ClusterNode, NodesManager
from redis.crc import key_slot
from redis.exceptions import MovedError

from ..redis_url import RedisUrl, parse_redis_url
from . import wire
from .topology import Counter, RedisOptions, connection_kwargs


def _credentials(url: RedisUrl) -> dict[str, str]:
    """The URL's ACL user and password, as connections take them."""
    credentials = {"username": url.user, "password": url.password}
    return {name: value for name, value in credentials.items() if value}


class ClusterConnection(wire.DeadlineConnection):
    """A connection that tells its topology of every MOVED it reads, on any
    path (the journal's blocking reads too), so the next use goes to the new node."""

    objmgr_on_moved: Callable[[MovedError], None] | None = None

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except MovedError as moved:
            if self.objmgr_on_moved is not None:
                self.objmgr_on_moved(moved)
            raise


def config_epoch(connection: redis.Connection) -> int:
    """The configEpoch of the node at the other end of `connection`."""
    connection.send_command("CLUSTER", "INFO")
    info = connection.read_response()
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "cluster_my_epoch":
            return int(value.strip())
    return 0


class ClusterNodes:
    """The slot map and one connection pool per primary, of one topology."""

    def __init__(self, url: str, socket_timeout: float, options: RedisOptions) -> None:
        parsed = parse_redis_url(url)
        self._startup = list(parsed.nodes)
        self._kwargs = {**connection_kwargs(socket_timeout, options), **_credentials(parsed)}
        self.counter = Counter()
        self._manager: NodesManager | None = None
        self._pools: dict[str, redis.ConnectionPool] = {}
        self._lock = threading.RLock()
        #: Set after a connection failed: the map is read again before the next use.
        self.stale = False

    def _map(self) -> NodesManager:
        with self._lock:
            if self._manager is None:
                startup = [ClusterNode(host, port) for host, port in self._startup]
                self._manager = NodesManager(startup, require_full_coverage=False, **self._kwargs)
            elif self.stale:
                # From every node it knows, the URL's among them.
                self._manager.initialize()
            self.stale = False
            return self._manager

    def node_for(self, key: str | None) -> str:
        """The name (host:port) of the primary serving `key`; any primary for None."""
        manager = self._map()
        if key is None:
            default = manager.default_node
            if default is None:
                raise redis.ConnectionError("the cluster has no primary")
            return str(default.name)
        return str(manager.get_node_from_slot(key_slot(key.encode())).name)

    def primaries(self) -> list[str]:
        return [str(node.name) for node in self._map().get_nodes_by_server_type("primary")]

    def any_primary(self) -> str:
        """A primary picked afresh each call: a subscriber spreads over the nodes."""
        try:
            return random.choice(self.primaries())
        except (redis.RedisError, IndexError, OSError):
            host, port = random.choice(self._startup)
            return f"{host}:{port}"

    def moved(self, error: MovedError) -> None:
        """A node answered MOVED: its slot is served elsewhere from now on."""
        with self._lock:
            if self._manager is None:
                return
            try:
                self._manager.move_slot(error)
            except (KeyError, redis.RedisError):
                self.stale = True

    def pool(self, name: str) -> redis.ConnectionPool:
        with self._lock:
            pool = self._pools.get(name)
            if pool is None:
                host, port = name.rsplit(":", 1)
                pool = redis.ConnectionPool(
                    host=host,
                    port=int(port),
                    connection_class=ClusterConnection,
                    redis_connect_func=self.counter.counted(self._on_connect),
                    **self._kwargs,
                )
                self._pools[name] = pool
            return pool

    def client(self, name: str) -> redis.Redis:
        """A plain client of node `name`, its connections not counted (pub/sub)."""
        host, port = name.rsplit(":", 1)
        return redis.Redis(host=host, port=int(port), **self._kwargs)

    def _on_connect(self, connection: redis.Connection) -> None:
        connection.on_connect()
        if isinstance(connection, ClusterConnection):
            connection.objmgr_on_moved = self.moved
        connection.objmgr_epoch = config_epoch(connection)  # type: ignore[attr-defined]

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
            manager, self._manager = self._manager, None
        for pool in pools:
            pool.disconnect()
        if manager is not None:
            manager.close()
