"""What a fault run's clients do (`Workload`) and what they keep of each request
and lease, shared by the client loop (`driver.py`), the big waiter (`queueing.py`)
and the admin (`admin.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from ..history import Renewal

# The answers that tell the holder its lease ended by itself (it expired).
GONE = ("NOT_ALLOCATED", "STALE_TOKEN")
# The answers a client of this workload may get; any other one is a finding.
EXPECTED_REFUSALS = frozenset(
    {
        "POOL_EXHAUSTED",
        "ACQUIRE_TIMEOUT",
        "OBJECT_HELD",
        "QUOTA_EXCEEDED",
        *GONE,
        "STORE_UNAVAILABLE",
        "OUTCOME_UNKNOWN",
    }
)
# Answers after which the history cannot know whether the change was made.
UNKNOWN_OUTCOMES = frozenset({"STORE_UNAVAILABLE", "OUTCOME_UNKNOWN"})


@dataclass(frozen=True)
class Workload:
    """What the clients do; every probability is per lease."""

    urls: tuple[str, ...]
    clients: int = 8
    duration: float = 4.0
    max_ops: int = 300
    # Leases (or sets) each client is granted before it stops, even after
    # `duration`: a run stalled by a fault (a dead waiter heading the queue until
    # its store session lapses) still checks as many; `max_duration` bounds it.
    min_leases: int = 0
    max_duration: float = 20.0
    pool: str = "default"
    ttl: tuple[float, float] = (0.5, 1.0)
    hold: tuple[float, float] = (0.0, 0.05)
    # No waiting by default: a waiter whose worker is killed (or whose store
    # goes away) can stay at the head of the pool's queue until the store sees
    # its process gone (at once on SQLite, when its Redis session expires),
    # and nobody is granted anything meanwhile; with a fault every half
    # second the pool would hardly grant at all, and a run check little.
    wait: float = 0.0
    renew: float = 0.1
    expire: float = 0.04
    late: float = 0.02
    http_timeout: float = 3.0
    seed: int = 0
    # 0: each client is its own owner; n: the clients share n owners.
    owners: int = 0
    # Per cycle: a set of `set_sizes` objects (contiguous by `contiguous`), or a named one.
    sets: float = 0.0
    set_sizes: tuple[int, int] = (2, 3)
    contiguous: float = 0.5
    named: float = 0.0
    pool_size: int = 8
    # Client 0 asks for sets of `big` objects, waiting up to `big_wait`, with no owner
    # (0: no big waiter).
    big: int = 0
    big_wait: float = 2.0
    # Revokes the admin process sends, one every `revoke_every` seconds or so.
    revokes: int = 0
    revoke_every: float = 0.1


class Answer(NamedTuple):
    """A mutation's payload (None: outcome unknown), with when it was sent and answered.

    The times bracket the server's work as tightly as the client can: read
    right before the request leaves and right after its answer is in.
    """

    payload: dict[str, Any] | None
    t_sent: float
    t_ack: float


@dataclass
class ClientLease:
    obj: int
    token: int
    t_sent: float
    t_ack: float
    granted_expires_at: float | None
    acquired_at: float | None = None
    set_id: str | None = None
    set_size: int = 1
    contiguous: bool = False
    t_queued: float | None = None
    renewals: list[Renewal] = field(default_factory=list)

    @property
    def expires_at(self) -> float | None:
        return self.renewals[-1].expires_at if self.renewals else self.granted_expires_at


def timestamp(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()
