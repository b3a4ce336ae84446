"""The codes each script answers with, and the exception each one means.

A script's reply starts with "OK" or one of the codes of its table here;
anything else is a bug, raised as such.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ...pool.errors import (
    BadUserInput,
    PoolError,
    PoolExists,
    PoolInUse,
    StoreUnavailable,
    exhausted,
    not_allocated,
    object_cooling,
    object_held,
    out_of_range,
    pool_not_found,
    quota_exceeded,
)
from ...pool.events import Event, EventKind
from ...pool.lease import AcquireRequest, Caller, Lease, PoolStats, check_release
from ...pool.policy import PoolPolicy, grant_ttl


class Refused(NamedTuple):
    """What a refusal is about: the pool, and for object operations the rest."""

    pool: str
    obj: int | None = None
    caller: Caller | None = None
    token: int | None = None
    reply: list[Any] | None = None


Table = Mapping[str, Callable[[Refused], PoolError]]


def _not_found(refused: Refused) -> PoolError:
    return pool_not_found(refused.pool)


def _exhausted(refused: Refused) -> PoolError:
    return exhausted(refused.pool)


def _exists(refused: Refused) -> PoolError:
    return PoolExists(f"pool {refused.pool!r} exists already")


def _in_use(refused: Refused) -> PoolError:
    assert refused.reply is not None
    return PoolInUse(
        f"pool {refused.pool!r} has {int(refused.reply[1])} leases held; "
        "delete with force: true to drop them"
    )


def _out_of_range(refused: Refused) -> PoolError:
    assert refused.obj is not None and refused.reply is not None
    return out_of_range(refused.pool, refused.obj, int(refused.reply[1]))


def _not_allocated(refused: Refused) -> PoolError:
    assert refused.obj is not None
    return not_allocated(refused.pool, refused.obj)


def _release_refused(refused: Refused) -> PoolError:
    """NOT_OWNER and STALE_TOKEN: the script refused by app/pool/lease.py's own
    rule, so that rule words the refusal, from the lease record it sent."""
    assert refused.obj is not None and refused.caller is not None and refused.reply is not None
    lease = lease_from(refused.pool, refused.obj, refused.reply[1])
    try:
        check_release(lease, refused.caller, refused.token)
    except PoolError as error:
        return error
    raise RuntimeError(f"the Redis store refused what the lease rule allows: {refused.reply!r}")


def _ttl_above_max(ttl: float | None) -> Callable[[Refused], PoolError]:
    """TTL_ABOVE_MAX, with the policy's text: policy.py's own rule words it."""

    def refusal(refused: Refused) -> PoolError:
        assert refused.reply is not None
        try:
            grant_ttl(PoolPolicy.from_json(text(refused.reply[1])), ttl)
        except PoolError as error:
            return error
        raise RuntimeError(f"the Redis store refused a TTL its policy allows: {refused.reply!r}")

    return refusal


def _upgrading(refused: Refused) -> PoolError:
    """Still RETRY after MAX_STEPS runs: an older version's large pool whose
    indexes the scripts are building (model.py, P:meta's v)."""
    return StoreUnavailable(
        f"pool {refused.pool!r} made by an older version is having its indexes built; retry later"
    )


def grant_refusals(request: AcquireRequest) -> Table:
    """The grant script's codes (lua/acquire.lua names them), for `request`."""

    def count_above_size(refused: Refused) -> PoolError:
        assert refused.reply is not None
        return BadUserInput(
            f"count {request.count} is above the size {int(refused.reply[1])} of pool "
            f"{request.pool!r}: it can never be granted"
        )

    def quota(refused: Refused) -> PoolError:
        assert refused.reply is not None and request.owner is not None
        return quota_exceeded(request.pool, request.owner, int(refused.reply[1]))

    def named(make: Callable[[str, int], PoolError]) -> Callable[[Refused], PoolError]:
        return lambda refused: make(request.pool, request.obj or 0)

    return {
        "RETRY": _upgrading,
        "POOL_NOT_FOUND": _not_found,
        "POOL_EXHAUSTED": _exhausted,
        "TTL_ABOVE_MAX": _ttl_above_max(request.ttl),
        "COUNT_ABOVE_SIZE": count_above_size,
        "OUT_OF_RANGE": _out_of_range,
        "QUOTA_EXCEEDED": quota,
        "OBJECT_HELD": named(object_held),
        "OBJECT_COOLING": named(object_cooling),
    }


def renew_refusals(ttl: float | None) -> Table:
    """The renew script's codes: free's, and TTL_ABOVE_MAX (rule R12)."""
    return {**RELEASE, "TTL_ABOVE_MAX": _ttl_above_max(ttl)}


ONLY_POOL: Table = {"POOL_NOT_FOUND": _not_found}
CREATE: Table = {"POOL_EXISTS": _exists}
RESIZE: Table = ONLY_POOL
DELETE: Table = {"POOL_NOT_FOUND": _not_found, "POOL_IN_USE": _in_use}
STATS: Table = ONLY_POOL
LEASES: Table = ONLY_POOL
LEASE: Table = {"POOL_NOT_FOUND": _not_found, "OUT_OF_RANGE": _out_of_range}
#: free and renew
RELEASE: Table = {
    "POOL_NOT_FOUND": _not_found,
    "OUT_OF_RANGE": _out_of_range,
    "NOT_ALLOCATED": _not_allocated,
    "NOT_OWNER": _release_refused,
    "STALE_TOKEN": _release_refused,
}
POLICY: Table = ONLY_POOL
REVOKE: Table = ONLY_POOL
JOIN: Table = ONLY_POOL
LEAVE: Table = {}
HEAD: Table = ONLY_POOL


def lease_from(pool: str, obj: Any, record: bytes) -> Lease:
    """The lease a script's JSON record describes."""
    data = json.loads(record)
    expires_at, ttl = data.get("expires_at"), data.get("ttl")
    return Lease(
        pool=pool,
        obj=int(obj),
        token=int(data["token"]),
        owner=data.get("owner"),
        label=data.get("label"),
        acquired_at=float(data["acquired_at"]),
        expires_at=None if expires_at is None else float(expires_at),
        ttl=None if ttl is None else float(ttl),
        request_id=data.get("request_id"),
    )


def _number(fields: Mapping[bytes, bytes], name: bytes) -> float | None:
    value = fields.get(name)
    return None if value is None else float(value)


def _integer(fields: Mapping[bytes, bytes], name: bytes) -> int | None:
    value = fields.get(name)
    return None if value is None else int(value)


def _string(fields: Mapping[bytes, bytes], name: bytes) -> str | None:
    value = fields.get(name)
    return None if value is None else value.decode()


def event_from(pool: str, entry: list[Any]) -> Event:
    """The event of a journal entry, [b"SEQ-0", [field, value, ...]], as XRANGE
    answers it and as the scripts reply the entries they wrote."""
    entry_id, flat = entry
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    at = _number(fields, b"at")
    assert at is not None, entry
    return Event(
        pool=pool,
        seq=int(entry_id.split(b"-", 1)[0]),
        kind=EventKind(fields[b"kind"].decode()),
        at=at,
        obj=_integer(fields, b"obj"),
        token=_integer(fields, b"token"),
        owner=_string(fields, b"owner"),
        label=_string(fields, b"label"),
        principal=_string(fields, b"principal"),
        reason=_string(fields, b"reason"),
        size=_integer(fields, b"size"),
        expires_at=_number(fields, b"expires_at"),
    )


def stats_from(name: str, reply: list[Any]) -> PoolStats:
    """The stats a script's reply starts with, after its code (lua/reads.lua stats)."""
    size, in_use, available, waiting, cooling, policy = reply[1:7]
    return PoolStats(
        name,
        int(size),
        int(in_use),
        int(available),
        int(waiting),
        int(cooling),
        PoolPolicy.from_json(text(policy)),
    )


def optional(value: str | None) -> str:
    """An optional string as the scripts read it: '' for none, else '=' and the value."""
    return "" if value is None else "=" + value


def text(value: Any) -> str:
    """A reply element as text: Redis answers bytes."""
    return value.decode() if isinstance(value, bytes) else str(value)


def check(reply: list[Any], table: Table, refused: Refused) -> None:
    """Nothing when `reply` starts with "OK"; else raise what its code means by `table`."""
    refuse(text(reply[0]), table, refused._replace(reply=reply))


def refuse(code: str, table: Table, refused: Refused) -> None:
    """Nothing for "OK"; else raise what `code` means by `table`."""
    if code == "OK":
        return
    make = table.get(code)
    if make is None:
        raise RuntimeError(f"unexpected reply from the Redis store: {refused.reply!r}")
    raise make(refused)
