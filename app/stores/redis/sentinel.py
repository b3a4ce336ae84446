"""The Sentinel topology (`redis+sentinel://[USER@]H:P[,H:P…]/MASTER[/DB]`): see
topology.py for what every topology promises.

Every new connection asks the Sentinels where the primary is (redis-py's
`SentinelConnectionPool`), then checks with ROLE that the node at that address
is a primary before anything is sent on it: a Sentinel that has not yet heard
of a failover cannot send a change to a demoted node.

Following a failover, within the caller's deadline and without a retry loop:

- a lost connection (the primary killed, or frozen past the deadline): the
  commands are answered as `wire.run` answers them (OUTCOME_UNKNOWN for a
  change, never sent again), and every connection of the pool is dropped, so
  the next one asks the Sentinels again;
- READONLY (the primary was demoted under an open connection): the command did
  not run; the pool is dropped and the refused commands are sent once more, on
  a connection to the primary the Sentinels name now, if the deadline allows.
  redis-py's own handling of READONLY (`SentinelManagedConnection.read_response`
  turning it into a ConnectionError mid-pipeline) is left out: the rest of the
  pipeline's replies are still read, and a refusal stays a refusal.
- redis-py makes no retries here (`Retry(NoBackoff(), 0)` on the data nodes and
  on the Sentinels), so nothing keeps reconnecting to the old primary.

The epoch of a connection is the Sentinels' `config-epoch` of the primary at
the address it connected to, read from the same `SENTINEL MASTERS` answer that
named the address. A failover raises it, so the first token a promoted replica
mints is above every token of the old primary, replicated or not. The highest
epoch seen for an address in this process is kept, so no connection to it
mints with a lower floor than one already used.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection

from ...pool.errors import OutcomeUnknown, StoreUnavailable
from ..redis_url import BadRedisUrl, parse_redis_url
from . import wire
from .topology import Counter, RedisOptions, connection_kwargs

PRIMARY_ROLE = b"master"
#: How often a topology in use asks the Sentinels whether the primary moved. An
#: old primary that was demoted while up may go on taking writes on the
#: connections already open to it until the Sentinels reconfigure it; asking
#: keeps that window this short for this process.
RECHECK_EVERY = 0.5


class Epochs:
    """The highest `config-epoch` seen per primary address, shared by every
    topology of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, int], int] = {}

    def saw(self, master: str, host: str, port: int, epoch: int) -> None:
        key = (master, host, int(port))
        with self._lock:
            self._seen[key] = max(self._seen.get(key, 0), epoch)

    def of(self, master: str, host: str, port: int) -> int:
        with self._lock:
            return self._seen.get((master, host, int(port)), 0)


EPOCHS = Epochs()


class EpochSentinel(Sentinel):
    """A Sentinel client that records the epoch of each primary it is told of,
    and asks the Sentinels within the caller's deadline, without retries."""

    def __init__(
        self,
        sentinels: Sequence[tuple[str, int]],
        socket_timeout: float,
        password: str | None = None,
    ) -> None:
        super().__init__([])
        self.sentinels = [
            redis.Redis(
                connection_pool=redis.ConnectionPool(
                    host=host,
                    port=port,
                    socket_timeout=socket_timeout,
                    socket_connect_timeout=socket_timeout,
                    password=password,
                    retry=Retry(NoBackoff(), 0),
                    connection_class=wire.DeadlineConnection,
                )
            )
            for host, port in sentinels
        ]

    def check_master_state(self, state: dict[str, Any], service_name: str) -> bool:
        usable = bool(super().check_master_state(state, service_name))
        if usable:
            EPOCHS.saw(service_name, state["ip"], state["port"], int(state["config-epoch"]))
        return usable


class SentinelDeadlineConnection(wire._Deadline, SentinelManagedConnection):
    """A connection to the primary the Sentinels name, connected within the deadline."""

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        # Not SentinelManagedConnection's: it disconnects on READONLY in the
        # middle of a pipeline and makes a refusal look like a lost reply.
        return redis.Connection.read_response(self, *args, **kwargs)


