"""RESP on the store's connections: a pipeline packed in one pass, and the
replies already in the read buffer parsed at once.

redis-py's packer rebuilds its buffer for every argument and its parser reads
each line through its buffer object; a script's pipeline has forty arguments a
command and its replies usually arrive in one read, so the store does both
here for the common cases and leaves everything else to redis-py (`wire.py`
sends and reads through these, tests/test_redis_path.py holds them to
redis-py's answers). The parser reads redis-py's own read buffer (its parser's
`_buffer`), so a redis-py whose buffer is shaped otherwise reads as if this
module were not there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import ConnectionError


def packed(
    connection: redis.connection.AbstractConnection, commands: Sequence[Sequence[Any]]
) -> list[bytes]:
    """`commands` (each its arguments) as sent on `connection`, in one buffer.

    redis-py's packer rebuilds its buffer for every argument, so a script's
    forty arguments cost it quadratic copying; this writes each piece once.
    A connection that encodes text otherwise than as strict UTF-8 keeps it.
    """
    encoder = connection.encoder  # type: ignore[attr-defined]
    if (encoder.encoding, encoder.encoding_errors) != ("utf-8", "strict"):
        return list(connection.pack_commands(commands))
    pieces: list[bytes] = []
    for args in commands:
        pieces.append(b"*%d\r\n" % len(args))
        for arg in args:
            pieces.append(_bulk(arg))
    return [b"".join(pieces)]


#: Bulk strings of the short text arguments seen lately: a pool's keys, a
#: script's sha and most arguments repeat from one command to the next.
_bulks: dict[str, bytes] = {}
_BULKS_KEPT = 4096
_BULK_CACHED_BELOW = 256


def _bulk(arg: Any) -> bytes:
    """One argument as a RESP bulk string, encoded as redis-py's Encoder would."""
    if isinstance(arg, str):
        known = _bulks.get(arg)
        if known is not None:
            return known
        data = arg.encode()
        known = b"$%d\r\n%s\r\n" % (len(data), data)
        if len(data) < _BULK_CACHED_BELOW:
            if len(_bulks) >= _BULKS_KEPT:
                _bulks.clear()
            _bulks[arg] = known
        return known
    if isinstance(arg, bytes | bytearray | memoryview):
        data = bytes(arg)
    elif isinstance(arg, int) and not isinstance(arg, bool):
        data = b"%d" % arg
    elif isinstance(arg, float):
        data = repr(arg).encode()
    else:
        raise redis.DataError(f"invalid input of type {type(arg).__name__!r} for a Redis command")
    return b"$%d\r\n%s\r\n" % (len(data), data)


class _Partial(Exception):
    """The buffer ends inside a reply, or the reply holds what only redis-py reads."""


def buffered_replies(connection: redis.connection.AbstractConnection, most: int) -> list[Any]:
    """Up to `most` replies already whole in `connection`'s read buffer, parsed at once.

    A pipeline's replies usually arrive in one read: parsing them here costs
    a fraction of redis-py's parser, which reads each line through its
    buffer. Only what that parser would answer alike is read here (strings,
    integers, nulls, arrays of them); at an error, a push, any other type or
    the buffer's end it stops, and redis-py's parser reads from there.
    """
    parser = getattr(connection, "_parser", None)
    socket_buffer = getattr(parser, "_buffer", None)
    stream = getattr(socket_buffer, "_buffer", None)
    if most <= 0 or stream is None or connection.encoder.decode_responses:  # type: ignore[attr-defined]
        return []
    start = stream.tell()
    data = stream.getvalue()
    end = len(data)
    replies: list[Any] = []
    while len(replies) < most and start < end:
        try:
            reply, start = _reply(data, start, end)
        except _Partial:
            break
        replies.append(reply)
    if not replies:
        return replies
    stream.seek(start)
    socket_buffer.purge()  # type: ignore[union-attr]
    interval: float = getattr(connection, "health_check_interval", 0)
    if interval:
        connection.next_health_check = time.monotonic() + interval  # type: ignore[attr-defined,assignment]
    return replies


def fill(connection: redis.connection.AbstractConnection) -> None:
    """Wait for the first replies and read what came into the parser's buffer.

    A failure here is left for redis-py's read, which meets it again (a
    closed or reset socket reads as closed, a timeout keeps the deadline's
    last millisecond) and answers it as it always does.
    """
    socket_buffer = getattr(getattr(connection, "_parser", None), "_buffer", None)
    if socket_buffer is None or not hasattr(socket_buffer, "_read_from_socket"):
        return
    try:
        if socket_buffer.unread_bytes() == 0:
            socket_buffer._read_from_socket(raise_on_timeout=False)
    except (ConnectionError, OSError):
        pass


def _reply(data: bytes, at: int, end: int) -> tuple[Any, int]:
    line_end = data.find(b"\r\n", at)
    if line_end <= at:
        raise _Partial
    kind = data[at]
    line = data[at + 1 : line_end]
    at = line_end + 2
    if kind == _BULK:
        size = _header(line)
        if size < 0:
            return None, at
        if at + size + 2 > end:
            raise _Partial
        return data[at : at + size], at + size + 2
    if kind in (_ARRAY, _SET):
        size = _header(line)
        if size < 0:
            return None, at
        items = []
        for _ in range(size):
            item, at = _reply(data, at, end)
            items.append(item)
        return items, at
    if kind == _INTEGER:
        return _header(line), at
    if kind == _SIMPLE:
        return line, at
    if kind == _NULL:
        return None, at
    raise _Partial


def _header(line: bytes) -> int:
    try:
        return int(line)
    except ValueError:
        raise _Partial from None


_BULK, _INTEGER, _ARRAY, _SET, _SIMPLE, _NULL = b"$:*~+_"
