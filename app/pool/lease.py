"""Leases and the rules of who may free or renew one."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import NotOwner, StaleToken
from .policy import NO_POLICY, PoolPolicy


@dataclass(frozen=True)
class Lease:
    """One object held by one holder. Times are seconds since the epoch."""

    pool: str
    obj: int
    token: int
    owner: str | None
    label: str | None
    acquired_at: float
    expires_at: float | None
    ttl: float | None
    request_id: str | None = None

    @classmethod
    def granted(cls, request: AcquireRequest, obj: int, token: int, now: float) -> Lease:
        """The lease a store grants for `request` at `now`."""
        return cls(
            pool=request.pool,
            obj=obj,
            token=token,
            owner=request.owner,
            label=request.label,
            acquired_at=now,
            expires_at=None if request.ttl is None else now + request.ttl,
            ttl=request.ttl,
            request_id=request.request_id,
        )

    def renewed(self, now: float, ttl: float | None) -> Lease:
        """The lease renewed at `now` (rule R8), its token kept (rule R3)."""
        ttl = self.ttl if ttl is None else ttl
        expires_at = None if ttl is None else now + ttl
        return Lease(
            self.pool,
            self.obj,
            self.token,
            self.owner,
            self.label,
            self.acquired_at,
            expires_at,
            ttl,
            self.request_id,
        )


@dataclass(frozen=True)
class PoolStats:
    name: str
    size: int
    in_use: int
    available: int
    waiting: int
    # Objects out of circulation after an expiry or revocation (rule R13),
    # within 1..size: available + held within the size + cooling = size.
    cooling: int = 0
    policy: PoolPolicy = NO_POLICY


@dataclass(frozen=True)
class Caller:
    """Who is asking: a principal named by a token, and whether it is an admin.

    Both are always given: a caller is never an admin by omission.
    """

    principal: str | None
    is_admin: bool

    @classmethod
    def auth_off(cls) -> Caller:
        """The caller of every request while auth is off: an admin with no name."""
        return cls(principal=None, is_admin=True)


@dataclass(frozen=True)
class AcquireRequest:
    pool: str
    owner: str | None = None
    label: str | None = None
    ttl: float | None = None
    request_id: str | None = None
    # Who asked, for the journal: the owner is whatever the caller named when auth is off.
    principal: str | None = None
    # How many objects, all or nothing (rule R10); consecutive ones when `contiguous`.
    count: int = 1
    contiguous: bool = False
    # Exactly this object (rule R11); only with count 1.
    obj: int | None = None


@dataclass(frozen=True)
class Grant:
    """What an acquire got: its leases in grant order (increasing tokens), and
    whether they are an earlier acquire's, returned for its request id (rule R2)."""

    leases: tuple[Lease, ...]
    replayed: bool = False


@dataclass(frozen=True)
class RevokeFilter:
    """Which leases of a pool `revoke` ends (rule R14): those matching every
    filter given; none given, every lease of the pool."""

    owner: str | None = None
    label_prefix: str | None = None
    objs: frozenset[int] | None = None
    reason: str | None = None

    def matches(self, lease: Lease) -> bool:
        if self.owner is not None and lease.owner != self.owner:
            return False
        if self.label_prefix is not None and (
            lease.label is None or not lease.label.startswith(self.label_prefix)
        ):
            return False
        return self.objs is None or lease.obj in self.objs


def check_release(lease: Lease, caller: Caller, token: int | None) -> None:
    """Raise unless `caller` may free or renew `lease` with `token` (rule R8).

    Ownership is checked before the token so that a stranger learns nothing
    about another holder's token.
    """
    if not caller.is_admin and lease.owner != caller.principal:
        raise NotOwner(f"object {lease.obj} of pool {lease.pool!r} is held by another principal")
    if token is not None and token != lease.token:
        raise StaleToken(
            f"token {token} is not the current token of object {lease.obj} of pool {lease.pool!r}"
        )
