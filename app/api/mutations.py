"""What changes state: the schema's `Mutation` type and its resolvers."""

from __future__ import annotations

from typing import Any

import graphene

from ..pool import limits
from .context import context_of
from .outcomes import payload
from .types import (
    MAX_CURSOR,
    AcquireObjectPayload,
    BigInt,
    FreeObjectPayload,
    PoolPayload,
    RenewLeasePayload,
    pool_argument,
)

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
        pool=pool_argument("The name of the object's pool."),
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
        pool=pool_argument("The name of the pool to take an object from."),
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
        pool=pool_argument("The name of the object's pool."),
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
        context = context_of(info)
        return payload(
            FreeObjectPayload, "obj", lambda: context.service.free(context.caller, obj, pool, token)
        )

    @staticmethod
    def resolve_acquire_object(
        _root: None, info: graphene.ResolveInfo, pool: str, **options: Any
    ) -> AcquireObjectPayload:
        context = context_of(info)
        return payload(
            AcquireObjectPayload,
            "lease",
            lambda: context.service.acquire(
                context.caller,
                pool,
                still_wanted=context.client_connected,
                deadline=context.deadline,
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
        context = context_of(info)
        return payload(
            RenewLeasePayload,
            "lease",
            lambda: context.service.renew(context.caller, obj, token, pool, ttl),
        )

    @staticmethod
    def resolve_create_pool(
        _root: None, info: graphene.ResolveInfo, name: str, size: int
    ) -> PoolPayload:
        context = context_of(info)
        return payload(
            PoolPayload, "pool", lambda: context.service.create_pool(context.caller, name, size)
        )

    @staticmethod
    def resolve_resize_pool(
        _root: None, info: graphene.ResolveInfo, name: str, size: int
    ) -> PoolPayload:
        context = context_of(info)
        return payload(
            PoolPayload, "pool", lambda: context.service.resize_pool(context.caller, name, size)
        )

    @staticmethod
    def resolve_delete_pool(
        _root: None, info: graphene.ResolveInfo, name: str, force: bool | None = False
    ) -> PoolPayload:
        context = context_of(info)
        forced = bool(force)
        return payload(
            PoolPayload, "pool", lambda: context.service.delete_pool(context.caller, name, forced)
        )
