"""The checker of the lease guarantees over a `History` of `LeaseRecord`s.

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
from typing import Any

from .records import SLACK, End, LeaseRecord, Revocation
from .rules import broken_sets, over_quota, queue_jumps, resolve_revocations
from .violations import Kind, Violation

__all__ = ["History", "Kind", "Violation", "merge"]


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
    # The leases admins' revokes answered as revoked (rule R14).
    revocations: list[Revocation] = field(default_factory=list)
    # Each pool's maxPerOwner through the run, for `over-quota` (rule R12).
    max_per_owner: dict[str, int] = field(default_factory=dict)

    def add(self, record: LeaseRecord) -> None:
        self.records.append(record)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] += 1

    def extend(self, other: History) -> None:
        self.records.extend(other.records)
        self.outcomes.update(other.outcomes)
        self.revocations.extend(other.revocations)
        self.max_per_owner.update(other.max_per_owner)

    def ended(self, end: End) -> list[LeaseRecord]:
        return [record for record in self.records if record.end == end]

    # checking -----------------------------------------------------------
    def check(self, slack: float = SLACK) -> list[Violation]:
        """Every violation of the lease guarantees found; empty when there is none.

        Revoked leases are first ended by their revocation (`resolved`)."""
        history, found = self.resolved(slack)
        return [
            *found,
            *history._duplicate_tokens(),
            *history._overlaps(slack),
            *history._token_order(),
            *history._lost_leases(slack),
            *history._expired_accepted(slack),
            *broken_sets(history.records),
            *over_quota(history.records, history.max_per_owner, slack),
            *queue_jumps(history.records, slack),
        ]

    def resolved(self, slack: float = SLACK) -> tuple[History, list[Violation]]:
        """This history with every revoked lease's record ended `revoked`, and
        what the revocations themselves prove wrong."""
        if not self.revocations:
            return self, []
        records, found = resolve_revocations(self.records, self.revocations, slack)
        return History(records, self.outcomes, self.revocations, self.max_per_owner), found

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
            revoked = record.t_revoke_sent
            # A revoke sent before the refusal came back may have ended it first (R14).
            if revoked is not None and refused is not None and revoked < refused:
                continue
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
        history, _ = self.resolved(slack)
        records = [record for record in history.records if record.pool == pool]
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
            known = by_token.get(token)
            latest = None if known is None else known.t_end_latest
            if known is not None and latest is not None and latest + slack < t_sent:
                found.append(
                    Violation(
                        "ended-lease-listed",
                        f"a listing sent at {t_sent:.6f} still shows this lease",
                        (known,),
                    )
                )
        return found

    def valid_through(self, pool: str, t_from: float, t_until: float) -> list[LeaseRecord]:
        """The leases of `pool` acknowledged before `t_from` and certainly held until `t_until`."""
        history, _ = self.resolved()
        return [
            record
            for record in history.records
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
            "revocations": [asdict(revoked) for revoked in self.revocations],
            "max_per_owner": self.max_per_owner,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> History:
        return cls(
            [LeaseRecord.from_json(record) for record in data["records"]],
            Counter(data["outcomes"]),
            [Revocation(**revoked) for revoked in data.get("revocations", ())],
            dict(data.get("max_per_owner", {})),
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
