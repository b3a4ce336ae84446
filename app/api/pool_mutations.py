"""The pool mutations (admins only): create, resize, set the policy of, delete."""

from __future__ import annotations

from typing import Any

import graphene

from ..pool import limits
from .context import context_of
from .outcomes import payload
from .payloads import PoolPayload
from .policy_types import PoolPolicyInput, policy_fields
from .types import MAX_CURSOR

_POOL_NAME_RULE = (
    f"1 to {MAX_CURSOR} letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
)
_SIZE_BOUNDS = f"1..{limits.MAX_INT}"


class PoolMutations:
    """The fields of `Mutation` that change pools, with their resolvers."""

    create_pool = graphene.Field(
        graphene.NonNull(PoolPayload),
        name=graphene.String(required=True, description=f"The new pool's name: {_POOL_NAME_RULE}."),
        size=graphene.Int(
            required=True,
            description=f"How many objects it has, {_SIZE_BOUNDS}: its objects are 1..size.",
        ),
        policy=graphene.Argument(
            PoolPolicyInput,
            description=(
                "The pool's policy, journaled as POLICY_CHANGED right after POOL_CREATED. "
                "Default: every rule off."
            ),
        ),
        description=(
            "Creates a pool whose objects 1..size are all available. Admins only; "
            "POOL_EXISTS when the name is taken, BAD_USER_INPUT for a policy value out of "
            "bounds (nothing is created)."
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
    set_pool_policy = graphene.Field(
        graphene.NonNull(PoolPayload),
        name=graphene.String(required=True, description="The name of the pool."),
        policy=graphene.Argument(
            graphene.NonNull(PoolPolicyInput),
            description="The new policy, whole: a field left out or null is no rule.",
        ),
        description=(
            "Replaces a pool's whole policy, for every worker and host at once; journaled as "
            "POLICY_CHANGED, whose `reason` is the new policy as JSON. Held leases keep their "
            "expiry (a stricter `maxTtl` reaches them at their next renewal) and cooling "
            "objects their end; `maxPerOwner` applies to the next acquires. Admins only; "
            "BAD_USER_INPUT for a value out of bounds (nothing changes)."
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
    def resolve_create_pool(
        _root: None, info: graphene.ResolveInfo, name: str, size: int, policy: Any = None
    ) -> PoolPayload:
        context = context_of(info)
        fields = None if policy is None else policy_fields(policy)
        return payload(
            PoolPayload,
            "pool",
            lambda: context.service.create_pool(context.caller, name, size, fields),
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
    def resolve_set_pool_policy(
        _root: None, info: graphene.ResolveInfo, name: str, policy: Any
    ) -> PoolPayload:
        context = context_of(info)
        fields = policy_fields(policy)
        return payload(
            PoolPayload, "pool", lambda: context.service.set_policy(context.caller, name, fields)
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
