"""The Cluster topology: see topology.py for what every topology promises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from . import wire
from .topology import RedisOptions


class ClusterTopology:
    def __init__(self, url: str, socket_timeout: float, options: RedisOptions) -> None:
        raise NotImplementedError("redis+cluster:// is not served yet")

    @property
    def connects(self) -> int:
        raise NotImplementedError

    def run(self, commands: Sequence[wire.Command], until: float) -> list[Any]:
        raise NotImplementedError

    def connection_for(self, key: str) -> redis.Connection:
        raise NotImplementedError

    def subscriber(self) -> redis.Redis:
        raise NotImplementedError

    def load_scripts(self, scripts: Sequence[wire.LuaScript]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
