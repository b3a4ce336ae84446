"""The mutations' payloads: each starts with `success`, `code` and `message`, and a
failure is data in them, never a GraphQL error."""

from __future__ import annotations

import graphene

from ..pool import limits
from .types import ErrorCode, Lease, Pool

#: The most leases a `revokeLeases` payload lists; every matching lease is revoked.
MAX_REVOKED_LISTED = limits.MAX_PAGE

_REPLAYED = (
    "True when the answer is an earlier acquire's, returned for its `requestId` (same owner "
    "and `requestId` as live leases): nothing new was granted. False for a new grant, and "
    "when success is false."
)


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
    replayed = graphene.Boolean(required=True, description=_REPLAYED)


class AcquireObjectsPayload(Outcome, graphene.ObjectType):
    """What `acquireObjects` answers: all the leases asked for, or none."""

    leases = graphene.List(
        graphene.NonNull(Lease),
        required=True,
        description=(
            f"The leases granted, one per object, in grant order (increasing tokens): `count` "
            f"of them, at most {limits.MAX_COUNT}; empty when success is false. Replayed, the "
            "live ones of the earlier set (fewer once some were freed), in token order."
        ),
    )
    replayed = graphene.Boolean(required=True, description=_REPLAYED)


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


class RevokeLeasesPayload(Outcome, graphene.ObjectType):
    """What `revokeLeases` answers."""

    revoked = graphene.List(
        graphene.NonNull(Lease),
        required=True,
        description=(
            "The leases revoked, in ascending `obj` order, as they were when they ended: the "
            f"first {MAX_REVOKED_LISTED} of them when more were revoked (every matching lease "
            "ends; the journal's REVOKED events list them all). Empty when none matched or "
            "success is false."
        ),
    )
