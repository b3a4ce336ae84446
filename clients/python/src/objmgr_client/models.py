"""What the API answers with, as frozen dataclasses with `datetime`s."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


@dataclass(frozen=True)
class Lease:
    """One object held: by whom, since when, until when (None: until freed), its fencing token."""

    pool: str
    obj: int
    token: int
    owner: str | None
    label: str | None
    acquired_at: datetime
    expires_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Lease:
        with _reading("lease", data):
            return cls(
                pool=str(data["pool"]),
                obj=int(data["obj"]),
                token=int(data["token"]),
                owner=data.get("owner"),
                label=data.get("label"),
                acquired_at=datetime.fromisoformat(data["acquiredAt"]),
                expires_at=_time(data.get("expiresAt")),
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
        }


@dataclass(frozen=True)
class Pool:
    """A pool's counts: its objects are 1..size."""

    name: str
    size: int
    available: int
    in_use: int
    waiting: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pool:
        with _reading("pool", data):
            return cls(
                name=str(data["name"]),
                size=int(data["size"]),
                available=int(data["available"]),
                in_use=int(data["inUse"]),
                waiting=int(data["waiting"]),
            )

    def to_json(self) -> dict[str, Any]:
        """The pool as the API spells it."""
        return {
            "name": self.name,
            "size": self.size,
            "available": self.available,
            "inUse": self.in_use,
            "waiting": self.waiting,
        }


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


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