class SentinelTopology:
    def __init__(self, url: str, socket_timeout: float, options: RedisOptions) -> None:
        self._timeout = socket_timeout
        self._options = options
        self._counter = Counter()
        self._url = parse_redis_url(url)
        if self._url.master is None:
            raise BadRedisUrl("names no master: redis+sentinel://H:P[,H:P...]/MASTER[/DB]")
        self._master: str = self._url.master
        no_retry = Retry(NoBackoff(), 0)
        # The Sentinels' own auth (`requirepass` in sentinel.conf) is not the data
        # nodes': it has a setting of its own.
        self._sentinel = EpochSentinel(self._url.nodes, socket_timeout, options.sentinel_password)
        kwargs = connection_kwargs(socket_timeout, options)
        if "password" not in kwargs and self._url.password is not None:
            kwargs["password"] = self._url.password
        if self._url.user is not None:
            kwargs["username"] = self._url.user
        self._kwargs: dict[str, Any] = {
            **kwargs,
            "db": self._url.db,
            "retry": no_retry,
            "connection_class": SentinelDeadlineConnection,
        }
        self.pool = self._pool(self._counter.counted(self._on_connect))
        self._checked = time.monotonic()

    def _pool(self, on_connect: Any) -> SentinelConnectionPool:
        return SentinelConnectionPool(
            self._master,
            self._sentinel,
            is_master=True,
            redis_connect_func=on_connect,
            **self._kwargs,
        )

    def _on_connect(self, connection: redis.Connection) -> None:
        connection.on_connect()
        connection.send_command("ROLE")
        role = connection.read_response()
        if not role or role[0] != PRIMARY_ROLE:
            raise redis.ConnectionError(
                f"the node the Sentinels name for {self._master!r} is no primary"
            )
        # Set after the check: the epoch read by the same discovery that named it.
        connection.objmgr_epoch = EPOCHS.of(  # type: ignore[attr-defined]
            self._master, str(connection.host), int(connection.port)
        )

    @property
    def connects(self) -> int:
        return self._counter.connects

    def _drop(self) -> None:
        # The idle connections only: others are in use by callers of their own
        # (the batcher's leader, a pipeline of the store's), who see for themselves.
        self.pool.disconnect(inuse_connections=False)

    def _recheck(self, until: float) -> None:
        now = time.monotonic()
        if now - self._checked < RECHECK_EVERY:
            return
        self._checked = now
        try:
            # Drops the idle connections if the address moved (redis-py's pool);
            # those in use are dropped when given back.
            with wire.deadline(max(until - now, 0.001)):
                self.pool.get_master_address()
        except (redis.RedisError, OSError):
            pass  # no Sentinel answers: keep the primary we have

    def run(self, commands: Sequence[wire.Command], until: float) -> list[Any]:
        self._recheck(until)
        results = wire.run(self.pool, commands, until, self._options.min_replicas)
        if any(_lost(result) for result in results):
            self._drop()
            return results
        refused = [index for index, result in enumerate(results) if _demoted(result)]
        if not refused:
            return results
        # A demoted primary refused them before they ran: once more, on the new one.
        self._drop()
        if time.monotonic() >= until:
            return results
        again = wire.run(
            self.pool, [commands[i] for i in refused], until, self._options.min_replicas
        )
        for index, result in zip(refused, again, strict=True):
            results[index] = result
        if any(_lost(result) or _demoted(result) for result in again):
            self._drop()
        return results

    def connection_for(self, key: str) -> redis.Connection:
        return cast(redis.Connection, self.pool.make_connection())

    def subscriber(self) -> redis.Redis:
        return redis.Redis(connection_pool=self._pool(self._on_connect))

    def load_scripts(self, scripts: Sequence[wire.LuaScript]) -> None:
        wire.load_scripts_on(self.pool, scripts, wire.deadline_in(self._timeout))

    def close(self) -> None:
        self.pool.disconnect()
        self._sentinel.close()


def _lost(result: Any) -> bool:
    """Whether the connection failed under it (not a refusal, nor a change the
    replicas were late to confirm)."""
    if isinstance(result, wire.RefusedByRedis | wire.Unconfirmed):
        return False
    return isinstance(result, OutcomeUnknown | StoreUnavailable)


def _demoted(result: Any) -> bool:
    return isinstance(result, wire.RefusedByRedis) and result.reply == "READONLY"
