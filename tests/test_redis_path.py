"""The Redis store's send and receive path: its own packing and its reading of the
replies already whole in the buffer answer exactly what redis-py's would.

Against the session's real redis-server: each pipeline is run twice, once through
`wire.run` and once through redis-py's own pipeline-free command/reply calls, and the
answers must be equal, error replies, nulls, nested arrays and RESP3 maps included.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from redis.exceptions import ResponseError

from app.stores.redis import resp, wire
from app.stores.redis.commands import SCRIPTS
from app.stores.redis.model import pool_keys

from .support.redis_server import RedisServer

WAIT = 5.0  # seconds; a deadline only a broken server reaches

ARGUMENTS: list[tuple[Any, ...]] = [
    ("SET", "k", "v"),
    ("SET", "ü-key", "snow ☃ man"),
    ("SET", "n", 12),
    ("SET", "f", 0.1),
    ("SET", "big", -(2**70)),
    ("SET", "raw", b"\x00\r\n\xff"),
    ("SET", "empty", ""),
    ("EVALSHA", "0" * 40, 2, "a", "b", "", "x y"),
]


@pytest.mark.parametrize("args", ARGUMENTS)
def test_packed_is_what_redis_py_packs(args: tuple[Any, ...]) -> None:
    connection = redis.Connection()
    commands = [args, args]
    ours = b"".join(resp.packed(connection, commands))
    theirs = b"".join(connection.pack_commands(commands))
    assert ours == theirs


def test_packed_refuses_what_redis_py_refuses() -> None:
    connection = redis.Connection()
    with pytest.raises(redis.DataError):
        resp.packed(connection, [("SET", "k", True)])
    with pytest.raises(redis.DataError):
        resp.packed(connection, [("SET", "k", None)])


# Replies of every shape a pipeline meets: the buffered reader takes the plain ones
# and leaves errors, maps and doubles to redis-py, in the middle of a pipeline too.
PIPELINE: list[tuple[Any, ...]] = [
    ("SET", "s", "value"),
    ("GET", "s"),
    ("GET", "missing"),
    ("INCR", "counter"),
    ("RPUSH", "list", "a", "", "c"),
    ("LRANGE", "list", 0, -1),
    ("LRANGE", "nothing", 0, -1),
    ("EVAL", "return {1, {'x', {}}, false, 'y'}", 0),
    ("EVAL", "return redis.error_reply('ERR from a script')", 0),
    ("INCR", "s"),
    ("HSET", "h", "f", "1"),
    ("HGETALL", "h"),
    ("EVAL", "return {1, redis.error_reply('ERR nested')}", 0),
    ("ZADD", "z", 1.5, "m"),
    ("ZSCORE", "z", "m"),
    ("SMEMBERS", "h-set"),
    ("PING",),
    ("GET", "s"),
]


def one_by_one(url: str, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Each command's reply through redis-py's own command and reply calls."""
    pool = redis.ConnectionPool.from_url(url)
    connection = pool.get_connection()
    replies: list[Any] = []
    try:
        for args in commands:
            connection.send_command(*args)
            try:
                replies.append(comparable(connection.read_response()))
            except ResponseError as error:
                replies.append(comparable(error))
    finally:
        pool.disconnect()
    return replies


def through_wire(url: str, commands: list[tuple[Any, ...]]) -> list[Any]:
    pool = redis.ConnectionPool.from_url(url, connection_class=wire.DeadlineConnection)
    try:
        results = wire.run(
            pool, [wire.Command(args, True) for args in commands], time.monotonic() + WAIT
        )
    finally:
        pool.disconnect()
    return [comparable(result) for result in results]


def comparable(reply: Any) -> Any:
    """A reply with its errors, at any depth, as their class and text."""
    if isinstance(reply, list):
        return [comparable(item) for item in reply]
    if isinstance(reply, BaseException):
        return ("error", type(reply).__name__, str(reply))
    return reply


def fresh(server: RedisServer) -> str:
    if not server.running:
        server.start()
    with server.client() as client:
        client.flushall()
    return server.url


@pytest.mark.parametrize("protocol", [2, 3])
def test_a_pipeline_reads_what_redis_py_reads(redis_server: RedisServer, protocol: int) -> None:
    url = f"{fresh(redis_server)}?protocol={protocol}"
    ours = through_wire(url, PIPELINE)
    url = f"{fresh(redis_server)}?protocol={protocol}"
    theirs = one_by_one(url, PIPELINE)
    assert ours == theirs
    # The shapes the buffered reader leaves to redis-py are really there.
    assert ("error", "ResponseError", "from a script") in ours
    assert any(isinstance(reply, dict | list) and reply for reply in ours)


def test_replies_larger_than_one_read_are_whole(redis_server: RedisServer) -> None:
    # Far more than one socket read of redis-py's: the buffer ends inside a reply.
    url = fresh(redis_server)
    value = "v" * 200_000
    commands: list[tuple[Any, ...]] = [("SET", "big", value)] + [("GET", "big")] * 12
    assert through_wire(url, commands) == one_by_one(fresh(redis_server), commands)


def test_an_acquire_script_reads_as_redis_py_reads_it(redis_server: RedisServer) -> None:
    url = fresh(redis_server)
    script = SCRIPTS["ensure"]
    keys = pool_keys("p")
    ensure = ("EVAL", script.source, len(keys), *keys, "", "5", "0", "100")
    acquire_script = SCRIPTS["acquire"]
    # now (Redis' TIME), ticket, session, rk, owner, label, request id, ttl,
    # principal, count, contiguous, named, the token floor, the journal's keep
    args = ("", "", "", "", "=o", "", "", "", "", "1", "0", "", "0", "100")
    acquire = ("EVAL", acquire_script.source, len(keys), *keys, *args)
    ours = through_wire(url, [ensure, *[acquire] * 3])
    theirs = one_by_one(fresh(redis_server), [ensure, *[acquire] * 3])
    # The times differ between the two runs; the shapes, objects and tokens do not.
    assert [strip_times(reply) for reply in ours] == [strip_times(reply) for reply in theirs]
    assert [reply[0][2] for reply in ours[1:]] == [b"1", b"2", b"3"]


def strip_times(reply: Any) -> Any:
    if isinstance(reply, list):
        return [strip_times(item) for item in reply]
    if isinstance(reply, bytes) and (b"acquired_at" in reply or b"." in reply):
        return b"<time>"
    return reply
