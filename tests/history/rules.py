"""The checks of issue 12's guarantees over a history's records: sets granted
whole (`broken-set`), no owner above the pool's maxPerOwner at any instant
(`over-quota`), a waiter served before anyone who asked after it was queued
(`queue-jump`), and revocations (`revoked-accepted`, `ended-lease-revoked`).

Each flags only what the client-side times prove, as the checks of
`checker.py` do (see `records.py`): a correct server passes whatever the timing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

from .records import LeaseRecord, Revocation
from .violations import Kind, Violation


def _violation(kind: Kind, detail: str, records: Iterable[LeaseRecord]) -> Violation:
    return Violation(kind, detail, tuple(records))


def _before(earlier: float, later: float | None, slack: float) -> bool:
    return later is None or earlier + slack < later


def resolve_revocations(
    records: list[LeaseRecord], revocations: Iterable[Revocation], slack: float
) -> tuple[list[LeaseRecord], list[Violation]]:
    """The records with each revoked lease ended by its revocation, and what the
    revocations prove wrong: a lease revoked that its holder freed as well, or
    renewed after the revoke's answer (`revoked-accepted`), or that was certainly
    over before the revoke was sent (`ended-lease-revoked`)."""
    by_token = {(revoked.pool, revoked.token): revoked for revoked in revocations}
    resolved: list[LeaseRecord] = []
    found: list[Violation] = []
    for record in records:
        revoked = by_token.get((record.pool, record.token))
        if revoked is None or revoked.obj != record.obj:
            resolved.append(record)
            continue
        latest = record.t_end_latest
        if record.end == "freed":
            # Rule R14: one of the two came second and must have found no lease.
            found.append(
                _violation(
                    "revoked-accepted", "a lease was both freed by its holder and revoked", [record]
                )
            )
        elif latest is not None and latest + slack < revoked.t_sent:
            found.append(
                _violation(
                    "ended-lease-revoked",
                    f"a revoke sent at {revoked.t_sent:.6f} listed a lease already over",
                    [record],
                )
            )
        ended = replace(
            record, end="revoked", t_revoke_sent=revoked.t_sent, t_revoke_ack=revoked.t_ack
        )
        for renewal in record.renewals:
            if revoked.t_ack < renewal.t_sent:
                found.append(
                    _violation(
                        "revoked-accepted",
                        f"a renew sent {renewal.t_sent - revoked.t_ack:.6f}s after the "
                        "revoke's answer succeeded",
                        [ended],
                    )
                )
        resolved.append(ended)
    return resolved, found


def broken_sets(records: Iterable[LeaseRecord]) -> Iterator[Violation]:
    """A set is its `set_size` leases, one acquire's, on consecutive objects when
    asked to be contiguous (rule R10)."""
    sets: dict[tuple[str, str], list[LeaseRecord]] = defaultdict(list)
    for record in records:
        if record.set_id is not None:
            sets[record.pool, record.set_id].append(record)
    for (pool, set_id), members in sorted(sets.items()):
        objs = sorted(record.obj for record in members)
        first = members[0]
        same_acquire = all((r.t_sent, r.t_ack) == (first.t_sent, first.t_ack) for r in members)
        if len(members) != first.set_size or len(set(objs)) != len(objs) or not same_acquire:
            yield _violation(
                "broken-set",
                f"set {set_id} of pool {pool!r} asked for {first.set_size}, got objects {objs}",
                members,
            )
        elif first.contiguous and objs != list(range(objs[0], objs[0] + len(objs))):
            yield _violation(
                "broken-set",
                f"contiguous set {set_id} of pool {pool!r} got objects {objs}",
                members,
            )


def over_quota(
    records: Iterable[LeaseRecord], limits: Mapping[str, int], slack: float
) -> Iterator[Violation]:
    """No owner certainly held more leases of a pool at one instant than its
    maxPerOwner (rule R12). A lease is certainly held over [t_ack, t_end]; the
    intervals open at one's start all share that instant."""
    owners: dict[tuple[str, str], list[LeaseRecord]] = defaultdict(list)
    for record in records:
        certainly_held = _before(record.t_ack, record.t_end, slack)
        if record.owner is not None and record.pool in limits and certainly_held:
            owners[record.pool, record.owner].append(record)
    for (pool, owner), held in sorted(owners.items()):
        limit = limits[pool]
        open_: list[LeaseRecord] = []
        for record in sorted(held, key=lambda r: (r.t_ack, r.token)):
            open_ = [other for other in open_ if _before(record.t_ack, other.t_end, slack)]
            open_.append(record)
            if len(open_) > limit:
                yield _violation(
                    "over-quota",
                    f"owner {owner!r} held {len(open_)} leases of pool {pool!r} at once, "
                    f"above its maxPerOwner of {limit}",
                    open_,
                )
                break


def queue_jumps(records: list[LeaseRecord], slack: float) -> Iterator[Violation]:
    """A waiter certainly queued by `t_queued` stays queued until its grant (rule
    R5): no acquire sent after that may be granted before it, whatever it asks for."""
    waiters = [r for r in records if r.t_queued is not None and r.acquired_at is not None]
    seen: set[tuple[str, str]] = set()
    for waiter in waiters:
        assert waiter.t_queued is not None and waiter.acquired_at is not None
        group = waiter.set_id or f"token {waiter.token}"
        if (waiter.pool, group) in seen:
            continue
        seen.add((waiter.pool, group))
        for other in records:
            granted = other.acquired_at
            if (
                other.pool == waiter.pool
                and granted is not None
                and other.t_sent > waiter.t_queued
                and waiter.t_queued + slack < granted
                and granted + slack < waiter.acquired_at
            ):
                yield _violation(
                    "queue-jump",
                    f"pool {waiter.pool!r}: a request sent after a waiter was queued was "
                    "granted before it",
                    (waiter, other),
                )
