"""How the Redis store's commands travel: batched into pipelines, each within its deadline.

The scripts a process's callers send while its previous batch is on the wire
go to Redis together, in one pipeline (`batching.Batcher`): one round trip,
and with `appendfsync always` usually one fsync, serves them all. Each
command keeps its own deadline, from its caller's arrival; a batch is sent
by the earliest of them.

Time is the server's `TIME` unless the store was given a clock, whose reading
then travels as every script's first ARGV ("" means: ask Redis). Scripts are
replicated by their effects (Redis 5 or later), so reading TIME before
writing is safe. The journal's `keep` travels as every script's last ARGV.

Every script replies [its reply, the journal entries it wrote] (`wire.py`);
`journaled` tells the store's listeners of those events, in the caller's
thread or greenlet, once the reply came back (rule R9), and hands on the reply.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import redis

from ...pool.events import Event
from ..batching import Batch, Batcher
from . import wire
from .model import pool_keys
from .replies import event_from

CHANGING = (
    "ensure",
    "create",
    "policy",
    "resize",
    "delete",
    "acquire",
    "revoke",
    "free",
    "renew",
    "join",
    "leave",
)
# `reap` and `head` write (reclaimed leases, dropped dead waiters) but decide
# nothing a client is told: a lost reply leaves nothing to find out.
READING = ("stats", "leases", "lease", "head", "reap")
SCRIPTS = wire.load_scripts(CHANGING, READING)


class _Pending(NamedTuple):
    command: wire.Command
    until: float


class Commands:
    """One process's way to Redis for one store: a connection pool and a batcher."""

    def __init__(
        self,
        url: str,
        socket_timeout: float,
        clock: Callable[[], float] | None,
        events_keep: int,
        published: Callable[[list[Event]], None],
    ) -> None:
        self.timeout = socket_timeout
        self._clock = clock
        self.events_keep = str(events_keep)
        self._published = published
        # No retries: a script whose reply was lost may have run, and running
        # it again could grant a second object. Callers retry with a requestId.
        self.pool = redis.ConnectionPool.from_url(
            url,
            connection_class=wire.DeadlineConnection,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            redis_connect_func=self._on_connect,
        )
        self._batcher: Batcher[_Pending] = Batcher(self._send)
        self._connect_count = itertools.count(1)
        #: Connections made so far: a new one may have met a Redis that lost its data.
        self.connects = 0

    def _on_connect(self, connection: redis.Connection) -> None:
        connection.on_connect()
        self.connects = next(self._connect_count)

    def now(self) -> str:
        """The scripts' first ARGV: the store's clock, or "" for Redis' own TIME."""
        return "" if self._clock is None else repr(float(self._clock()))

    def _send(self, batch: Batch[_Pending]) -> None:
        jobs = batch.take()
        until = min(job.work.until for job in jobs)
        results = wire.run(self.pool, [job.work.command for job in jobs], until)
        for job, result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                job.error = result
            else:
                job.result = result

    def _submit(self, command: wire.Command) -> Any:
        return self._batcher.submit(_Pending(command, wire.deadline_in(self.timeout)))

    def plain(self, *args: Any, changes: bool = True) -> Any:
        """One plain command, batched with the process's others."""
        return self._submit(wire.Command(args, changes))

    def script(self, name: str, pool: str, *args: str) -> list[Any]:
        """The reply of script `name` run on `pool`'s keys, batched with the others;
        the events it wrote told first."""
        return self.journaled(pool, self._submit(self.lua(name, pool, *args)))

    def lua(self, name: str, pool: str, *args: str) -> wire.Command:
        return self.lua_of(SCRIPTS[name], pool, *args)

    def lua_of(self, script: wire.LuaScript, pool: str, *args: str) -> wire.Command:
        return wire.Command.lua(script, pool_keys(pool), (self.now(), *args, self.events_keep))

    def journaled(self, pool: str, result: list[Any]) -> list[Any]:
        """The reply of a script run on `pool`, once the listeners were told of the
        events the script wrote (rule R9)."""
        reply, written = result
        if written:
            self._published([event_from(pool, entry) for entry in written])
        reply_list: list[Any] = reply
        return reply_list

    def pipeline(self, commands: Sequence[wire.Command]) -> list[Any]:
        """Each command's reply or exception, in one pipeline of their own."""
        return wire.run(self.pool, commands, wire.deadline_in(self.timeout))

    def load_scripts(self) -> None:
        """Have Redis hold every script, so that no first call pays a NOSCRIPT."""
        loads = [
            wire.Command(("SCRIPT", "LOAD", script.source), False) for script in SCRIPTS.values()
        ]
        for result in self.pipeline(loads):
            if isinstance(result, BaseException):
                raise result

    def close(self) -> None:
        self.pool.disconnect()
