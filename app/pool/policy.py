"""A pool's policy: the rules every grant and renewal of the pool follows.

A policy is data in the store, read and applied in the same atomic step as
the grant it governs, so every worker and host follows the one policy the
store holds at that instant (rules R11-R14 of `stores.base`). These functions
are the rules themselves; the memory and SQLite stores call them, and the
Redis store's Lua implements the same ones where it names the rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import BadUserInput


@dataclass(frozen=True)
class PoolPolicy:
    """None means no rule. Times are seconds."""

    default_ttl: float | None = None
    max_ttl: float | None = None
    max_per_owner: int | None = None
    reuse_delay: float | None = None
    reuse_first: bool = False
    description: str | None = None

    def to_json(self) -> str:
        """The policy as the journal's POLICY_CHANGED `reason` tells it: the
        contract's field names, the rules set only, compact and in a fixed order."""
        fields = {
            "defaultTtl": self.default_ttl,
            "maxTtl": self.max_ttl,
            "maxPerOwner": self.max_per_owner,
            "reuseDelay": self.reuse_delay,
            "reuseFirst": self.reuse_first or None,
            "description": self.description,
        }
        return json.dumps(
            {name: value for name, value in fields.items() if value is not None},
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str | None) -> PoolPolicy:
        """The inverse of `to_json`, for stores that keep the policy as its text."""
        if not text:
            return NO_POLICY
        fields = json.loads(text)
        return cls(
            default_ttl=fields.get("defaultTtl"),
            max_ttl=fields.get("maxTtl"),
            max_per_owner=fields.get("maxPerOwner"),
            reuse_delay=fields.get("reuseDelay"),
            reuse_first=bool(fields.get("reuseFirst", False)),
            description=fields.get("description"),
        )


NO_POLICY = PoolPolicy()


def grant_ttl(policy: PoolPolicy, ttl: float | None) -> float | None:
    """The TTL of a grant that asked for `ttl` (rule R12).

    A `ttl` above `max_ttl` is refused; none asked gets `default_ttl`, else
    `max_ttl`, else no expiry.
    """
    if ttl is not None:
        if above_max_ttl(policy, ttl):
            assert policy.max_ttl is not None
            raise BadUserInput(f"ttl {ttl:g} is above the pool's maxTtl of {policy.max_ttl:g}")
        return ttl
    return policy.default_ttl if policy.default_ttl is not None else policy.max_ttl


def above_max_ttl(policy: PoolPolicy, ttl: float | None) -> bool:
    """Whether asking for `ttl` is refused by the policy's `max_ttl` (rule R12)."""
    return ttl is not None and policy.max_ttl is not None and ttl > policy.max_ttl


def renewal_ttl(policy: PoolPolicy, lease_ttl: float | None, ttl: float | None) -> float | None:
    """The TTL a renewal sets (rule R12): `ttl`, refused above `max_ttl`; none
    given, the lease's last TTL, capped at `max_ttl` (a lease without one gets
    `max_ttl`), so a policy made stricter reaches held leases at their next renewal."""
    if ttl is not None:
        return grant_ttl(policy, ttl)
    if policy.max_ttl is None:
        return lease_ttl
    return policy.max_ttl if lease_ttl is None else min(lease_ttl, policy.max_ttl)


def cooling_until(policy: PoolPolicy, ended_at: float) -> float | None:
    """When an object whose lease expired or was revoked at `ended_at` may be
    handed out again (rule R13); None when it goes back at once."""
    if not policy.reuse_delay:
        return None
    return ended_at + policy.reuse_delay
