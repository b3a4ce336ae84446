"""The SQLite store's journal: the events of every change, in the change's transaction.

Rule R9. A change appends its events to `events` in its own SAVEPOINT of the
group commit, so an event is durable exactly when its change is, and a change
rolled back (refused, or its batch failed) leaves no event and publishes none.

`seq` is one more than the pool name's last event. That last event is the
counter, and is never deleted: not with the pool (its events stay, as
`fencing` keeps its tokens, rule R3), and not by trimming, which keeps at
least one. A counter row of its own would cost every change one more
statement and one more page written at COMMIT.

Trimming is bounded and amortised: a pool's journal is trimmed by the change
whose events carry its seq past a multiple of `TRIM_EVERY`. It deletes,
oldest first, the events older than the last `keep`, at most `TRIM_PER_EVENT
* (n + TRIM_EVERY)` of them, n the events it appended itself (n + TRIM_EVERY
bounds what was appended since the trim before). So the journal holds at
most `keep + TRIM_EVERY - 1` events once at its bound; one over it (after
`OBJMGR_EVENTS_KEEP` was lowered, say) shrinks as the pool is used; and no
write pays for more than a small multiple of what it wrote itself: a
request's write appends one event per lease it reclaims plus its own, the
reaper's at most its batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ...pool.events import Event, EventKind
from ...pool.lease import Lease

#: A pool's journal is trimmed once every this many of its events: one DELETE
#: for many appends.
TRIM_EVERY = 16
#: Old events a trim deletes, at most, for every event appended since the last
#: trim: above one, so that a journal over its bound comes back to it.
TRIM_PER_EVENT = 2

EVENT_COLUMNS = "pool, seq, kind, at, obj, token, owner, label, principal, reason, size, expires_at"

INSERT_EVENT = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({', '.join('?' * 12)})"
LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM events WHERE pool = ?"
# One event, its seq the pool's next (one probe at the end of the pool's key range).
APPEND_EVENT = (
    f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?1, "
    "(SELECT coalesce(max(seq), 0) + 1 FROM events WHERE pool = ?1), "
    "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING seq"
)
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


# What a change appends, less the pool and seq: kind, at, obj, token, owner, label,
# principal, reason, size, expires_at (the columns of `events` after `seq`).
EventRow = tuple[
    str,
    float,
    int | None,
    int | None,
    str | None,
    str | None,
    str | None,
    str | None,
    int | None,
    float | None,
]
# A reclaimed lease as `objects.reclaim` reads it: obj, expires_at, token, owner, label.
ExpiredRow = tuple[int, float, int, str | None, str | None]


class Journal:
    """The events a change wrote, as the change writes them.

    Kept as the rows written, and made `Event`s only once the change committed
    (`events()`, in the caller's thread): nothing of that work holds the write
    lock, which the reaper's batches of EXPIRED events would otherwise lengthen.
    """

    __slots__ = ("_appended", "_rows")

    def __init__(self) -> None:
        self._rows: list[tuple[object, ...]] = []
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
            conn, pool, [(kind.value, at, None, None, None, None, principal, reason, size, None)]
        )

    def lease_event(
        self,
        conn: sqlite3.Connection,
        kind: EventKind,
        at: float,
        lease: Lease,
        principal: str | None,
        reason: str | None = None,
    ) -> None:
        """A lease's event; a RENEWED one carries the new expiry, a REVOKED one
        its reason (rule R14)."""
        self.lease_events(conn, kind, at, [lease], principal, reason)

    def lease_events(
        self,
        conn: sqlite3.Connection,
        kind: EventKind,
        at: float,
        leases: Sequence[Lease],
        principal: str | None,
        reason: str | None = None,
    ) -> None:
        """The same event of each of `leases` of one pool, in their order (rule R10)."""
        if not leases:
            return
        renewed = kind is EventKind.RENEWED
        self._append(
            conn,
            leases[0].pool,
            [
                (
                    kind.value,
                    at,
                    lease.obj,
                    lease.token,
                    lease.owner,
                    lease.label,
                    principal,
                    reason,
                    None,
                    lease.expires_at if renewed else None,
                )
                for lease in leases
            ],
        )

    def expired(self, conn: sqlite3.Connection, pool: str, leases: Sequence[ExpiredRow]) -> None:
        """EXPIRED events of reclaimed leases, `at` each lease's expiry, by nobody (rule R4)."""
        kind = EventKind.EXPIRED.value
        self._append(
            conn,
            pool,
            [
                (kind, expires_at, obj, token, owner, label, None, None, None, None)
                for obj, expires_at, token, owner, label in leases
            ],
        )

    def _append(self, conn: sqlite3.Connection, pool: str, rows: Sequence[EventRow]) -> None:
        if not rows:
            return
        if len(rows) == 1:
            # rule R9: seq follows the pool name's last event, in the same statement
            (last,) = conn.execute(APPEND_EVENT, (pool, *rows[0])).fetchone()
            written: list[tuple[object, ...]] = [(pool, last, *rows[0])]
        else:
            (before,) = conn.execute(LAST_SEQ, (pool,)).fetchone()
            written = [(pool, before + offset, *row) for offset, row in enumerate(rows, 1)]
            last = written[-1][1]
            conn.executemany(INSERT_EVENT, written)
        self._rows.extend(written)
        appended, _ = self._appended.get(pool, (0, 0))
        self._appended[pool] = (appended + len(rows), int(last))

    def pools(self) -> list[str]:
        """The pools this change wrote events of (until `trim`)."""
        return list(self._appended)

    def trim(self, conn: sqlite3.Connection, keep: int) -> None:
        """Delete a bounded batch of each pool's events older than the last `keep`,
        when this change's events carried its seq past a multiple of `TRIM_EVERY`."""
        for pool, (appended, last) in self._appended.items():
            if last // TRIM_EVERY == (last - appended) // TRIM_EVERY:
                continue
            conn.execute(
                TRIM_EVENTS,
                {
                    "pool": pool,
                    # rule R9: never the last event, which is the pool name's counter
                    "cut": last - max(keep, 1),
                    "batch": TRIM_PER_EVENT * (appended + TRIM_EVERY),
                },
            )
        self._appended.clear()

    def events(self) -> list[Event]:
        """The events written, once the change committed."""
        return _as_events(self._rows)


def read(conn: sqlite3.Connection, pool: str, after: int, first: int) -> list[Event]:
    """Events of pool name `pool` with seq above `after`, ascending: one range of the key."""
    return _as_events(
        conn.execute(READ_EVENTS, {"pool": pool, "after": after, "first": first}).fetchall()
    )


def _as_events(rows: Iterable[Sequence[Any]]) -> list[Event]:
    return [Event(pool, seq, EventKind(kind), *fields) for pool, seq, kind, *fields in rows]
