"""A history of leases as clients saw them, and a checker of the lease guarantees.

The fault tests record every lease their clients were granted (a `LeaseRecord`)
in a `History`, then ask `History.check` whether the service kept its promises:

- at most one holder per object at any moment (`overlap`);
- a fencing token is granted once per pool (`duplicate-token`);
- tokens only grow: a grant that certainly came after another in real time
  carries a higher token, whatever the object or the client (`token-order`).
  "Certainly after" means the later acquire was sent after the earlier one's
  answer arrived: that orders one client's successive leases, and successive
  holders of an object when the next one asked after the previous one had its
  answer, while two acquires in flight together may be served in either order.
  (Ordering grants by token would make the check true by definition);
- a lease is not forgotten while valid: the server does not refuse its holder's
  free or renew before it expired (`lost-lease`);
- an expired lease is not honoured: no free or renew sent after the expiry
  succeeds (`expired-accepted`).

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
  free's send time and the last acknowledged expiry; a lost renew may have
  extended the lease, which only makes the true end later;
- held at the end of the run without a TTL: no end (`None`, for ever).

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

Unknown outcomes
----------------
A request whose answer was lost (connection refused or reset, a timeout,
STORE_UNAVAILABLE) may or may not have taken effect. An acquire whose answer
was lost is not a holder the client knows of, so it has no record; the lease
it may have made is held by nobody until it expires, which is not a
violation. Such outcomes are counted in `History.outcomes` only.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

End = Literal["freed", "expired", "unknown", "held"]
Kind = Literal[
    "overlap",
    "duplicate-token",
    "token-order",
    "lost-lease",
    "expired-accepted",
    "ended-lease-listed",
]

SLACK = 1e-5


@dataclass(frozen=True)
class Renewal:
    """A renewLease the server acknowledged."""

    t_sent: float
    expires_at: float


@dataclass(frozen=True)
class LeaseRecord:
    """One lease as its holder saw it, from the acquire's answer to its end.

    Times are client readings of `time.time()`, but for expiries (server clock,
    the same clock here): `t_sent` right before the acquire left, `t_ack` right
    after its success came back; `granted_expires_at` and each `Renewal` the
    expiries the server acknowledged; `t_free_sent`/`t_free_ack` the same for
    the holder's free, when it sent one; `refused_at` when the server's answer
    that the lease was gone (NOT_ALLOCATED, STALE_TOKEN) to the holder's free
    or renew came back.

    `end` says how it ended:

    - `freed`: the holder's free was acknowledged (`t_free_sent`, `t_free_ack`);
    - `expired`: the holder let it run out, or learnt that it had (`refused_at`,
      when its late free or renew was refused with NOT_ALLOCATED/STALE_TOKEN);
    - `unknown`: the answer to the holder's free or renew was lost; the lease
      may be held until its expiry (or a later one, if the renew took effect);
    - `held`: still held when the run ended.
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
        if self.end == "freed":
            assert self.t_free_sent is not None, self
            return self.t_free_sent
        if self.end == "unknown" and self.t_free_sent is not None:
            return self.t_free_sent if expiry is None else min(self.t_free_sent, expiry)
        return expiry

    @property
    def t_end_latest(self) -> float | None:
        """The latest moment the lease can have ended; None when that is not known.

        A freed lease ended by the free's acknowledgement, an expired one at its
        expiry; after a lost answer a renew may have extended it, so nobody knows.
        """
        if self.end == "freed":
            return self.t_free_ack
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
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeaseRecord:
        values = dict(data)
        values["renewals"] = tuple(Renewal(**renewal) for renewal in values.get("renewals", ()))
        return cls(**values)


@dataclass(frozen=True)
class Violation:
    kind: Kind
    detail: str
    records: tuple[LeaseRecord, ...]

    def __str__(self) -> str:
        lines = [f"{self.kind}: {self.detail}"]
        lines += [f"  {record.describe()}" for record in self.records]
        return "\n".join(lines)


