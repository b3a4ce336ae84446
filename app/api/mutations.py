"""What changes state: the schema's `Mutation` type, the lease mutations and their
resolvers here, the pool mutations in `pool_mutations.py`."""

from __future__ import annotations

from typing import Any

import graphene

from ..pool import limits
from ..pool.lease import Grant
from .context import context_of
from .outcomes import payload, payload_fields
from .payloads import (
    MAX_REVOKED_LISTED,
    AcquireObjectPayload,
    AcquireObjectsPayload,
    FreeObjectPayload,
    RenewLeasePayload,
    RevokeLeasesPayload,
)
from .pool_mutations import PoolMutations
from .types import BigInt, pool_argument

_TTL_BOUNDS = f"more than 0 and at most {limits.MAX_TTL:.0f}"


def _owner() -> graphene.String:
    return graphene.String(
        description=(
            f"Who holds the lease, at most {limits.MAX_OWNER} characters. Ignored when "
            "auth is on: the owner is then the authenticated principal. Default: none."
        )
    )


def _label() -> graphene.String:
    return graphene.String(
        description=(
            "Free text kept with the lease (a process name, a job id), at most "
            f"{limits.MAX_LABEL} characters. Default: none."
        )
    )


def _ttl() -> graphene.Float:
    return graphene.Float(
        description=(
            f"Seconds the lease lasts before it expires, {_TTL_BOUNDS}, and at most the "
            "pool's `maxTtl` (above it: BAD_USER_INPUT); `renewLease` extends it. Default: "
            "the pool's `defaultTtl`, else its `maxTtl`, else no TTL (the lease lasts until "
            "it is freed)."
        )
    )


def _wait(what: str) -> graphene.Float:
    return graphene.Float(
        description=(
            f"Seconds to wait in the pool's queue when {what}, 0 or more, cut to the "
            "server's cap on waiting (OBJMGR_MAX_WAIT), which all the waits of one request "
            "share. The request waits as one waiter, whatever it asks for, and waiters are "
            "served in arrival order. When the time is up: ACQUIRE_TIMEOUT. Default: no "
            "wait (as 0)."
        )
    )


def _request_id(what: str) -> graphene.String:
    return graphene.String(
        description=(
            f"A key that makes retrying safe, 1 to {limits.MAX_REQUEST_ID} characters: "
            f"an acquire with the same owner and `requestId` as {what} returns it again "
            "(`replayed: true`) instead of granting anew. Retry with it after a lost "
            "response or OUTCOME_UNKNOWN. Default: none, every acquire is a new grant."
        )
    )


