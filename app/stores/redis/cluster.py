"""The Cluster topology (`redis+cluster://H:P[,H:P…]`): see topology.py for what every
topology promises, cluster_nodes.py for the slot map, the per-node pools and the epoch.

Every key of a pool carries the hash tag `{pool:NAME}` (model.py), so each
command has one slot: `run` sends each to the primary serving its key, one
`wire.run` pipeline per node, and no command ever spans slots (no CROSSSLOT).
The global keys (the pool names, the store mark, the ready key) sit in slots
of their own and are only touched by plain commands.

What a node answers and what `run` does with it, within the caller's deadline:

- MOVED: the command did not run; the slot map learns the new node and the
  command goes there.
- ASK (a slot half moved, the key already on the target): `ASKING` and the
  command, in one pipeline on the target.
- TRYAGAIN, CLUSTERDOWN (a multi-key script on a slot being moved, a cluster
  without a majority): refused before anything ran; sent again after a short
  backoff, and answered STORE_UNAVAILABLE once the deadline comes.
- a lost connection: the slot map is read again before the next use, and the
  command is answered as `wire.run` answers it (OUTCOME_UNKNOWN for a change)
  — never sent again: only refusals and redirects are retried.
- PING, the health check, goes to every primary: one node down is a store
  that cannot serve every pool.

Resharding and tokens: a pool's token counter is one of its keys, so it
travels with the pool's slot to the new node, and the floor that node's
epoch puts under every script only ever raises a counter, never lowers it.
Tokens therefore keep increasing across a move whichever node's epoch is
higher, and across a cluster failover the promoted replica's epoch, above
every other node's, puts its tokens above anything the old primary minted.
What a cluster failover can lose without OBJMGR_REDIS_MIN_REPLICAS: the
changes the old primary had acknowledged but not yet replicated.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

import redis
from redis.exceptions import AskError, MovedError

from ...pool.errors import OutcomeUnknown, StoreUnavailable
from . import wire
from .cluster_nodes import ClusterNodes
from .topology import RedisOptions

#: Refusals a node answers while the cluster moves a slot or elects a primary.
UNSETTLED = frozenset({"TRYAGAIN", "CLUSTERDOWN"})
BACKOFF_FIRST = 0.005
BACKOFF_CAP = 0.1
#: Rounds of redirects and retries of one call, beside its deadline.
MAX_ROUNDS = 64
ASKING = wire.Command(("ASKING",), False)


class ClusterTopology:
    def __init__(self, url: str, socket_timeout: float, options: RedisOptions) -> None:
        self._timeout = socket_timeout
        self._options = options
        self._nodes = ClusterNodes(url, socket_timeout, options)

    @property
    def connects(self) -> int:
        return self._nodes.counter.connects

    def run(self, commands: Sequence[wire.Command], until: float) -> list[Any]:
        results: list[Any] = [None] * len(commands)
        # index -> the node it goes to by ASK, else None (the slot map's).
        pending: dict[int, str | None] = dict.fromkeys(range(len(commands)))
        pinged: dict[int, list[str]] = {}
        backoff = BACKOFF_FIRST
        for _ in range(MAX_ROUNDS):
            if not pending:
                break
            unsettled = self._round(commands, pending, results, pinged, until)
            if not pending:
                break
            remaining = until - time.monotonic()
            if remaining <= 0:
                break
            if unsettled:
                time.sleep(min(backoff, remaining))
                backoff = min(backoff * 2, BACKOFF_CAP)
        for index in pending:
            late = results[index]
            if late is None or not isinstance(late, StoreUnavailable):
                late = wire.unavailable(late or redis.TimeoutError("no time was left to send it"))
            results[index] = late
        return results

    def _round(
        self,
        commands: Sequence[wire.Command],
        pending: dict[int, str | None],
        results: list[Any],
        pinged: dict[int, list[str]],
        until: float,
    ) -> bool:
        """Sends every pending command once; whether one met an unsettled slot."""
        groups: dict[tuple[str, bool], list[int]] = {}
        for index, asked in list(pending.items()):
            try:
                targets = self._targets(commands[index], asked, index, pinged)
            except (redis.RedisError, OSError) as error:
                self._nodes.stale = True
                results[index] = wire.unavailable(error)
                continue
            for target in targets:
                groups.setdefault((target, asked is not None), []).append(index)
        unsettled = False
        for (node, asking), indices in groups.items():
            replies = self._send(node, [commands[index] for index in indices], asking, until)
            for index, reply in zip(indices, replies, strict=True):
                unsettled |= self._settle(index, node, reply, pending, results, pinged)
        return unsettled

    def _targets(
        self,
        command: wire.Command,
        asked: str | None,
        index: int,
        pinged: dict[int, list[str]],
    ) -> list[str]:
        if asked is not None:
            return [asked]
        if command.args[0] == "PING":
            if index not in pinged:
                pinged[index] = self._nodes.primaries()
            return list(pinged[index])
        return [self._nodes.node_for(command.key)]

    def _send(
        self, node: str, commands: list[wire.Command], asking: bool, until: float
    ) -> list[Any]:
        pool = self._nodes.pool(node)
        if not asking:
            return wire.run(pool, commands, until, self._options.min_replicas)
        # ASKING lets only the command right after it into the importing node.
        paired = [part for command in commands for part in (ASKING, command)]
        return wire.run(pool, paired, until, self._options.min_replicas)[1::2]

    def _settle(
        self,
        index: int,
        node: str,
        reply: Any,
        pending: dict[int, str | None],
        results: list[Any],
        pinged: dict[int, list[str]],
    ) -> bool:
        """Records `reply` of command `index` from `node`; whether to back off."""
        if isinstance(reply, MovedError):
            self._nodes.moved(reply)
            pending[index] = None
            results[index] = reply
            return False
        if isinstance(reply, AskError):
            pending[index] = f"{reply.host}:{reply.port}"
            results[index] = reply
            return False
        if isinstance(reply, wire.RefusedByRedis) and reply.reply in UNSETTLED:
            pending[index] = None
            results[index] = reply
            return True
        if isinstance(reply, OutcomeUnknown | StoreUnavailable) and not isinstance(
            reply, wire.RefusedByRedis | wire.Unconfirmed
        ):
            # The connection failed: the node may be gone, or have failed over.
            self._nodes.stale = True
        if index in pinged:
            # A PING is answered once every primary answered it, by the first failure.
            nodes = pinged[index]
            if node in nodes:
                nodes.remove(node)
            if isinstance(reply, BaseException):
                results[index] = reply
                nodes.clear()
            elif not isinstance(results[index], BaseException):
                results[index] = reply
            if nodes:
                return False
        else:
            results[index] = reply
        pending.pop(index, None)
        return False

    def connection_for(self, key: str) -> redis.Connection:
        connection = self._nodes.pool(self._nodes.node_for(key)).make_connection()
        return cast(redis.Connection, connection)

    def subscriber(self) -> redis.Redis:
        # Classic PUBLISH reaches every node of a cluster: any primary hears all.
        return self._nodes.client(self._nodes.any_primary())

    def load_scripts(self, scripts: Sequence[wire.LuaScript]) -> None:
        until = wire.deadline_in(self._timeout)
        try:
            primaries = self._nodes.primaries()
        except (redis.RedisError, OSError) as error:
            self._nodes.stale = True
            raise wire.unavailable(error) from error
        for node in primaries:
            wire.load_scripts_on(self._nodes.pool(node), scripts, until)

    def close(self) -> None:
        self._nodes.close()
