"""Commands to Redis and what their failures mean: scripts, pipelines, outcomes.

Every operation of the store is a list of commands sent on one connection in
one write and answered in order (a pipeline, not MULTI: each script is atomic
on its own). Connecting, sending and every reply share one deadline, the
socket timeout, so a failing operation answers within it whatever failed.

What a failure tells the caller:

- nothing was sent (the connection was refused, or broke before the send), or
  Redis refused the command before it changed anything (NOSCRIPT, READONLY,
  OOM, MISCONF, NOREPLICAS, BUSY, LOADING: refused at a script's first
  write, so nothing before it was written): `StoreUnavailable`;
- the command was sent and its reply never came (a timeout, a reset): a
  command that changes state may have been applied, so `OutcomeUnknown`; one
  that only reads, `StoreUnavailable`.

In a pipeline each command gets its own: the replies read before the failure
are answers, the rest are unknown or unavailable by what they are.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
from redis.exceptions import (
    BusyLoadingError,
    ConnectionError,
    NoScriptError,
    ResponseError,
    TimeoutError,
)

from ...pool.errors import OutcomeUnknown, PoolError, StoreUnavailable
from . import resp
from .model import lua_constants

# The replies by which Redis refuses a command before it changed anything.
REFUSALS = (
    "MISCONF",
    "BUSY",
    "NOREPLICAS",
    "MASTERDOWN",
    "LOADING",
    "READONLY",
    "OOM",
    "CLUSTERDOWN",
    "TRYAGAIN",
)
LOST = (ConnectionError, TimeoutError, OSError)

_deadline: ContextVar[float | None] = ContextVar("objmgr_redis_deadline", default=None)


def _remaining() -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return None
    return max(deadline - time.monotonic(), 0.001)


def deadline_in(seconds: float) -> float:
    """The deadline `seconds` from now, or the current one if that comes first."""
    later = time.monotonic() + seconds
    current = _deadline.get()
    return later if current is None else min(current, later)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Everything this context sends to Redis is answered, or failed, within `seconds`
    (or by the deadline of an enclosing context, if that comes first)."""
    token = _deadline.set(deadline_in(seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


class _Deadline:
    """A connection whose connect and handshake fit in the current deadline."""

    socket_connect_timeout: float | None
    socket_timeout: float | None

    def _connect(self) -> socket.socket:
        remaining = _remaining()
        if remaining is None:
            return super()._connect()  # type: ignore[misc, no-any-return]
        connect_timeout, socket_timeout = self.socket_connect_timeout, self.socket_timeout
        self.socket_connect_timeout = self.socket_timeout = remaining
        try:
            return super()._connect()  # type: ignore[misc, no-any-return]
        finally:
            self.socket_connect_timeout, self.socket_timeout = connect_timeout, socket_timeout


class DeadlineConnection(_Deadline, redis.Connection):
    pass


class DeadlineSSLConnection(_Deadline, redis.SSLConnection):
    pass


class DeadlineUnixConnection(_Deadline, redis.UnixDomainSocketConnection):
    pass


def connection_class(url: str) -> type[redis.connection.AbstractConnection]:
    """The deadline-keeping connection class for a URL's scheme."""
    if url.startswith("rediss://"):
        return DeadlineSSLConnection
    if url.startswith("unix://"):
        return DeadlineUnixConnection
    return DeadlineConnection


#: A token floor is the epoch of the primary that mints shifted this far:
#: every token of a later epoch is above every token of an earlier one.
EPOCH_SHIFT = 32


def epoch_of(connection: redis.connection.AbstractConnection) -> int:
    """The epoch of the primary at the other end of `connection`, set by its
    topology when it connected (0: a single server, which has no failover)."""
    epoch: int = getattr(connection, "objmgr_epoch", 0)
    return epoch


@dataclass(frozen=True)
class LuaScript:
    name: str
    source: str
    sha: str
    #: Whether it changes what clients see; a lost reply is then OUTCOME_UNKNOWN.
    changes: bool


#: The shared parts every script starts with, in this order: each uses the ones before.
PRELUDE = ("prelude", "indexes", "freeing", "waiters", "reads")


def load_scripts(changing: Sequence[str], reading: Sequence[str]) -> dict[str, LuaScript]:
    """The package's `lua/NAME.lua` files, each after the constants and the PRELUDE.

    Each file is the body of a function, so that whichever way it returns,
    the script replies its reply and, beside it, the events it wrote.
    """
    folder = resources.files(__package__).joinpath("lua")
    prelude = lua_constants() + "".join(
        folder.joinpath(f"{part}.lua").read_text() for part in PRELUDE
    )
    scripts = {}
    for names, changes in ((changing, True), (reading, False)):
        for name in names:
            body = folder.joinpath(f"{name}.lua").read_text()
            source = f"{prelude}local function main()\n{body}\nend\nreturn {{main(), written}}\n"
            sha = hashlib.sha1(source.encode()).hexdigest()
            scripts[name] = LuaScript(name, source, sha, changes)
    return scripts


@dataclass(frozen=True)
class Command:
    """One command of a pipeline: a script with its keys and arguments, or a plain one."""

    args: tuple[Any, ...]
    changes: bool
    script: LuaScript | None = None
    #: Where in `args` the token floor goes, filled in on the connection that
    #: carries it (`epoch_of`); None for a command that mints no token.
    floor_at: int | None = None

    @classmethod
    def lua(
        cls, script: LuaScript, keys: Sequence[str], args: Sequence[str], floored: bool = False
    ) -> Command:
        """`script` on `keys`; `floored`: a token floor goes before the last ARGV."""
        whole = ("EVALSHA", script.sha, len(keys), *keys, *args)
        floor_at = None
        if floored:
            floor_at = len(whole) - 1
            whole = (*whole[:floor_at], "0", whole[floor_at])
        return cls(whole, script.changes, script, floor_at)

    @property
    def key(self) -> str | None:
        """The key whose node must run it (the first, for a script): None for
        a command any node can run."""
        if self.args[0] == "EVALSHA":
            return str(self.args[3]) if int(self.args[2]) > 0 else None
        if self.args[0] in KEYLESS or len(self.args) < 2:
            return None
        return str(self.args[1])

    def on(self, connection: redis.connection.AbstractConnection) -> tuple[Any, ...]:
        """Its arguments as sent on `connection`: with that primary's token floor."""
        if self.floor_at is None:
            return self.args
        floor = str(epoch_of(connection) << EPOCH_SHIFT)
        return (*self.args[: self.floor_at], floor, *self.args[self.floor_at + 1 :])


#: Commands whose second argument is no key.
KEYLESS = frozenset({"PING", "SCRIPT", "WAIT", "INFO", "ROLE", "TIME", "CLUSTER", "SENTINEL"})


class RefusedByRedis(StoreUnavailable):
    """Redis refused the command before it ran: `reply` is its code (READONLY,
    TRYAGAIN, LOADING…), for a topology that can do better than give up."""

    def __init__(self, message: str, reply: str) -> None:
        super().__init__(message)
        self.reply = reply


def unavailable(error: BaseException) -> StoreUnavailable:
    # Clients read this message: it names the failure, not the address.
    if isinstance(error, ResponseError | BusyLoadingError):
        reply = "LOADING" if isinstance(error, BusyLoadingError) else _code(error)
        return RefusedByRedis(f"the Redis store cannot serve now ({reply}); retry later", reply)
    return StoreUnavailable(
        f"the Redis store cannot be reached ({type(error).__name__}); retry later"
    )


def unknown(error: BaseException) -> OutcomeUnknown:
    return OutcomeUnknown(
        f"the Redis store's reply was lost ({type(error).__name__}): the change may have "
        "been made; retry with the same requestId to find out"
    )


def _lost(command: Command, error: BaseException) -> PoolError:
    return unknown(error) if command.changes else unavailable(error)


def _code(error: ResponseError) -> str:
    """The reply's error code: redis-py keeps it apart for the replies it maps to classes."""
    return getattr(error, "status_code", None) or str(error).split(" ", 1)[0]


# How Redis 7.0 words an ACL refusal inside a script (later ones answer NOPERM).
_NOT_PERMITTED_IN_SCRIPT = "can't run this command or subcommand"


def _reply_error(command: Command, error: ResponseError) -> BaseException:
    code = _code(error)
    if code in REFUSALS:
        return unavailable(error)
    if code == "NOPERM" or _NOT_PERMITTED_IN_SCRIPT in str(error):
        # An ACL that lacks a command the store needs: inside a script, the
        # writes before the refused call stand, so a change's outcome is unknown.
        message = (
            "the Redis user lacks a permission the store needs (NOPERM): "
            "grant what the README's ACL lists"
        )
        return OutcomeUnknown(message) if command.changes else StoreUnavailable(message)
    return error


def run(
    pool: redis.ConnectionPool,
    commands: Sequence[Command],
    until: float,
    min_replicas: int = 0,
) -> list[Any]:
    """Each command's reply, or the exception it answers with, in order; all of
    them by `until` (on the monotonic clock).

    A command answered NOSCRIPT did not run: its script is loaded and it runs
    once more, in a second round trip within the same deadline. With
    `min_replicas` n, a pipeline that changes anything ends with `WAIT n`, and
    its changes are answered only if n replicas confirmed them.
    """
    if time.monotonic() >= until:
        late = TimeoutError("no time was left to send it")
        return [unavailable(late) for _ in commands]
    token = _deadline.set(until)
    try:
        results = _round_trip(pool, commands, min_replicas)
        missing = [
            index for index, result in enumerate(results) if isinstance(result, NoScriptError)
        ]
        if not missing:
            return results
        scripts = {commands[index].script for index in missing}
        loads = [Command(("SCRIPT", "LOAD", script.source), False) for script in scripts if script]
        again = [commands[index] for index in missing]
        replies = _round_trip(pool, [*loads, *again], min_replicas)[len(loads) :]
        for index, reply in zip(missing, replies, strict=True):
            results[index] = unavailable(reply) if isinstance(reply, NoScriptError) else reply
        return results
    finally:
        _deadline.reset(token)


def load_scripts_on(pool: redis.ConnectionPool, scripts: Sequence[LuaScript], until: float) -> None:
    """Have the server of `pool` hold `scripts`; raises the first failure."""
    loads = [Command(("SCRIPT", "LOAD", script.source), False) for script in scripts]
    for result in run(pool, loads, until):
        if isinstance(result, BaseException):
            raise result


class Unconfirmed(OutcomeUnknown):
    """A change the primary made and too few replicas confirmed in time: the
    connection is fine, the change may be lost by a failover."""


def unconfirmed(wanted: int, confirmed: int) -> Unconfirmed:
    return Unconfirmed(
        f"the change was made on the Redis primary but {confirmed} of the {wanted} replicas "
        "required confirmed it in time: a failover now could lose it; retry with the same "
        "requestId to find out"
    )


def _waited(commands: Sequence[Command], min_replicas: int) -> tuple[Sequence[Command], int | None]:
    """The pipeline to send, and the index of its WAIT (None: no WAIT)."""
    if min_replicas <= 0 or not any(command.changes for command in commands):
        return commands, None
    remaining = _remaining()
    # WAIT blocks up to its timeout, and its reply must still arrive by the
    # deadline: it gets the rest of the time but a margin for the way back.
    budget = 0.001 if remaining is None else remaining - min(0.05, remaining * 0.2)
    wait = Command(("WAIT", min_replicas, max(1, int(budget * 1000))), False)
    return [*commands, wait], len(commands)


def _confirmed(
    commands: Sequence[Command], results: list[Any], wait_at: int | None, min_replicas: int
) -> list[Any]:
    if wait_at is None:
        return results
    waited = results.pop(wait_at) if len(results) > wait_at else None
    confirmed = waited if isinstance(waited, int) else 0
    if confirmed >= min_replicas:
        return results
    return [
        unconfirmed(min_replicas, confirmed)
        if command.changes and not isinstance(result, BaseException)
        else result
        for command, result in zip(commands, results, strict=True)
    ]


def _round_trip(
    pool: redis.ConnectionPool, commands: Sequence[Command], min_replicas: int = 0
) -> list[Any]:
    try:
        connection = pool.get_connection()
    except (*LOST, ResponseError) as error:  # ResponseError: refused in AUTH or SELECT
        return [unavailable(error) for _ in commands]
    sent, wait_at = _waited(commands, min_replicas)
    results: list[Any] = []
    try:
        _set_timeout(connection)
        try:
            connection.send_packed_command(
                resp.packed(connection, [command.on(connection) for command in sent]),
                check_health=False,
            )
        except TimeoutError as error:
            # Part of it may be in the kernel's buffers, on its way.
            return [_lost(command, error) for command in commands]
        except LOST as error:
            return [unavailable(error) for _ in commands]
        while len(results) < len(sent):
            if not results:
                _set_timeout(connection)
                resp.fill(connection)
            results.extend(resp.buffered_replies(connection, len(sent) - len(results)))
            if len(results) == len(sent):
                break
            _set_timeout(connection)
            try:
                results.append(connection.read_response())
            except NoScriptError as error:
                results.append(error)
            except BusyLoadingError as error:  # refused before it ran
                results.append(unavailable(error))
            except ResponseError as error:
                results.append(_reply_error(sent[len(results)], error))
            except LOST as error:
                connection.disconnect()
                results.extend(_lost(rest, error) for rest in sent[len(results) :])
                break
    finally:
        pool.release(connection)
    return _confirmed(commands, results, wait_at, min_replicas)


def _set_timeout(connection: redis.Connection) -> None:
    sock = connection._sock  # the one way to move a socket's timeout to the deadline
    remaining = _remaining()
    if sock is not None and remaining is not None:
        sock.settimeout(remaining)
