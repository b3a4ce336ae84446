"""The memory store's journal: the last events of each pool name (rule R9).

Kept per pool name, not per pool, so that deleting a pool and creating it
again goes on counting where it stopped; a bounded deque trims the oldest
event as each new one comes, a step that costs the same however long it is.
"""

from __future__ import annotations

import itertools
from collections import deque

from ...pool.events import Event, EventKind
from ...pool.lease import Lease


class MemoryJournal:
    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._events: dict[str, deque[Event]] = {}
        self._last_seq: dict[str, int] = {}
        # The events of the step under way, for the store to tell once its lock is let go.
        self._written: list[Event] = []

    def record(
        self,
        pool: str,
        kind: EventKind,
        at: float,
        lease: Lease | None = None,
        principal: str | None = None,
        *,
        reason: str | None = None,
        size: int | None = None,
    ) -> Event:
        seq = self._last_seq.get(pool, 0) + 1
        self._last_seq[pool] = seq
        event = Event(
            pool=pool,
            seq=seq,
            kind=kind,
            at=at,
            obj=None if lease is None else lease.obj,
            token=None if lease is None else lease.token,
            owner=None if lease is None else lease.owner,
            label=None if lease is None else lease.label,
            principal=principal,
            reason=reason,
            size=size,
            expires_at=lease.expires_at
            if lease is not None and kind is EventKind.RENEWED
            else None,
        )
        kept = self._events.get(pool)
        if kept is None:
            kept = self._events[pool] = deque(maxlen=self._keep)
        kept.append(event)
        self._written.append(event)
        return event

    def take_written(self) -> list[Event]:
        """The events recorded since the last call."""
        written, self._written = self._written, []
        return written

    def events(self, pool: str, after: int, first: int) -> list[Event]:
        kept = self._events.get(pool)
        if not kept or first <= 0:
            return []
        # seqs are consecutive within the deque, so the first one wanted is found by arithmetic.
        start = max(0, after + 1 - kept[0].seq)
        return list(itertools.islice(kept, start, start + first))
