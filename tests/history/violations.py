"""What the checker reports: a broken guarantee, its kind and the leases that show it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .records import LeaseRecord

Kind = Literal[
    "overlap",
    "duplicate-token",
    "token-order",
    "lost-lease",
    "expired-accepted",
    "ended-lease-listed",
    "broken-set",
    "over-quota",
    "queue-jump",
    "revoked-accepted",
    "ended-lease-revoked",
]


@dataclass(frozen=True)
class Violation:
    kind: Kind
    detail: str
    records: tuple[LeaseRecord, ...]

    def __str__(self) -> str:
        lines = [f"{self.kind}: {self.detail}"]
        lines += [f"  {record.describe()}" for record in self.records]
        return "\n".join(lines)