class LeaseMutations:
    """The fields of `Mutation` that grant and end leases, with their resolvers."""

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
        owner=_owner(),
        label=_label(),
        ttl=_ttl(),
        wait=_wait("no object (or not `obj`) is free, or others wait before it"),
        request_id=_request_id("a live lease"),
        obj=graphene.Int(
            description=(
                "Exactly this object, in 1..size of the pool, fresh or freed: OBJECT_HELD "
                "while a live lease holds it or it is cooling (with `wait`: a wait for it), "
                "OUT_OF_RANGE outside 1..size. Default: the next object in the pool's order."
            )
        ),
        description=(
            "Takes a free object of the pool and grants a lease on it: objects never used "
            "yet first, in ascending order, then freed objects, the longest-free first (the "
            "pool's `reuseFirst` puts freed ones first); or exactly `obj`. While anyone waits "
            "in the pool's queue, only the head of the queue is served. When none is free: "
            "POOL_EXHAUSTED (OBJECT_HELD for a held `obj`), or with `wait`, a wait for one. "
            "QUOTA_EXCEEDED at once when the owner would hold more than the pool's "
            "`maxPerOwner`."
        ),
    )
    acquire_objects = graphene.Field(
        graphene.NonNull(AcquireObjectsPayload),
        count=graphene.Int(
            required=True,
            description=(
                f"How many objects, 1..{limits.MAX_COUNT}; above the pool's size: "
                "BAD_USER_INPUT, as it can never be granted."
            ),
        ),
        pool=pool_argument("The name of the pool to take the objects from."),
        contiguous=graphene.Boolean(
            default_value=False,
            description=(
                "True: `count` consecutive objects k..k+count-1, the free run that starts "
                "lowest. False: the objects `count` single acquires in a row would take, in "
                "that order. Default: false."
            ),
        ),
        owner=_owner(),
        label=_label(),
        ttl=_ttl(),
        wait=_wait("fewer than `count` objects are free, or others wait before it"),
        request_id=_request_id("live leases of an earlier set"),
        description=(
            "Takes `count` objects of the pool, all or nothing, in one atomic step: `count` "
            "leases with increasing tokens, or none. Not enough free: POOL_EXHAUSTED (nothing "
            "granted), or with `wait`, a wait as one waiter of the pool's queue, never "
            "overtaken by smaller requests behind it. QUOTA_EXCEEDED at once when the owner "
            "would hold more than the pool's `maxPerOwner`."
        ),
    )
    revoke_leases = graphene.Field(
        graphene.NonNull(RevokeLeasesPayload),
        pool=graphene.String(required=True, description="The name of the pool."),
        owner=graphene.String(
            description="Only the leases of this owner. Default: any owner's (and none)."
        ),
        label_prefix=graphene.String(
            description=(
                "Only the leases whose label starts with this text, at most "
                f"{limits.MAX_LABEL} characters. Default: any label (and none)."
            )
        ),
        objs=graphene.List(
            graphene.NonNull(graphene.Int),
            description=(
                f"Only the leases of these objects, at most {limits.MAX_REVOKE_OBJS} of them. "
                "Default: any object."
            ),
        ),
        reason=graphene.String(
            description=(
                f"Why, at most {limits.MAX_REASON} characters: each REVOKED event carries it. "
                "Default: none."
            )
        ),
        description=(
            "Admin only. Leases matching every filter given (none given: every lease of the "
            "pool) end at once: each is journaled as REVOKED with `reason`; their objects go "
            "back to the pool (cooling first under the pool's `reuseDelay`); their holders' "
            "later free or renew fails with NOT_ALLOCATED or STALE_TOKEN. Waiters are served "
            "from the objects revoked. FORBIDDEN for other principals."
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

        def granted() -> dict[str, Any]:
            grant = context.service.grant(
                context.caller,
                pool,
                still_wanted=context.client_connected,
                deadline=context.deadline,
                **options,
            )
            return {"lease": grant.leases[0], "replayed": grant.replayed}

        return payload_fields(AcquireObjectPayload, granted, {"replayed": False})

    @staticmethod
    def resolve_acquire_objects(
        _root: None,
        info: graphene.ResolveInfo,
        count: int,
        pool: str,
        contiguous: bool | None = False,
        **options: Any,
    ) -> AcquireObjectsPayload:
        context = context_of(info)

        def granted() -> dict[str, Any]:
            grant: Grant = context.service.grant(
                context.caller,
                pool,
                count=count,
                contiguous=bool(contiguous),
                still_wanted=context.client_connected,
                deadline=context.deadline,
                **options,
            )
            return {"leases": list(grant.leases), "replayed": grant.replayed}

        return payload_fields(AcquireObjectsPayload, granted, {"leases": [], "replayed": False})

    @staticmethod
    def resolve_revoke_leases(
        _root: None,
        info: graphene.ResolveInfo,
        pool: str,
        owner: str | None = None,
        label_prefix: str | None = None,
        objs: list[int] | None = None,
        reason: str | None = None,
    ) -> RevokeLeasesPayload:
        context = context_of(info)

        def revoked() -> dict[str, Any]:
            leases = context.service.revoke(context.caller, pool, owner, label_prefix, objs, reason)
            # The payload's cost is reckoned at MAX_REVOKED_LISTED leases (cost.py).
            return {"revoked": leases[:MAX_REVOKED_LISTED]}

        return payload_fields(RevokeLeasesPayload, revoked, {"revoked": []})

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


class Mutation(PoolMutations, LeaseMutations, graphene.ObjectType):
    """What changes state. A failure is data, not a GraphQL error: the payload's
    `success` is false and its `code` and `message` say why."""
