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
    """A JSON integer of any size (fencing tokens outgrow 32 bits)."""

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


ErrorCode = graphene.Enum.from_enum(DomainErrorCode, description="Why a request was refused.")


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
    pool = graphene.String(required=True)
    obj = graphene.Int(required=True)
    owner = graphene.String()
    label = graphene.String()
    token = BigInt(required=True)
    acquired_at = graphene.DateTime(required=True)
    expires_at = graphene.DateTime()

    @staticmethod
    def resolve_acquired_at(lease: DomainLease, _info: graphene.ResolveInfo) -> datetime | None:
        return _time(lease.acquired_at)

    @staticmethod
    def resolve_expires_at(lease: DomainLease, _info: graphene.ResolveInfo) -> datetime | None:
        return _time(lease.expires_at)


class Pool(graphene.ObjectType):
    name = graphene.String(required=True)
    size = graphene.Int(required=True)
    available = graphene.Int(required=True)
    in_use = graphene.Int(required=True)
    waiting = graphene.Int(required=True)
    leases = graphene.List(
        graphene.NonNull(Lease),
        required=True,
        first=graphene.Int(default_value=DEFAULT_PAGE),
        after=graphene.Int(default_value=0),
        description="Held leases in obj order, obj > after.",
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

    success = graphene.Boolean(required=True)
    code = ErrorCode()
    message = graphene.String()


class AcquireObjectPayload(Outcome, graphene.ObjectType):
    lease = graphene.Field(Lease)


class FreeObjectPayload(Outcome, graphene.ObjectType):
    obj = graphene.Int()


class RenewLeasePayload(Outcome, graphene.ObjectType):
    lease = graphene.Field(Lease)


class PoolPayload(Outcome, graphene.ObjectType):
    pool = graphene.Field(Pool)


def payload(kind: type[graphene.ObjectType], field: str, action: Callable[[], Any]) -> Any:
    """Run `action`; its result fills `field`, a domain failure fills `code`."""
    try:
        return kind(success=True, **{field: action()})
    except PoolError as error:
        return kind(success=False, code=error.code.value, message=error.message)


class Query(graphene.ObjectType):
    get_object = graphene.Int(
        description=(
            "Seed-compatible: takes a free object of the default pool; "
            "null when none is free. POST only."
        )
    )
    pool = graphene.Field(Pool, name=graphene.String(required=True, default_value="default"))
    pools = graphene.List(
        graphene.NonNull(Pool),
        required=True,
        first=graphene.Int(default_value=DEFAULT_PAGE),
        after=graphene.String(default_value=""),
        description="Pools in name order, name > after.",
    )
    lease = graphene.Field(
        Lease,
        obj=graphene.Int(required=True),
        pool=graphene.String(required=True, default_value="default"),
    )
    version = graphene.String(required=True)

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


class Mutation(graphene.ObjectType):
    free_object = graphene.Field(
        graphene.NonNull(FreeObjectPayload),
        obj=graphene.Int(required=True),
        pool=graphene.String(required=True, default_value="default"),
        token=BigInt(),
        description="Seed-compatible: gives obj back. success false with a code when it cannot.",
    )
    acquire_object = graphene.Field(
        graphene.NonNull(AcquireObjectPayload),
        pool=graphene.String(required=True, default_value="default"),
        owner=graphene.String(),
        label=graphene.String(),
        ttl=graphene.Float(),
        wait=graphene.Float(),
        request_id=graphene.String(),
    )
    renew_lease = graphene.Field(
        graphene.NonNull(RenewLeasePayload),
        obj=graphene.Int(required=True),
        token=BigInt(required=True),
        pool=graphene.String(required=True, default_value="default"),
        ttl=graphene.Float(),
    )
    create_pool = graphene.Field(
        graphene.NonNull(PoolPayload),
        name=graphene.String(required=True),
        size=graphene.Int(required=True),
    )
    resize_pool = graphene.Field(
        graphene.NonNull(PoolPayload),
        name=graphene.String(required=True),
        size=graphene.Int(required=True),
    )
    delete_pool = graphene.Field(
        graphene.NonNull(PoolPayload),
        name=graphene.String(required=True),
        force=graphene.Boolean(default_value=False),
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
