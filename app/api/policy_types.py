"""A pool's policy in the schema: `PoolPolicy` as read, `PoolPolicyInput` as set.

The two carry the same fields with the same meaning, so each field's
description is written once, here, and given to both.
"""

from __future__ import annotations

from typing import Any

import graphene

from ..pool import limits
from ..service import PolicyFields

_SECONDS = f"more than 0 and at most {limits.MAX_TTL:.0f}"

_DESCRIPTIONS = {
    "default_ttl": (
        f"Seconds, {_SECONDS}: the TTL of a grant that names none (`getObject` included). "
        "Null: no default, a grant without a `ttl` gets `maxTtl`, or no TTL without one."
    ),
    "max_ttl": (
        f"Seconds, {_SECONDS}: a `ttl` above it, in a grant or a renewal, is refused with "
        "BAD_USER_INPUT, and a grant with no `ttl` and no `defaultTtl` gets it, so no lease "
        "lives forever. A renewal with no `ttl` is capped at it. Null: no cap."
    ),
    "max_per_owner": (
        f"Leases, 1..{limits.MAX_INT}: an acquire that would give one owner more live leases "
        "of the pool than this is refused at once with QUOTA_EXCEEDED (never queued); "
        "leases without an owner are not counted. Null: no quota."
    ),
    "reuse_delay": (
        f"Seconds, 0..{limits.MAX_TTL:.0f}: how long an object stays out of circulation "
        "(`cooling`) after its lease expired or was revoked; an object its holder freed goes "
        "back at once. Null or 0: no cooling."
    ),
    "reuse_first": (
        "True: freed objects (the longest-free first) are handed out before never-used ones, "
        "so the store holds no more objects than were ever in use at once. False: "
        "never-used objects first, in ascending order, then freed ones."
    ),
    "description": (
        f"Free text about the pool for people, at most {limits.MAX_DESCRIPTION} characters. "
        "Null: none."
    ),
}


class PoolPolicy(graphene.ObjectType):
    """The rules every grant and renewal of a pool follows, kept in the store with the pool,
    so every worker and host applies the same ones. A null field is no rule."""

    default_ttl = graphene.Float(description=_DESCRIPTIONS["default_ttl"])
    max_ttl = graphene.Float(description=_DESCRIPTIONS["max_ttl"])
    max_per_owner = graphene.Int(description=_DESCRIPTIONS["max_per_owner"])
    reuse_delay = graphene.Float(description=_DESCRIPTIONS["reuse_delay"])
    reuse_first = graphene.Boolean(required=True, description=_DESCRIPTIONS["reuse_first"])
    description = graphene.String(description=_DESCRIPTIONS["description"])


class PoolPolicyInput(graphene.InputObjectType):
    """A whole policy, as `createPool` and `setPoolPolicy` take it: a field left out or null
    is no rule (`reuseFirst`: false)."""

    default_ttl = graphene.Float(description=_DESCRIPTIONS["default_ttl"])
    max_ttl = graphene.Float(description=_DESCRIPTIONS["max_ttl"])
    max_per_owner = graphene.Int(description=_DESCRIPTIONS["max_per_owner"])
    reuse_delay = graphene.Float(description=_DESCRIPTIONS["reuse_delay"])
    reuse_first = graphene.Boolean(
        default_value=False, description=_DESCRIPTIONS["reuse_first"] + " Default: false."
    )
    description = graphene.String(description=_DESCRIPTIONS["description"])


def policy_fields(given: Any) -> PolicyFields:
    """A `PoolPolicyInput` argument's fields, for `LeaseService` to check."""
    return PolicyFields(
        default_ttl=getattr(given, "default_ttl", None),
        max_ttl=getattr(given, "max_ttl", None),
        max_per_owner=getattr(given, "max_per_owner", None),
        reuse_delay=getattr(given, "reuse_delay", None),
        reuse_first=getattr(given, "reuse_first", False),
        description=getattr(given, "description", None),
    )
