"""The SQLite store's journal: the events of every change, in the change's transaction.

Rule R9. A change appends its events to `events` in its own SAVEPOINT of the
group commit, so an event is durable exactly when its change is, and a change
rolled back (refused, or its batch failed) leaves no event and publishes none.
`seq` comes from `journal_seqs`, one counter per pool name that is never
deleted, as `fencing` keeps the tokens (rule R3).

Trimming is bounded: the change that appended `n` events to a pool deletes at
most `TRIM_PER_EVENT * n` of its events older than the last `keep`, the oldest
first. Once the journal is over `keep` (after `OBJMGR_EVENTS_KEEP` was
lowered, say) it shrinks with every append, and no write pays for more than
a small multiple of what it wrote itself: a request's write appends at most
one event per lease it reclaims plus its own, the reaper's at most its batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from ...pool.events import Event, EventKind
from ...pool.lease import Lease

#: Old events a change deletes, at most, for every event it appends: above one,
#: so that a journal over its bound comes back to it while the pool is used.
TRIM_PER_EVENT = 2

EVENT_COLUMNS = "pool, seq, kind, at, obj, token, owner, label, principal, reason, size, expires_at"

# A page of the journal: one range of the primary key, O(page).
READ_EVENTS = (
    f"SELECT {EVENT_COLUMNS} FROM events WHERE pool = :pool AND seq > :after "
    "ORDER BY seq LIMIT :first"
)
# rule R9: the oldest first, at most `batch` of those older than the last `keep`
# (`cut` is the pool's last seq less `keep`); one range of the primary key.
TRIM_EVENTS = (
    "DELETE FROM events WHERE pool = :pool AND seq IN ("
    "  SELECT seq FROM events WHERE pool = :pool AND seq <= :cut ORDER BY seq LIMIT :batch)"
)


class Journal:
    """The events a change wrote, as the change writes them; published after COMMIT."""

    __slots__ = ("_appended", "events")

    def __init__(self) -> None:
        self.events: list[Event] = []
        # Per pool: the events appended by this change, and the last seq.
        self._appended: dict[str, tuple[int, int]] = {}

    def pool_event(
        self,
        conn: sqlite3.Connection,
        pool: str,
        kind: EventKind,
        at: float,
        *,
        principal: str | None,
        size: int | None = None,
        reason: str | None = None,
    ) -> None:
        self._append(
            conn, pool, [(kind, at, None, principal)], size=size, reason=reason, renewed=False
        )

    def lease_event(
        self,
        conn: sqlite3.Connection,
        kind: EventKind,
        at: float,
        lease: Lease,
        principal: str | None,
    ) -> None:
        self._append(
            conn,
            lease.pool,
            [(kind, at, lease, principal)],
            renewed=kind is EventKind.RENEWED,
        )

    def expired(self, conn: sqlite3.Connection, pool: str, leases: Iterable[Lease]) -> None:
        """EXPIRED events of reclaimed leases, `at` each lease's expiry (rule R4)."""
        rows = [
            (EventKind.EXPIRED, lease.expires_at, lease, None)
            for lease in leases
            if lease.expires_at is not None
        ]
        if rows:
            self._append(conn, pool, rows, renewed=False)

    def _append(
        self,
        conn: sqlite3.Connection,
        pool: str,
        rows: Sequence[tuple[EventKind, float, Lease | None, str | None]],
        *,
        renewed: bool,
        size: int | None = None,
        reason: str | None = None,
    ) -> None:
        # rule R9: the pool name's counter, never deleted, so seq never goes back
        (last,) = conn.execute(
            "INSERT INTO journal_seqs (pool, last_seq) VALUES (?, ?) ON CONFLICT (pool) "
            "DO UPDATE SET last_seq = last_seq + excluded.last_seq RETURNING last_seq",
            (pool, len(rows)),
        ).fetchone()
        first = int(last) - len(rows) + 1
        events = [
            Event(
                pool=pool,
                seq=first + offset,
                kind=kind,
                at=at,
                obj=None if lease is None else lease.obj,
                token=None if lease is None else lease.token,
                owner=None if lease is None else lease.owner,
                label=None if lease is None else lease.label,
                principal=principal,
                reason=reason,
                size=size,
                expires_at=lease.expires_at if renewed and lease is not None else None,
            )
            for offset, (kind, at, lease, principal) in enumerate(rows)
        ]
        conn.executemany(
            f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.pool,
                    e.seq,
                    e.kind.value,
                    e.at,
                    e.obj,
                    e.token,
                    e.owner,
                    e.label,
                    e.principal,
                    e.reason,
                    e.size,
                    e.expires_at,
                )
                for e in events
            ],
        )
        self.events.extend(events)
        appended, _ = self._appended.get(pool, (0, 0))
        self._appended[pool] = (appended + len(rows), int(last))

    def trim(self, conn: sqlite3.Connection, keep: int) -> None:
        """Delete a bounded batch of each touched pool's events older than the last `keep`."""
        for pool, (appended, last) in self._appended.items():
            conn.execute(
                TRIM_EVENTS,
                {"pool": pool, "cut": last - keep, "batch": TRIM_PER_EVENT * appended},
            )
        self._appended.clear()


def read(conn: sqlite3.Connection, pool: str, after: int, first: int) -> list[Event]:
    """Events of pool name `pool` with seq above `after`, ascending: one range of the key."""
    rows = conn.execute(READ_EVENTS, {"pool": pool, "after": after, "first": first}).fetchall()
    return [Event(pool, seq, EventKind(kind), *fields) for pool, seq, kind, *fields in rows]
