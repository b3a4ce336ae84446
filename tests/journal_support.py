"""What the journal's tests share: reading a pool's journal, and a listener that
remembers what it was told."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from app.pool.events import Event, EventKind
from app.service import LeaseService
from app.stores.base import Store

EVERYTHING = 1000  # the largest page `events` serves


def journal(service: LeaseService, pool: str = "default") -> list[Event]:
    return service.events(pool, after=0, first=EVERYTHING)


def since(service: LeaseService, seq: int, pool: str = "default") -> list[Event]:
    return service.events(pool, after=seq, first=EVERYTHING)


def seqs(events: Sequence[Event]) -> list[int]:
    return [event.seq for event in events]


class Told:
    """A listener: every event it was told of, with the thread that told it, and
    whether the event was in the journal already (committed) when it was told."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.events: list[Event] = []
        self.threads: list[int] = []
        self.committed: list[bool] = []
        self.expired = threading.Event()
        store.listen(self)

    def __call__(self, events: Sequence[Event]) -> None:
        found = [self._store.events(e.pool, e.seq - 1, 1) == [e] for e in events]
        with self._lock:
            self.events.extend(events)
            self.threads.extend(threading.get_ident() for _ in events)
            self.committed.extend(found)
        if any(event.kind is EventKind.EXPIRED for event in events):
            self.expired.set()
