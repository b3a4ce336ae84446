"""Where the Redis store's commands go: one server, a Sentinel-watched primary, or a Cluster.

A `Topology` is one process's way to the Redis nodes an `OBJMGR_STORE` URL
names. Every part of the store that talks to Redis opens one of its own
(`target.RedisTarget.connect`): the command batcher, the waiters' session
thread, the pub/sub listener and the journal's blocking reads each hold their
own connections, because a connection made in one thread or event loop is not
used in another.

- `redis://`, `rediss://`: `SingleTopology`, one connection pool.
- `redis+sentinel://H:P[,H:P…]/MASTER[/DB]`: `sentinel.SentinelTopology`.
- `redis+cluster://H:P[,H:P…]`: `cluster.ClusterTopology`.

What every topology promises (the store relies on each point):

- `run` sends each command to the node that serves its `key` (a command
  without one to any node) and answers each with its reply or its exception,
  as `wire.run` does; a command that spans nodes is never sent.
- Each script's token floor (`wire.Command.floor_at`) is filled in on the
  connection that carries it, from the epoch of the primary at its other end
  (`epoch_of`): tokens minted after a failover start above any the old
  primary could have minted, so none repeats or goes down (rule R3).
- With `min_replicas` n > 0 a change is answered only once `WAIT n` confirmed
  it on the same connection; else `OutcomeUnknown`.
- `connects` counts the connections made so far (`opening.py` looks at the
  store's mark after each new one: a node may have come back empty).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import redis

from . import wire


@dataclass(frozen=True)
class RedisOptions:
    """How to reach Redis beyond what its URL says (the `OBJMGR_REDIS_*` variables)."""

    #: The password, kept out of the URL; the URL's user name (an ACL user) is kept.
    password: str | None = field(default=None, repr=False)
    #: A CA bundle for `rediss://`; None: the system's.
    ca: str | None = None
    #: Replicas that must acknowledge a change before it is answered.
    min_replicas: int = 0
    #: The Sentinels' own password (their `requirepass`), not the data nodes'.
    sentinel_password: str | None = field(default=None, repr=False)


class Topology(Protocol):
    """One process's connections to the Redis nodes of a store."""

    @property
    def connects(self) -> int:
        """Connections made so far, on every node."""
        ...

    def run(self, commands: Sequence[wire.Command], until: float) -> list[Any]:
        """Each command's reply or exception, in order, by `until` (monotonic)."""
        ...

    def connection_for(self, key: str) -> redis.Connection:
        """A new connection of the caller's own to the primary serving `key`
        (the journal's blocking reads); the caller disconnects it."""
        ...

    def subscriber(self) -> redis.Redis:
        """A client whose pub/sub hears every PUBLISH of every node."""
        ...

    def load_scripts(self, scripts: Sequence[wire.LuaScript]) -> None:
        """Have every primary hold `scripts`. Raises the first failure."""
        ...

    def close(self) -> None: ...


def connection_kwargs(socket_timeout: float, options: RedisOptions) -> dict[str, Any]:
    """The settings every topology's connections share."""
    kwargs: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
    }
    if options.password is not None:
        kwargs["password"] = options.password
    return kwargs


def tls_kwargs(options: RedisOptions) -> dict[str, Any]:
    """The TLS settings of a `rediss://` connection: the certificate verified against the
    CA given (else the system's) and the host name checked against it."""
    kwargs: dict[str, Any] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    if options.ca is not None:
        kwargs["ssl_ca_certs"] = options.ca
    return kwargs


class Counter:
    """`connects`, counted by every topology's connect hook."""

    def __init__(self) -> None:
        self._count = itertools.count(1)
        self.connects = 0

    def counted(self, then: Callable[[redis.Connection], None]) -> Callable[..., None]:
        def on_connect(connection: redis.Connection) -> None:
            then(connection)
            self.connects = next(self._count)

        return on_connect


class SingleTopology:
    """One server (`redis://`, `rediss://`, `unix://`): one pool, epoch 0."""

    def __init__(self, url: str, socket_timeout: float, options: RedisOptions) -> None:
        self._timeout = socket_timeout
        self._options = options
        self._counter = Counter()
        extra = tls_kwargs(options) if url.startswith("rediss://") else {}
        # No retries: a script whose reply was lost may have run, and running
        # it again could grant a second object. Callers retry with a requestId.
        self.pool = redis.ConnectionPool.from_url(
            url,
            connection_class=wire.connection_class(url),
            redis_connect_func=self._counter.counted(lambda connection: connection.on_connect()),
            **connection_kwargs(socket_timeout, options),
            **extra,
        )

    @property
    def connects(self) -> int:
        return self._counter.connects

    def run(self, commands: Sequence[wire.Command], until: float) -> list[Any]:
        return wire.run(self.pool, commands, until, self._options.min_replicas)

    def connection_for(self, key: str) -> redis.Connection:
        return cast(redis.Connection, self.pool.make_connection())

    def subscriber(self) -> redis.Redis:
        kwargs = dict(self.pool.connection_kwargs)
        kwargs.pop("redis_connect_func", None)
        pool = redis.ConnectionPool(connection_class=self.pool.connection_class, **kwargs)
        return redis.Redis(connection_pool=pool)

    def load_scripts(self, scripts: Sequence[wire.LuaScript]) -> None:
        wire.load_scripts_on(self.pool, scripts, wire.deadline_in(self._timeout))

    def close(self) -> None:
        self.pool.disconnect()
