"""What can be read: the schema's `Query` type and its resolvers."""

from __future__ import annotations

import graphene

from ..pool import limits
from ..pool.errors import PoolExhausted
from ..pool.events import Event as DomainEvent
from ..pool.lease import Lease as DomainLease
from ..pool.lease import PoolStats
from ..version import __version__
from .context import context_of
from .events import Event
from .outcomes import query_errors
from .types import DEFAULT_PAGE, MAX_CURSOR, BigInt, Lease, Pool, given, pool_argument


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
        name=pool_argument("The name of the pool to read."),
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
        pool=pool_argument("The name of the object's pool."),
        description=(
            "The live lease on an object; null when the object is free. An object outside "
            "1..size is an OUT_OF_RANGE error."
        ),
    )
    leases = graphene.List(
        graphene.NonNull(Lease),
        required=True,
        owner=graphene.String(
            required=True,
            description=(
                "The owner whose leases to list: a principal when auth is on, else the "
                "`owner` its acquires named."
            ),
        ),
        first=graphene.Int(
            default_value=DEFAULT_PAGE,
            description=(
                f"The most leases to return, 0..{limits.MAX_PAGE}. Default: {DEFAULT_PAGE}."
            ),
        ),
        description=(
            "One owner's live leases in every pool, in (pool name, `obj`) order: what it "
            "holds, wherever it holds it. For one pool only, or the next page of one pool, "
            "read `pool(name:) { leases(owner:, after:) }`."
        ),
    )
    events = graphene.List(
        graphene.NonNull(Event),
        required=True,
        pool=pool_argument("The name of the pool whose journal to read."),
        after=BigInt(
            default_value=0,
            description=(
                "Only events with a `seq` above this one: the last `seq` of the previous page, "
                "or 0 for the oldest event kept. Default: 0."
            ),
        ),
        first=graphene.Int(
            default_value=DEFAULT_PAGE,
            description=(
                f"The most events to return, 0..{limits.MAX_PAGE}. Default: {DEFAULT_PAGE}."
            ),
        ),
        description=(
            "The pool's journal: its events with seq > after, in ascending `seq` order. The "
            "journal keeps at least the last OBJMGR_EVENTS_KEEP events of each pool name "
            "(10,000 by default); older ones are trimmed, so the first page may start above "
            "after + 1. A deleted pool's events stay readable; a name that never had a pool "
            "has none (an empty list, not an error). With auth on, any authenticated "
            "principal may read the journal of any pool, as it may read `pool`."
        ),
    )
    version = graphene.String(required=True, description="The version of the objmgr server.")

    @staticmethod
    @query_errors
    def resolve_get_object(_root: None, info: graphene.ResolveInfo) -> int | None:
        # Only ever reached over POST: the view refuses, before it runs, a GET that would.
        context = context_of(info)
        try:
            return context.service.acquire(context.caller).obj
        except PoolExhausted:
            return None

    @staticmethod
    @query_errors
    def resolve_pool(_root: None, info: graphene.ResolveInfo, name: str) -> PoolStats | None:
        return context_of(info).service.pool(name)

    @staticmethod
    @query_errors
    def resolve_pools(
        _root: None,
        info: graphene.ResolveInfo,
        first: int | None = DEFAULT_PAGE,
        after: str | None = "",
    ) -> list[PoolStats]:
        cursor = limits.text("after", after, MAX_CURSOR) or ""
        return context_of(info).service.pools(given(first, DEFAULT_PAGE), cursor)

    @staticmethod
    @query_errors
    def resolve_lease(
        _root: None, info: graphene.ResolveInfo, obj: int, pool: str
    ) -> DomainLease | None:
        return context_of(info).service.lease(obj, pool)

    @staticmethod
    @query_errors
    def resolve_leases(
        _root: None, info: graphene.ResolveInfo, owner: str, first: int | None = DEFAULT_PAGE
    ) -> list[DomainLease]:
        return context_of(info).service.owner_leases(owner, given(first, DEFAULT_PAGE))

    @staticmethod
    @query_errors
    def resolve_events(
        _root: None,
        info: graphene.ResolveInfo,
        pool: str,
        after: int | None = 0,
        first: int | None = DEFAULT_PAGE,
    ) -> list[DomainEvent]:
        return context_of(info).service.events(pool, given(after, 0), given(first, DEFAULT_PAGE))

    @staticmethod
    def resolve_version(_root: None, _info: graphene.ResolveInfo) -> str:
        return __version__
