"""The GraphQL schema of the contract, resolved against a `LeaseService`.

Domain failures of mutations are payload data (`success: false`, `code`,
`message`); those of queries are GraphQL errors with `extensions.code`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

import graphene
from graphql import GraphQLError, IntValueNode, Undefined

from ..pool import limits
from ..pool.errors import ErrorCode as DomainErrorCode
from ..pool.errors import PoolError, PoolExhausted
from ..pool.lease import Lease as DomainLease
from ..pool.lease import PoolStats
from ..service import LeaseService
from ..version import __version__

T = TypeVar("T")

#: The longest pool name: a `pools(after:)` cursor is never longer.
MAX_CURSOR = 64
DEFAULT_PAGE = 100


def _given(value: T | None, default: T) -> T:
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
    DomainErrorCode.NOT_OWNER: (
        "The lease belongs to another principal. Nothing changed. Only the lease's "
        "owner or an admin may free or renew it."
    ),
    DomainErrorCode.STALE_TOKEN: (
        "The token given is not the lease's current token, usually because the lease it "
        "came with ended and the object was granted again. Nothing changed. Stop using "
        "the object and acquire again."
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
        "malformed pool name, ...); `message` says which. Nothing changed. Fix the "
        "value: the same request fails the same way again."
    ),
    DomainErrorCode.FORBIDDEN: (
        "The principal lacks the role: creating, resizing and deleting pools are for "
        "admins. Nothing changed. Use an admin's token."
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


def _time(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _service(info: graphene.ResolveInfo) -> LeaseService:
    return info.context["service"]


def _deadline(info: graphene.ResolveInfo) -> float | None:
    """When every wait of this request must be over, on the service's clock.

    The request's first acquire waits at most OBJMGR_MAX_WAIT by itself, from
    when it starts; the deadline it sets then ends every later wait of the
    request too, so aliased waits cannot add up.
    """
    context = info.context
    if "deadline" in context:
        return context["deadline"]
    context["deadline"] = _service(info).request_deadline()
    return None


def query_errors(resolver: Callable[..., T]) -> Callable[..., T]:
    """Turn a domain failure of a query field into a GraphQL error with a code."""

    @wraps(resolver)
    def resolve(*args: Any, **kwargs: Any) -> T:
        try:
            return resolver(*args, **kwargs)
        except PoolError as error:
            raise GraphQLError(error.message, extensions={"code": error.code.value}) from error

    return resolve


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

    @staticmethod
    def resolve_acquired_at(lease: DomainLease, _info: graphene.ResolveInfo) -> datetime | None:
        return _time(lease.acquired_at)

    @staticmethod
    def resolve_expires_at(lease: DomainLease, _info: graphene.ResolveInfo) -> datetime | None:
        return _time(lease.expires_at)


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
        required=True, description="Acquires waiting in the pool's queue for an object."
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
        description="The pool's live leases in ascending `obj` order, those with obj > after.",
    )

    @staticmethod
    @query_errors
    def resolve_leases(
        pool: PoolStats,
        info: graphene.ResolveInfo,
        first: int | None = DEFAULT_PAGE,
        after: int | None = 0,
    ) -> list[DomainLease]:
        return _service(info).leases(pool.name, _given(first, DEFAULT_PAGE), _given(after, 0))


class Outcome:
    """The fields every mutation payload starts with."""

    success = graphene.Boolean(
        required=True,
        description=(
            "True when the operation was done; false when it was not, and then `code` and "
            "`message` say why."
        ),
    )
    code = ErrorCode(
        description="Why the operation failed, and so what to do; null when it succeeded."
    )
    message = graphene.String(
        description=(
            "The failure explained for people; null when it succeeded. Programs should "
            "decide on `code`, not on this text."
        )
    )


class AcquireObjectPayload(Outcome, graphene.ObjectType):
    """What `acquireObject` answers."""

    lease = graphene.Field(Lease, description="The lease granted; null when success is false.")


class FreeObjectPayload(Outcome, graphene.ObjectType):
    """What `freeObject` answers."""

    obj = graphene.Int(description="The object given back; null when success is false.")


class RenewLeasePayload(Outcome, graphene.ObjectType):
    """What `renewLease` answers."""

    lease = graphene.Field(
        Lease,
        description=(
            "The lease with its new `expiresAt` and the same token; null when success is false."
        ),
    )


class PoolPayload(Outcome, graphene.ObjectType):
    """What the pool mutations answer."""

    pool = graphene.Field(
        Pool,
        description=(
            "The pool after the change (after `deletePool`: as it was just before); null when "
            "success is false."
        ),
    )


def payload(kind: type[graphene.ObjectType], field: str, action: Callable[[], Any]) -> Any:
    """Run `action`; its result fills `field`, a domain failure fills `code`."""
    try:
        return kind(success=True, **{field: action()})
    except PoolError as error:
        return kind(success=False, code=error.code.value, message=error.message)


def _pool_argument(description: str) -> graphene.String:
    """A `pool` argument that defaults to the pool every server starts with."""
    return graphene.String(
        required=True,
        default_value="default",
        description=f'{description} Default: "default", the pool that exists from the first start.',
    )


class Query(graphene.ObjectType):
    """What can be read. A field that fails answers null with a GraphQL error whose
    `extensions.code` is an `ErrorCode` value."""

    get_object = graphene.Int(
        description=(
            "Takes a free object of the default pool, as `acquireObject` with no arguments "
            "does, and returns it (free it with `freeObject`); null when none is free. It "
            "changes state, so it is served over POST only: over GET the request is refused "
            "with HTTP 405 and nothing is taken."
        )
    )
    pool = graphene.Field(
        Pool,
        name=_pool_argument("The name of the pool to read."),
        description="A pool by its name; null when there is no such pool.",
    )
    pools = graphene.List(
        graphene.NonNull(Pool),
        required=True,
        first=graphene.Int(
            default_value=DEFAULT_PAGE,
            description=f"The most pools to return, 0..{limits.MAX_PAGE}. Default: {DEFAULT_PAGE}.",
        ),
        after=graphene.String(
            default_value="",
            description=(
                "Only pools whose name sorts after this one: the last `name` of the "
                "previous page, or empty for the first page. Default: empty."
            ),
        ),
        description="Pools in name order, those whose name sorts after `after`.",
    )
    lease = graphene.Field(
        Lease,
        obj=graphene.Int(required=True, description="The object, in 1..size of the pool."),
        pool=_pool_argument("The name of the object's pool."),
        description=(
            "The live lease on an object; null when the object is free. An object outside "
            "1..size is an OUT_OF_RANGE error."
        ),
    )
    version = graphene.String(required=True, description="The version of the objmgr server.")

    @staticmethod
    @query_errors
    def resolve_get_object(_root: None, info: graphene.ResolveInfo) -> int | None:
        if info.context["request"].method != "POST":
            # The view answers 405 for the whole request; nothing is taken.
            info.context["refused_over_get"] = True
            return None
        try:
            return _service(info).acquire(info.context["caller"]).obj
        except PoolExhausted:
            return None

    @staticmethod
    @query_errors
    def resolve_pool(_root: None, info: graphene.ResolveInfo, name: str) -> PoolStats | None:
        return _service(info).pool(name)

    @staticmethod
    @query_errors
    def resolve_pools(
        _root: None,
        info: graphene.ResolveInfo,
        first: int | None = DEFAULT_PAGE,
        after: str | None = "",
    ) -> list[PoolStats]:
        cursor = limits.text("after", after, MAX_CURSOR) or ""
        return _service(info).pools(_given(first, DEFAULT_PAGE), cursor)

    @staticmethod
    @query_errors
    def resolve_lease(
        _root: None, info: graphene.ResolveInfo, obj: int, pool: str
    ) -> DomainLease | None:
        return _service(info).lease(obj, pool)

    @staticmethod
    def resolve_version(_root: None, _info: graphene.ResolveInfo) -> str:
        return __version__


_TTL_BOUNDS = f"more than 0 and at most {limits.MAX_TTL:.0f}"
_POOL_NAME_RULE = (
    f"1 to {MAX_CURSOR} letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
)
_SIZE_BOUNDS = f"1..{limits.MAX_INT}"


class Mutation(graphene.ObjectType):
    """What changes state. A failure is data, not a GraphQL error: the payload's
    `success` is false and its `code` and `message` say why."""

    free_object = graphene.Field(
        graphene.NonNull(FreeObjectPayload),
        obj=graphene.Int(required=True, description="The object to give back."),
        pool=_pool_argument("The name of the object's pool."),
        token=BigInt(
            description=(
                "The lease's fencing token. When given, the free is refused with STALE_TOKEN "
                "unless it is the lease's current token, so a holder whose lease ended cannot "
                "free the object's next holder. Default: no check of the token."
            )
        ),
        description=(
            "Gives an object back: its lease ends and the object can be handed out again. "
            "Allowed to the lease's owner and to admins (to anyone when auth is off). "
            "`success` is false with a `code` when it cannot be done, e.g. NOT_ALLOCATED for "
            "an object that is not held."
        ),
    )
    acquire_object = graphene.Field(
        graphene.NonNull(AcquireObjectPayload),
        pool=_pool_argument("The name of the pool to take an object from."),
        owner=graphene.String(
            description=(
                f"Who holds the lease, at most {limits.MAX_OWNER} characters. Ignored when "
                "auth is on: the owner is then the authenticated principal. Default: none."
            )
        ),
        label=graphene.String(
            description=(
                "Free text kept with the lease (a process name, a job id), at most "
                f"{limits.MAX_LABEL} characters. Default: none."
            )
        ),
        ttl=graphene.Float(
            description=(
                f"Seconds the lease lasts before it expires, {_TTL_BOUNDS}; `renewLease` "
                "extends it. Default: no TTL, the lease lasts until it is freed."
            )
        ),
        wait=graphene.Float(
            description=(
                "Seconds to wait in the pool's queue when no object is free, 0 or more, cut "
                "to the server's cap on waiting (OBJMGR_MAX_WAIT), which all the waits of one "
                "request share. Waiters are served in arrival order. When the time is up: "
                "ACQUIRE_TIMEOUT. Default: no wait (as 0), POOL_EXHAUSTED at once."
            )
        ),
        request_id=graphene.String(
            description=(
                f"A key that makes retrying safe, 1 to {limits.MAX_REQUEST_ID} characters: "
                "an acquire with the same owner and `requestId` as a live lease returns that "
                "lease instead of granting a second one. Retry with it after a lost response "
                "or OUTCOME_UNKNOWN. Default: none, every acquire is a new grant."
            )
        ),
        description=(
            "Takes a free object of the pool and grants a lease on it: objects never used "
            "yet first, in ascending order, then freed objects, the longest-free first. "
            "While anyone waits in the pool's queue, the head of the queue is served first. "
            "When no object is free: POOL_EXHAUSTED, or with `wait`, a wait for one."
        ),
    )
    renew_lease = graphene.Field(
        graphene.NonNull(RenewLeasePayload),
        obj=graphene.Int(required=True, description="The object whose lease to renew."),
        token=BigInt(
            required=True,
            description="The lease's current fencing token; any other is refused with STALE_TOKEN.",
        ),
        pool=_pool_argument("The name of the object's pool."),
        ttl=graphene.Float(
            description=(
                f"Seconds from now until the lease expires, {_TTL_BOUNDS}. Default: the "
                "lease's last TTL (a lease without one stays without one)."
            )
        ),
        description=(
            "Extends a lease: its `expiresAt` becomes now + ttl by the server's clock; its "
            "token stays the same. Allowed to the lease's owner and to admins (to anyone "
            "when auth is off)."
        ),
    )
    create_pool = graphene.Field(
        graphene.NonNull(PoolPayload),
        name=graphene.String(required=True, description=f"The new pool's name: {_POOL_NAME_RULE}."),
        size=graphene.Int(
            required=True,
            description=f"How many objects it has, {_SIZE_BOUNDS}: its objects are 1..size.",
        ),
        description=(
            "Creates a pool whose objects 1..size are all available. Admins only; "
            "POOL_EXISTS when the name is taken."
        ),
    )
    resize_pool = graphene.Field(
        graphene.NonNull(PoolPayload),
        name=graphene.String(required=True, description="The name of the pool to resize."),
        size=graphene.Int(required=True, description=f"The new size, {_SIZE_BOUNDS}."),
        description=(
            "Changes a pool's size. Shrinking it below objects in use keeps their leases "
            "valid; the objects above the new size are not handed out again while the pool "
            "is smaller than them. Admins only."
        ),
    )
    delete_pool = graphene.Field(
        graphene.NonNull(PoolPayload),
        name=graphene.String(required=True, description="The name of the pool to delete."),
        force=graphene.Boolean(
            default_value=False,
            description="Delete it even while leases of it are held, ending them. Default: false.",
        ),
        description=(
            "Deletes a pool. Refused with POOL_IN_USE while leases of it are held, unless "
            "`force`. Its waiters are told POOL_NOT_FOUND. Admins only."
        ),
    )

    @staticmethod
    def resolve_free_object(
        _root: None, info: graphene.ResolveInfo, obj: int, pool: str, token: int | None = None
    ) -> FreeObjectPayload:
        caller = info.context["caller"]
        return payload(
            FreeObjectPayload, "obj", lambda: _service(info).free(caller, obj, pool, token)
        )

    @staticmethod
    def resolve_acquire_object(
        _root: None, info: graphene.ResolveInfo, pool: str, **options: Any
    ) -> AcquireObjectPayload:
        caller = info.context["caller"]
        return payload(
            AcquireObjectPayload,
            "lease",
            lambda: _service(info).acquire(
                caller,
                pool,
                still_wanted=info.context["client_connected"],
                deadline=_deadline(info),
                **options,
            ),
        )

    @staticmethod
    def resolve_renew_lease(
        _root: None,
        info: graphene.ResolveInfo,
        obj: int,
        token: int,
        pool: str,
        ttl: float | None = None,
    ) -> RenewLeasePayload:
        caller = info.context["caller"]
        return payload(
            RenewLeasePayload, "lease", lambda: _service(info).renew(caller, obj, token, pool, ttl)
        )

    @staticmethod
    def resolve_create_pool(
        _root: None, info: graphene.ResolveInfo, name: str, size: int
    ) -> PoolPayload:
        caller = info.context["caller"]
        return payload(PoolPayload, "pool", lambda: _service(info).create_pool(caller, name, size))

    @staticmethod
    def resolve_resize_pool(
        _root: None, info: graphene.ResolveInfo, name: str, size: int
    ) -> PoolPayload:
        caller = info.context["caller"]
        return payload(PoolPayload, "pool", lambda: _service(info).resize_pool(caller, name, size))

    @staticmethod
    def resolve_delete_pool(
        _root: None, info: graphene.ResolveInfo, name: str, force: bool | None = False
    ) -> PoolPayload:
        caller = info.context["caller"]
        forced = bool(force)
        return payload(
            PoolPayload, "pool", lambda: _service(info).delete_pool(caller, name, forced)
        )


schema = graphene.Schema(query=Query, mutation=Mutation, auto_camelcase=True)
