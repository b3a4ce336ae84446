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

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ...pool.events import Event
from ..batching import Batch, Batcher
from . import wire
from .model import pool_keys
from .replies import event_from
from .target import RedisTarget

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
#: Pools whose keys a process keeps made, at most.
_POOL_KEYS_KEPT = 1024


class _Pending(NamedTuple):
    command: wire.Command
    until: float


class Commands:
    """One process's way to Redis for one store: its topology and a batcher."""

    def __init__(
        self,
        target: RedisTarget,
        clock: Callable[[], float] | None,
        events_keep: int,
        published: Callable[[list[Event]], None],
    ) -> None:
        self.timeout = target.socket_timeout
        self._clock = clock
        self.events_keep = str(events_keep)
        self._published = published
        self.topology = target.connect()
        self._batcher: Batcher[_Pending] = Batcher(self._send)
        self._pool_keys: dict[str, tuple[str, ...]] = {}

    @property
    def connects(self) -> int:
        """Connections made so far: a new one may have met a Redis that lost its data."""
        return self.topology.connects

    def now(self) -> str:
        """The scripts' first ARGV: the store's clock, or "" for Redis' own TIME."""
        return "" if self._clock is None else repr(float(self._clock()))

    def _send(self, batch: Batch[_Pending]) -> None:
        jobs = batch.take()
        until = min(job.work.until for job in jobs)
        results = self.topology.run([job.work.command for job in jobs], until)
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
        return wire.Command.lua(
            script, self._keys_of(pool), (self.now(), *args, self.events_keep), floored=True
        )

    def _keys_of(self, pool: str) -> tuple[str, ...]:
        # The same strings each time: their hashes are kept, and so is their
        # place in the wire's table of packed arguments.
        keys = self._pool_keys.get(pool)
        if keys is None:
            if len(self._pool_keys) >= _POOL_KEYS_KEPT:
                self._pool_keys.clear()
            keys = self._pool_keys[pool] = tuple(pool_keys(pool))
        return keys

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
        return self.topology.run(commands, wire.deadline_in(self.timeout))

    def load_scripts(self) -> None:
        """Have Redis hold every script, so that no first call pays a NOSCRIPT."""
        self.topology.load_scripts(list(SCRIPTS.values()))

    def close(self) -> None:
        self.topology.close()
