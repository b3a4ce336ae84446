"""The journal's types: `EventKind` and `Event`, each element described.

Apart from types.py so that the journal's types, which the `events` query
answers with and watching will stream, read as one reference.
"""

from __future__ import annotations

from datetime import datetime

import graphene

from ..pool.events import Event as DomainEvent
from ..pool.events import EventKind as DomainEventKind
from .types import BigInt, seconds_to_datetime

#: What each kind of event means, and which of its fields it fills.
EVENT_KINDS: dict[DomainEventKind, str] = {
    DomainEventKind.GRANTED: (
        "An object was granted: a lease began (`acquireObject`, `acquireObjects`, "
        "`getObject`). `obj`, `token`, `owner` and `label` are the new lease's."
    ),
    DomainEventKind.FREED: (
        "A lease ended because its object was given back (`freeObject`). `obj`, "
        "`token`, `owner` and `label` are the lease's that ended."
    ),
    DomainEventKind.EXPIRED: (
        "A lease ran out its TTL and its object went back to the pool. `at` is the "
        "lease's expiry time, not the moment the server reclaimed it; `principal` is "
        "null. `obj`, `token`, `owner` and `label` are the lease's that ended."
    ),
    DomainEventKind.RENEWED: (
        "A lease was renewed (`renewLease`): same token, and `expiresAt` is its new "
        "expiry (null when it has no TTL)."
    ),
    DomainEventKind.REVOKED: (
        "An admin ended a lease before its holder gave it back (`revokeLeases`); "
        "`reason` is the one the admin gave (null for none) and `principal` the admin. "
        "`obj`, `token`, `owner` and `label` are the lease's that ended."
    ),
    DomainEventKind.POOL_CREATED: (
        "The pool was created (`createPool`, or the server making `default` on its "
        "first start); `size` is its size."
    ),
    DomainEventKind.POOL_RESIZED: "The pool was resized (`resizePool`); `size` is its new size.",
    DomainEventKind.POOL_DELETED: (
        'The pool was deleted (`deletePool`); `reason` is "forced" when leases were '
        "held and ended with it. Its events stay readable, and a pool created again "
        "under the name goes on from the next `seq`."
    ),
    DomainEventKind.POLICY_CHANGED: (
        "The pool's policy was replaced (`setPoolPolicy`, or `createPool` with a policy, "
        "right after its POOL_CREATED); `reason` is the new policy as compact JSON of its "
        'rules set, e.g. {"maxTtl":60,"maxPerOwner":2}, and {} for every rule off.'
    ),
}


def _event_kind_description(kind: DomainEventKind | None) -> str:
    """The enum's description (`None`) or one value's; graphene asks for each."""
    if kind is None:
        return "What an event of the journal records."
    return EVENT_KINDS[kind]


EventKind = graphene.Enum.from_enum(DomainEventKind, description=_event_kind_description)


class Event(graphene.ObjectType):
    """One change of a pool, as the journal recorded it in the same atomic step as the
    change itself: the journal never tells of a change that did not happen, nor misses one
    that did. A refused change, and an acquire answered from its `requestId`, record none."""

    seq = BigInt(
        required=True,
        description=(
            "The event's number in the journal of its pool name: strictly increasing and "
            "never reused, across restarts and across deleting and creating the pool again. "
            "Give the last one read as `after` to read on from there."
        ),
    )
    pool = graphene.String(required=True, description="The name of the pool that changed.")
    kind = EventKind(
        required=True, description="What changed; each kind says which fields it fills."
    )
    at = graphene.DateTime(
        required=True,
        description=(
            "When the change happened, by the server's clock (for EXPIRED: when the lease expired)."
        ),
    )
    obj = graphene.Int(
        description="The lease's object, for lease events; null for the pool's own events."
    )
    token = BigInt(
        description="The lease's fencing token, for lease events; null for the pool's own events."
    )
    owner = graphene.String(
        description=(
            "The lease's owner, for lease events; null when it has none, or for pool events."
        )
    )
    label = graphene.String(
        description=(
            "The lease's label, for lease events; null when it has none, or for pool events."
        )
    )
    principal = graphene.String(
        description=(
            "Who made the change: the authenticated principal of the request; null with auth "
            "off, and for an expiry, which no one makes."
        )
    )
    reason = graphene.String(
        description=(
            'Why: the reason given to a REVOKED lease, "forced" for a POOL_DELETED that ended '
            "held leases, the new policy as JSON for POLICY_CHANGED; null otherwise."
        )
    )
    size = graphene.Int(
        description=(
            "The pool's new size, in objects, for POOL_CREATED and POOL_RESIZED; null for the "
            "other kinds. Beyond the contract's fields."
        )
    )
    expires_at = graphene.DateTime(
        description=(
            "The lease's new expiry, by the server's clock, for RENEWED (null when the lease "
            "has no TTL); null for the other kinds. Beyond the contract's fields."
        )
    )

    @staticmethod
    def resolve_at(event: DomainEvent, _info: graphene.ResolveInfo) -> datetime | None:
        return seconds_to_datetime(event.at)

    @staticmethod
    def resolve_expires_at(event: DomainEvent, _info: graphene.ResolveInfo) -> datetime | None:
        return seconds_to_datetime(event.expires_at)
