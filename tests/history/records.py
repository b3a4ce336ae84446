"""What a client saw of one lease: when it sent and heard, and how the lease ended.

Time
----
Every time here is seconds since the epoch read with `time.time()`: the
clients, the gunicorn workers, SQLite and Redis (`TIME`) all run on this one
machine and read the same clock, so a client-side reading and a server-side
`expiresAt` can be compared. (A step of the wall clock during a run, such as a
manual `date -s`, would break this; NTP slewing does not, as every process
sees the same slewed clock.)

A client cannot see when the server acted, only when it sent a request and
when the answer came back. So every instant the checker reasons about is
bracketed: the server granted a lease at some `grant` with
`t_sent <= grant <= t_ack`, and a successful free took effect at some `free`
with `t_free_sent <= free <= t_free_ack`.

Why the end of a holding is the free's *send* time
--------------------------------------------------
Lease A of an object is freed and lease B of the same object is granted next.
A correct server grants B only after it processed A's free: `free_A <= grant_B`.
Nothing orders the two answers on their way back, though: B's acknowledgement
may arrive before A's free is acknowledged (`t_ack_B < t_free_ack_A`) while the
server did nothing wrong. Taking `[t_ack, t_free_ack]` as the holding interval
would flag that correct server.

The checker therefore flags only what it can prove. A holder certainly held
from its acknowledgement until its free was sent, `[t_ack, t_end]`, where
`t_end` is the *earliest* moment the lease can have ended:

- freed: `t_free_sent` (the server cannot have freed it before the request left);
- expired: `expires_at`, the server's own deadline (a correct server reclaims
  the object only once its clock reached it);
- unknown (the answer to a free or a renew was lost): the earliest of the
  free's send time, the last acknowledged expiry and, after a lost renew, that
  renew's send time plus its ttl. A renew sets the expiry to *now* + ttl, so a
  lost one may have shortened the lease as well as extended it; it cannot have
  set an expiry before it was sent;
- held at the end of the run without a TTL: no end (`None`, for ever);
- revoked (an admin's revoke listed it, `Revocation`): `t_revoke_sent`, as the
  revoke cannot have ended it before it was sent; it ended by the revoke's
  answer at the latest, whatever its holder saw afterwards.

Two leases of one object certainly overlap when each was acknowledged before the
other's earliest end: `t_ack_A < t_end_B and t_ack_B < t_end_A`. For a correct
server `grant_B >= end_A`, and `t_ack_B >= grant_B`, `end_A >= t_end_A`, so
`t_ack_B >= t_end_A`: the second half fails and a correct server is never
flagged. In words: a lease acknowledged after the previous holder *sent* its
free (or after the previous lease's expiry) is never an overlap, and one
acknowledged after the previous free was acknowledged even less so.

`expiresAt` travels as an ISO 8601 string rounded to the microsecond, so an
expiry read back may be up to half a microsecond late; every comparison with a
server-side time gives it `slack` (10 microseconds by default), far below the
tens of microseconds any request takes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

End = Literal["freed", "expired", "unknown", "held", "revoked"]

SLACK = 1e-5


@dataclass(frozen=True)
class Renewal:
    """A renewLease the server acknowledged."""

    t_sent: float
    expires_at: float


@dataclass(frozen=True)
class Revocation:
    """A lease an admin's revokeLeases answered as revoked, with when it was sent
    and answered: the lease ended in between (rule R14)."""

    pool: str
    obj: int
    token: int
    t_sent: float
    t_ack: float


@dataclass(frozen=True)
class LeaseRecord:
    """One lease as its holder saw it, from the acquire's answer to its end.

    Times are client readings of `time.time()`, but for expiries (server clock,
    the same clock here): `t_sent` right before the acquire left, `t_ack` right
    after its success came back; `granted_expires_at` and each `Renewal` the
    expiries the server acknowledged; `t_free_sent`/`t_free_ack` the same for
    the holder's free, when it sent one; `refused_at` when the server's answer
    that the lease was gone (NOT_ALLOCATED, STALE_TOKEN) to the holder's free
    or renew came back; `lost_renewal_floor` the send time plus the ttl of a
    renew whose answer was lost, the earliest expiry it can have set.

    `end` says how it ended:

    - `freed`: the holder's free was acknowledged (`t_free_sent`, `t_free_ack`);
    - `expired`: the holder let it run out, or learnt that it had (`refused_at`,
      when its late free or renew was refused with NOT_ALLOCATED/STALE_TOKEN);
    - `unknown`: the answer to the holder's free or renew was lost; the lease
      may be held until its expiry (or a later one, if the renew took effect);
    - `held`: still held when the run ended;
    - `revoked`: an admin's revoke ended it (set by `History.check` from the
      history's `Revocation`s: the holder cannot tell a revocation from an expiry).

    A lease of a set (acquireObjects) is one record per lease, all sharing the
    acquire's `t_sent`/`t_ack`, its `set_id` and `set_size` (and `contiguous`
    when the set was asked to be). `owner` is the owner the lease was asked
    for (what maxPerOwner counts), `acquired_at` the server's grant time
    (`acquiredAt`, server clock). `t_queued`, for a waiter, is a moment by which
    its request certainly was in the pool's queue (a query answered then showed
    it waiting): it stayed there until its grant.
    """

    pool: str
    obj: int
    token: int
    client: str
    t_sent: float
    t_ack: float
    end: End
    granted_expires_at: float | None = None
    renewals: tuple[Renewal, ...] = ()
    t_free_sent: float | None = None
    t_free_ack: float | None = None
    refused_at: float | None = None
    lost_renewal_floor: float | None = None
    owner: str | None = None
    acquired_at: float | None = None
    set_id: str | None = None
    set_size: int = 1
    contiguous: bool = False
    t_queued: float | None = None
    t_revoke_sent: float | None = None
    t_revoke_ack: float | None = None

    @property
    def expires_at(self) -> float | None:
        """The last expiry the server acknowledged (server clock), None without a TTL."""
        return self.renewals[-1].expires_at if self.renewals else self.granted_expires_at

    @property
    def t_end(self) -> float | None:
        """The earliest moment the lease can have ended; None when it never ends.

        See the module docstring for why this is the lower bound of the end.
        """
        expiry = self.expires_at
        if self.end == "revoked":
            assert self.t_revoke_sent is not None, self
            return self.t_revoke_sent
        if self.end == "freed":
            assert self.t_free_sent is not None, self
            return self.t_free_sent
        if self.end == "unknown":
            bounds = (self.t_free_sent, expiry, self.lost_renewal_floor)
            known = [bound for bound in bounds if bound is not None]
            return min(known) if known else None
        return expiry

    @property
    def t_end_latest(self) -> float | None:
        """The latest moment the lease can have ended; None when that is not known.

        A freed lease ended by the free's acknowledgement, an expired one at its
        expiry; after a lost answer a renew may have extended it, so nobody knows.
        """
        if self.end == "freed":
            return self.t_free_ack
        if self.end == "revoked":
            return self.t_revoke_ack
        if self.end == "unknown":
            return None
        return self.expires_at

    def describe(self) -> str:
        end = "never" if self.t_end is None else f"{self.t_end:.6f}"
        parts = [
            f"{self.pool}/{self.obj} token {self.token} client {self.client}",
            f"sent {self.t_sent:.6f} ack {self.t_ack:.6f} end>={end} ({self.end})",
        ]
        if self.expires_at is not None:
            parts.append(f"expires {self.expires_at:.6f}")
        if self.renewals:
            parts.append(f"{len(self.renewals)} renewals")
        if self.t_free_sent is not None:
            parts.append(f"free sent {self.t_free_sent:.6f}")
        if self.t_free_ack is not None:
            parts.append(f"free ack {self.t_free_ack:.6f}")
        if self.refused_at is not None:
            parts.append(f"refused at {self.refused_at:.6f}")
        if self.lost_renewal_floor is not None:
            parts.append(f"a lost renew may have set the expiry from {self.lost_renewal_floor:.6f}")
        if self.set_id is not None:
            shape = "contiguous " if self.contiguous else ""
            parts.append(f"{shape}set {self.set_id} of {self.set_size}")
        if self.t_queued is not None:
            parts.append(f"queued by {self.t_queued:.6f}")
        if self.acquired_at is not None:
            parts.append(f"granted at {self.acquired_at:.6f}")
        if self.t_revoke_sent is not None:
            parts.append(f"revoke sent {self.t_revoke_sent:.6f} ack {self.t_revoke_ack:.6f}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeaseRecord:
        values = dict(data)
        values["renewals"] = tuple(Renewal(**renewal) for renewal in values.get("renewals", ()))
        return cls(**values)
