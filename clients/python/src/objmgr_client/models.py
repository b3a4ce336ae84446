"""What the API answers with, as frozen dataclasses with `datetime`s."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, overload

from .errors import BAD_RESPONSE, ObjmgrError


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@contextmanager
def _reading(what: str, data: object) -> Iterator[None]:
    """A field missing or of the wrong type: an answer that is not objmgr's."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as error:
        raise ObjmgrError(BAD_RESPONSE, f"not a {what}: {data!r} ({error!r})") from error


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Lease:
    """One object held: by whom, since when, until when (None: until freed), its fencing token.

    `ttl` is the lease's time to live in seconds as last granted or renewed
    (None: no expiry), `request_id` the id its acquire carried. `replayed` is
    true on what an acquire answered when the server had granted that lease
    already, to an earlier attempt with the same request id; it is not part of
    the lease, so a lease and its replay compare equal.
    """

    pool: str
    obj: int
    token: int
    owner: str | None
    label: str | None
    acquired_at: datetime
    expires_at: datetime | None
    ttl: float | None = None
    request_id: str | None = None
    replayed: bool = field(default=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], replayed: bool = False) -> Lease:
        with _reading("lease", data):
            return cls(
                pool=str(data["pool"]),
                obj=int(data["obj"]),
                token=int(data["token"]),
                owner=data.get("owner"),
                label=data.get("label"),
                acquired_at=datetime.fromisoformat(data["acquiredAt"]),
                expires_at=_time(data.get("expiresAt")),
                ttl=_optional_float(data.get("ttl")),
                request_id=data.get("requestId"),
                replayed=bool(replayed),
            )

    def to_json(self) -> dict[str, Any]:
        """The lease as the API spells it."""
        return {
            "pool": self.pool,
            "obj": self.obj,
            "owner": self.owner,
            "label": self.label,
            "token": self.token,
            "acquiredAt": self.acquired_at.isoformat(),
            "expiresAt": None if self.expires_at is None else self.expires_at.isoformat(),
            "ttl": self.ttl,
            "requestId": self.request_id,
        }


@dataclass(frozen=True)
class LeaseSet(Sequence[Lease]):
    """What `Client.acquire_many` answers: the leases granted together, in the order
    granted (their tokens increasing), and whether the server replayed them to a
    repeat of the request id (`replayed`) rather than granting them now."""

    leases: tuple[Lease, ...]
    replayed: bool = False

    @overload
    def __getitem__(self, index: int) -> Lease: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Lease]: ...
    def __getitem__(self, index: int | slice) -> Lease | Sequence[Lease]:
        return self.leases[index]

    def __len__(self) -> int:
        return len(self.leases)

    @property
    def objs(self) -> list[int]:
        """The objects, in the order granted."""
        return [lease.obj for lease in self.leases]


@dataclass(frozen=True)
class PoolPolicy:
    """The rules a pool's grants and renewals follow; None means no rule. Times are seconds.

    `default_ttl`: the TTL of a grant that names none. `max_ttl`: no grant or
    renewal above it (and a grant that names none, without `default_ttl`, gets
    it). `max_per_owner`: live leases one owner may hold in the pool
    (`QUOTA_EXCEEDED` beyond). `reuse_delay`: seconds an object stays out of
    circulation (`cooling`) after its lease expired or was revoked.
    `reuse_first`: freed objects handed out before never-used ones.
    `description`: free text.
    """

    default_ttl: float | None = None
    max_ttl: float | None = None
    max_per_owner: int | None = None
    reuse_delay: float | None = None
    reuse_first: bool = False
    description: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PoolPolicy:
        with _reading("pool policy", data):
            return cls(
                default_ttl=_optional_float(data.get("defaultTtl")),
                max_ttl=_optional_float(data.get("maxTtl")),
                max_per_owner=_optional_int(data.get("maxPerOwner")),
                reuse_delay=_optional_float(data.get("reuseDelay")),
                reuse_first=bool(data.get("reuseFirst", False)),
                description=data.get("description"),
            )

    def to_json(self) -> dict[str, Any]:
        """The policy as the API spells it (also the `PoolPolicyInput` it is set with)."""
        return {
            "defaultTtl": self.default_ttl,
            "maxTtl": self.max_ttl,
            "maxPerOwner": self.max_per_owner,
            "reuseDelay": self.reuse_delay,
            "reuseFirst": self.reuse_first,
            "description": self.description,
        }


NO_POLICY = PoolPolicy()


@dataclass(frozen=True)
class Pool:
    """A pool's counts and policy: its objects are 1..size.

    Within 1..size, `available + in_use + cooling == size`: `cooling` objects
    rest after an expiry or a revocation (the policy's `reuse_delay`).
    """

    name: str
    size: int
    available: int
    in_use: int
    waiting: int
    cooling: int = 0
    policy: PoolPolicy = NO_POLICY

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pool:
        with _reading("pool", data):
            policy = data.get("policy")
            return cls(
                name=str(data["name"]),
                size=int(data["size"]),
                available=int(data["available"]),
                in_use=int(data["inUse"]),
                waiting=int(data["waiting"]),
                cooling=int(data.get("cooling") or 0),
                policy=NO_POLICY if policy is None else PoolPolicy.from_json(policy),
            )

    def to_json(self) -> dict[str, Any]:
        """The pool as the API spells it."""
        return {
            "name": self.name,
            "size": self.size,
            "available": self.available,
            "inUse": self.in_use,
            "waiting": self.waiting,
            "cooling": self.cooling,
            "policy": self.policy.to_json(),
        }


@dataclass(frozen=True)
class Event:
    """One change of a pool, from its journal; `seq` numbers the pool's events, only growing.

    `kind` is one of the schema's `EventKind` values (GRANTED, FREED, EXPIRED,
    RENEWED, REVOKED, POOL_CREATED, POOL_RESIZED, POOL_DELETED, POLICY_CHANGED),
    kept as the server's text so that a kind added later reads too. Lease
    events carry `obj`, `token`, `owner`, `label`; POOL_CREATED and
    POOL_RESIZED the pool's new `size`; RENEWED the new `expires_at`.
    """

    seq: int
    pool: str
    kind: str
    at: datetime
    obj: int | None = None
    token: int | None = None
    owner: str | None = None
    label: str | None = None
    principal: str | None = None
    reason: str | None = None
    size: int | None = None
    expires_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        with _reading("event", data):
            return cls(
                seq=int(data["seq"]),
                pool=str(data["pool"]),
                kind=str(data["kind"]),
                at=datetime.fromisoformat(data["at"]),
                obj=_optional_int(data.get("obj")),
                token=_optional_int(data.get("token")),
                owner=data.get("owner"),
                label=data.get("label"),
                principal=data.get("principal"),
                reason=data.get("reason"),
                size=_optional_int(data.get("size")),
                expires_at=_time(data.get("expiresAt")),
            )

    def to_json(self) -> dict[str, Any]:
        """The event as the API spells it."""
        return {
            "seq": self.seq,
            "pool": self.pool,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "obj": self.obj,
            "token": self.token,
            "owner": self.owner,
            "label": self.label,
            "principal": self.principal,
            "reason": self.reason,
            "size": self.size,
            "expiresAt": None if self.expires_at is None else self.expires_at.isoformat(),
        }
