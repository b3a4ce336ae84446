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