def _before(earlier: float, later: float | None, slack: float) -> bool:
    """Whether `earlier` certainly precedes `later` (None: never ends)."""
    return later is None or earlier + slack < later


@dataclass
class History:
    """The leases of a run, and how many requests ended in which outcome.

    `outcomes` counts requests by `"operation:outcome"` (`acquire:ok`,
    `free:STALE_TOKEN`, `renew:unknown`, ...); only `records` are checked.
    """

    records: list[LeaseRecord] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, record: LeaseRecord) -> None:
        self.records.append(record)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] += 1

    def extend(self, other: History) -> None:
        self.records.extend(other.records)
        self.outcomes.update(other.outcomes)

    def ended(self, end: End) -> list[LeaseRecord]:
        return [record for record in self.records if record.end == end]

    # checking -----------------------------------------------------------
    def check(self, slack: float = SLACK) -> list[Violation]:
        """Every violation of the lease guarantees found; empty when there is none."""
        return [
            *self._duplicate_tokens(),
            *self._overlaps(slack),
            *self._token_order(),
            *self._lost_leases(slack),
            *self._expired_accepted(slack),
        ]

    def _by(self, *key: str) -> dict[tuple[Any, ...], list[LeaseRecord]]:
        groups: dict[tuple[Any, ...], list[LeaseRecord]] = defaultdict(list)
        for record in self.records:
            groups[tuple(getattr(record, part) for part in key)].append(record)
        return groups

    def _duplicate_tokens(self) -> Iterator[Violation]:
        for (pool, token), records in sorted(self._by("pool", "token").items()):
            if len(records) > 1:
                yield Violation(
                    "duplicate-token",
                    f"token {token} of pool {pool!r} was granted {len(records)} times",
                    tuple(records),
                )

    def _overlaps(self, slack: float) -> Iterator[Violation]:
        for (pool, obj), records in sorted(self._by("pool", "obj").items()):
            # Sweep in acknowledgement order, keeping the leases not certainly
            # ended by then: any two of them that meet the rule overlap.
            open_: list[LeaseRecord] = []
            for record in sorted(records, key=lambda r: (r.t_ack, r.token)):
                open_ = [other for other in open_ if _before(record.t_ack, other.t_end, slack)]
                for other in open_:
                    if _before(other.t_ack, record.t_end, slack):
                        yield Violation(
                            "overlap",
                            f"object {obj} of pool {pool!r} had two holders at once",
                            (other, record),
                        )
                open_.append(record)

    def _token_order(self) -> Iterator[Violation]:
        # Lease A certainly came before lease B when A's grant was acknowledged
        # before B's acquire was sent; then A's token must be lower. Both times
        # are client readings of one clock, so no slack is needed.
        for (pool,), records in sorted(self._by("pool").items()):
            acknowledged = sorted(records, key=lambda r: r.t_ack)
            highest: LeaseRecord | None = None
            index = 0
            for record in sorted(records, key=lambda r: r.t_sent):
                while index < len(acknowledged) and acknowledged[index].t_ack < record.t_sent:
                    candidate = acknowledged[index]
                    if highest is None or candidate.token > highest.token:
                        highest = candidate
                    index += 1
                if highest is not None and highest.token >= record.token:
                    yield Violation(
                        "token-order",
                        f"pool {pool!r}: token {record.token} was granted after token "
                        f"{highest.token} had been acknowledged",
                        (highest, record),
                    )

    def _lost_leases(self, slack: float) -> Iterator[Violation]:
        for record in self.records:
            refused = record.refused_at
            if refused is not None and _before(refused, record.expires_at, slack):
                yield Violation(
                    "lost-lease",
                    "the server refused the holder's free or renew before the lease expired",
                    (record,),
                )

    def _expired_accepted(self, slack: float) -> Iterator[Violation]:
        for record in self.records:
            expiry = record.granted_expires_at
            for renewal in record.renewals:
                if expiry is not None and expiry + slack < renewal.t_sent:
                    yield Violation(
                        "expired-accepted",
                        f"a renew sent {renewal.t_sent - expiry:.6f}s after expiry succeeded",
                        (record,),
                    )
                expiry = renewal.expires_at
            sent = record.t_free_sent
            if (
                record.end == "freed"
                and expiry is not None
                and sent is not None
                and expiry + slack < sent
            ):
                yield Violation(
                    "expired-accepted",
                    f"a free sent {sent - expiry:.6f}s after expiry succeeded",
                    (record,),
                )

    def check_snapshot(
        self,
        pool: str,
        leases: Iterable[tuple[int, int]],
        t_sent: float,
        t_ack: float,
        slack: float = SLACK,
    ) -> list[Violation]:
        """Compare a listing of the leases held in `pool`, (obj, token) pairs read by
        one query sent at `t_sent` and answered at `t_ack`, with the history.

        A lease acknowledged before the query was sent and not ended before its
        answer came (by the earliest end, `t_end`) must be listed, with its token
        (`lost-lease`); a lease certainly over before the query was sent must not
        be (`ended-lease-listed`). Listed leases the history does not know of are
        those whose acquire's answer was lost: nothing to say about them.
        """
        listed = dict(leases)
        records = [record for record in self.records if record.pool == pool]
        by_token = {record.token: record for record in records}
        found: list[Violation] = []
        for record in records:
            held = listed.get(record.obj)
            if (
                record.t_ack < t_sent
                and _before(t_ack, record.t_end, slack)
                and held != record.token
            ):
                shown = "no lease" if held is None else f"token {held}"
                found.append(
                    Violation(
                        "lost-lease",
                        f"a listing sent at {t_sent:.6f}, answered at {t_ack:.6f}, shows "
                        f"{shown} on this object",
                        (record,),
                    )
                )
        for _obj, token in sorted(listed.items()):
            record = by_token.get(token)
            latest = None if record is None else record.t_end_latest
            if record is not None and latest is not None and latest + slack < t_sent:
                found.append(
                    Violation(
                        "ended-lease-listed",
                        f"a listing sent at {t_sent:.6f} still shows this lease",
                        (record,),
                    )
                )
        return found

    def valid_through(self, pool: str, t_from: float, t_until: float) -> list[LeaseRecord]:
        """The leases of `pool` acknowledged before `t_from` and certainly held until `t_until`."""
        return [
            record
            for record in self.records
            if record.pool == pool
            and record.t_ack < t_from
            and _before(t_until, record.t_end, SLACK)
        ]

    # reporting ----------------------------------------------------------
    def excerpt(self, pool: str, obj: int, around: float, seconds: float = 1.0) -> str:
        """The leases of one object acknowledged within `seconds` of `around`, in token order."""
        near = [
            record
            for record in self.records
            if record.pool == pool and record.obj == obj and abs(record.t_ack - around) <= seconds
        ]
        return "\n".join(record.describe() for record in sorted(near, key=lambda r: r.token))

    def report(self, violations: Iterable[Violation], limit: int = 10) -> str:
        """Violations with the history of their objects around them, for a failure message."""
        found = list(violations)
        lines = [f"{len(found)} violations in {len(self.records)} leases"]
        for violation in found[:limit]:
            lines.append(str(violation))
            first = violation.records[0]
            lines.append(f"  history of {first.pool}/{first.obj} around it:")
            lines += [
                f"    {line}"
                for line in self.excerpt(first.pool, first.obj, first.t_ack).splitlines()
            ]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "records": [record.to_json() for record in self.records],
            "outcomes": dict(self.outcomes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> History:
        return cls(
            [LeaseRecord.from_json(record) for record in data["records"]],
            Counter(data["outcomes"]),
        )

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1, allow_nan=False))

    @classmethod
    def load(cls, path: Path) -> History:
        return cls.from_json(json.loads(path.read_text()))


def merge(histories: Iterable[History]) -> History:
    merged = History()
    for history in histories:
        merged.extend(history)
    return merged


__all__ = ["SLACK", "End", "History", "LeaseRecord", "Renewal", "Violation", "merge"]
