"""`RedisTarget`: the Redis nodes a store's URL names, and how to reach them.

Each part of the store that talks to Redis asks it for a topology of its own
(`connect`): the URL's form picks which (topology.py says what each promises).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..redis_url import CLUSTER_SCHEME, SENTINEL_SCHEME
from .cluster import ClusterTopology
from .sentinel import SentinelTopology
from .topology import RedisOptions, SingleTopology, Topology


@dataclass(frozen=True)
class RedisTarget:
    """The Redis nodes a store's URL names, and how to reach them."""

    url: str
    socket_timeout: float = 1.0
    options: RedisOptions = field(default_factory=RedisOptions)

    def connect(self) -> Topology:
        """A topology of the caller's own, with no connection made yet."""
        if self.url.startswith(SENTINEL_SCHEME):
            return SentinelTopology(self.url, self.socket_timeout, self.options)
        if self.url.startswith(CLUSTER_SCHEME):
            return ClusterTopology(self.url, self.socket_timeout, self.options)
        return SingleTopology(self.url, self.socket_timeout, self.options)
