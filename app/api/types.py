"""The schema's object types, enums and scalars, each element described:
the schema is the reference users read (docs/schema.graphql, GraphiQL's docs pane)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import graphene
from graphql import GraphQLError, IntValueNode, Undefined

from ..pool import limits
from ..pool.errors import ErrorCode as DomainErrorCode
from ..pool.lease import Lease as DomainLease
from ..pool.lease import PoolStats
from .context import context_of
from .outcomes import query_errors
from .policy_types import PoolPolicy

T = TypeVar("T")

#: The longest pool name: a `pools(after:)` cursor is never longer.
MAX_CURSOR = 64
DEFAULT_PAGE = 100


def given(value: T | None, default: T) -> T:
    """An argument's value, its default when the client sent an explicit null."""
    return default if value is None else value


class BigInt(graphene.Scalar):
    """A JSON integer of any size: fencing tokens outgrow GraphQL's 32-bit Int."""

    @staticmethod
    def serialize(value: int) -> int:
        return int(value)

    @staticmethod
    def parse_value(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise GraphQLError(f"BigInt must be a JSON integer, got {value!r}")
        return value

    @staticmethod
    def parse_literal(ast: Any, _variables: Any = None) -> Any:
        if isinstance(ast, IntValueNode):
            return int(ast.value)
        return Undefined


#: What each code means and what a client should do about it.
ERROR_CODES: dict[DomainErrorCode, str] = {
    DomainErrorCode.POOL_EXHAUSTED: (
        "No object of the pool is free (or others are already waiting for one) and the "
        "acquire did not wait. Nothing was granted. Retry later, free an object, or "
        "acquire with `wait` to queue for one."
    ),
    DomainErrorCode.ACQUIRE_TIMEOUT: (
        "The acquire waited its `wait` seconds (or the server's cap on waiting) and no "
        "object came free for it. Nothing was granted. Retry, with a longer `wait` if "
        "the server's cap allows it."
    ),
    DomainErrorCode.NOT_ALLOCATED: (
        "The object is not held: it was never granted, or it was freed, or its lease "
        "expired. Nothing changed. A holder told this has lost its lease: stop using "
        "the object and acquire again."
    ),
    DomainErrorCode.OUT_OF_RANGE: (
        "The object is outside 1..size of the pool. Nothing changed. Read the pool's "
        "`size` and name an object within it."
    ),
    DomainErrorCode.OBJECT_HELD: (
        "`acquireObject(obj:)` named an object that a live lease holds, or that is cooling "
        "after its lease expired or was revoked (the pool's `reuseDelay`). Nothing was "
        "granted. Acquire with `wait` to queue for that object, or name another."
    ),
    DomainErrorCode.NOT_OWNER: (
        "The lease belongs to another principal. Nothing changed. Only the lease's "
        "owner or an admin may free or renew it."
    ),
    DomainErrorCode.STALE_TOKEN: (
        "The token given is not the lease's current token, usually because the lease it "
        "came with ended and the object was granted again. Nothing changed. Stop using "
        "the object and acquire again."
    ),
    DomainErrorCode.QUOTA_EXCEEDED: (
        "The owner would hold more live leases of the pool than its policy's `maxPerOwner` "
        "allows. Refused at once, never queued; nothing was granted. Free some of the "
        "owner's leases first, or ask an admin to raise the pool's `maxPerOwner`."
    ),
    DomainErrorCode.POOL_NOT_FOUND: (
        "There is no pool of that name (it may have been deleted while the request "
        "waited). Nothing changed. Check the name, or create the pool."
    ),
    DomainErrorCode.POOL_EXISTS: (
        "`createPool` named a pool that already exists. Nothing changed. Use that pool, "
        "resize it, or choose another name."
    ),
    DomainErrorCode.POOL_IN_USE: (
        "`deletePool` without `force` while leases of the pool are held. Nothing "
        "changed. Wait until they are freed, or delete with `force: true`, which ends "
        "them."
    ),
    DomainErrorCode.BAD_USER_INPUT: (
        "A value is out of bounds (a size or ttl of 0 or less, a label too long, a "
        "malformed pool name, a ttl above the pool's `maxTtl`, a count above the pool's "
        "size, ...); `message` says which. Nothing changed. Fix the value: the same "
        "request fails the same way again."
    ),
    DomainErrorCode.FORBIDDEN: (
        "The principal lacks the role: creating, resizing and deleting pools, setting "
        "their policies and revoking leases are for admins. Nothing changed. Use an "
        "admin's token."
    ),
    DomainErrorCode.STORE_UNAVAILABLE: (
        "The store could not be reached. Nothing changed. Retry later."
    ),
    DomainErrorCode.OUTCOME_UNKNOWN: (
        "The change was sent to the store and its reply was lost: the store may have "
        "applied it. Retry with the same `requestId`: if the first acquire was granted, "
        "the retry returns that lease instead of granting a second one. For a change "
        "without a `requestId`, read the state (`lease`, `pool`) to learn whether it "
        "was applied."
    ),
}


def _error_code_description(code: DomainErrorCode | None) -> str:
    """The enum's description (`None`) or one value's; graphene asks for each."""
    if code is None:
        return (
            "Why an operation failed. Mutations answer it in their payload's `code` "
            "(with `success: false`); query fields in their GraphQL error's "
            "`extensions.code`."
        )
    return ERROR_CODES[code]


ErrorCode = graphene.Enum.from_enum(DomainErrorCode, description=_error_code_description)


def seconds_to_datetime(seconds: float | None) -> datetime | None:
    """A store's time (seconds since the epoch) as the schema's DateTime, in UTC."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


class Lease(graphene.ObjectType):
    """One object of a pool held by one holder, from its grant until it is freed or expires."""

    pool = graphene.String(required=True, description="The name of the pool the object is of.")
    obj = graphene.Int(
        required=True, description="The object held: an integer in 1..size of the pool."
    )
    owner = graphene.String(
        description=(
            "Who holds the lease: the authenticated principal when auth is on, otherwise "
            "the `owner` argument of the acquire; null when there was none."
        )
    )
    label = graphene.String(
        description=(
            "Free text the client gave with the acquire (a process name, a job id); null "
            "when it gave none."
        )
    )
    token = BigInt(
        required=True,
        description=(
            "The fencing token: an integer that strictly increases with every grant in the "
            "pool, across restarts. Renewing keeps it. Give it to `freeObject` and "
            "`renewLease`, and to downstream systems so they can reject writes carrying "
            "an older token."
        ),
    )
    acquired_at = graphene.DateTime(
        required=True, description="When the object was granted, by the server's clock."
    )
    expires_at = graphene.DateTime(
        description=(
            "When the lease expires unless renewed, by the server's clock; null when it has "
            "no TTL and lasts until freed. An expired lease's object goes back to the pool "
            "without anyone freeing it."
        )
    )

    ttl = graphene.Float(
        description=(
            "The lease's TTL in seconds: the one its acquire or last renewal set (the pool's "
            "`defaultTtl` or `maxTtl` when the acquire named none); null when it has none."
        )
    )
    request_id = graphene.String(
        description=(
            "The `requestId` of the acquire that granted the lease; null when it had none. "
            "An acquire with the same owner and `requestId` returns this lease again."
        )
    )

    @staticmethod
    def resolve_acquired_at(lease: DomainLease, _info: graphene.ResolveInfo) -> datetime | None:
        return seconds_to_datetime(lease.acquired_at)

    @staticmethod
    def resolve_expires_at(lease: DomainLease, _info: graphene.ResolveInfo) -> datetime | None:
        return seconds_to_datetime(lease.expires_at)


class Pool(graphene.ObjectType):
    """A named set of objects, the integers 1..size, each handed out to one holder at a time."""

    name = graphene.String(required=True, description="The pool's name, unique on the server.")
    size = graphene.Int(
        required=True, description="How many objects the pool has: its objects are 1..size."
    )
    available = graphene.Int(
        required=True, description="Objects of 1..size that no one holds: they can be acquired."
    )
    in_use = graphene.Int(
        required=True,
        description=(
            "Objects held by a live lease, including any above size that were held when "
            "the pool shrank."
        ),
    )
    waiting = graphene.Int(
        required=True,
        description=(
            "Acquires waiting in the pool's queue: each counts once, whatever it asks for "
            "(one object, a named one, or several)."
        ),
    )
    cooling = graphene.Int(
        required=True,
        description=(
            "Objects of 1..size out of circulation after their lease expired or was revoked, "
            "for the pool's `reuseDelay`: neither available nor in use. Within 1..size, "
            "available + inUse + cooling = size."
        ),
    )
    policy = graphene.Field(
        graphene.NonNull(PoolPolicy),
        description="The rules every grant and renewal of the pool follows.",
    )
    leases = graphene.List(
        graphene.NonNull(Lease),
        required=True,
        first=graphene.Int(
            default_value=DEFAULT_PAGE,
            description=(
                f"The most leases to return, 0..{limits.MAX_PAGE}. Default: {DEFAULT_PAGE}."
            ),
        ),
        after=graphene.Int(
            default_value=0,
            description=(
                "Only leases of objects above this one: the last `obj` of the previous page, "
                "or 0 for the first page. Default: 0."
            ),
        ),
        owner=graphene.String(
            description=(
                "Only the leases of this owner (a principal when auth is on). Default: "
                "every owner's."
            )
        ),
        description="The pool's live leases in ascending `obj` order, those with obj > after.",
    )

    @staticmethod
    @query_errors
    def resolve_leases(
        pool: PoolStats,
        info: graphene.ResolveInfo,
        first: int | None = DEFAULT_PAGE,
        after: int | None = 0,
        owner: str | None = None,
    ) -> list[DomainLease]:
        return context_of(info).service.leases(
            pool.name, given(first, DEFAULT_PAGE), given(after, 0), owner
        )


def pool_argument(description: str) -> graphene.String:
    """A `pool` argument that defaults to the pool every server starts with."""
    return graphene.String(
        required=True,
        default_value="default",
        description=f'{description} Default: "default", the pool that exists from the first start.',
    )
