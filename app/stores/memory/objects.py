"""The memory store's pool of objects: which object of one pool is handed out next.

Only `MemoryStore` uses it: the SQLite and Redis stores keep the same state in
their tables and keys (`pools.next_fresh` and `free_objects`; `P:meta` and
`P:free`). The name `ObjectMgr` is the original service's, which its
operators know.
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from collections.abc import Iterator

from ...pool.errors import (
    exhausted,
    not_allocated,
    object_cooling,
    object_held,
    out_of_range,
)
from ...pool.limits import MAX_COUNT
from .runs import AvailableRuns, SortedInts


class ObjectMgr:
    """The objects 1..size of one pool of the memory store, one holder at a time.

    Objects never used are handed out first, in ascending order, then freed
    objects, longest-free first (rule R1), or the other way round with
    `reuse_first` (rule R13). Objects never handed out are not stored: every
    object below `next_fresh` is held, queued as free or cooling, and so is
    every object above it taken by name (`_skipped`, rule R11); every other
    object from `next_fresh` up has never been used. That invariant is what
    keeps creation O(1) for any size and memory proportional to the objects
    touched. Objects above the size (after a shrink) stay where they are and
    are skipped while the pool is smaller than them: held ones stay valid, and
    freed ones come back in their place in the queue if the pool grows again
    (rule R6). Leases, tokens and expiry are `MemoryStore`'s.
    """

    def __init__(self, size: int, name: str = "default") -> None:
        self.name = name
        self._size = size
        self._next_fresh = 1
        # rule R11: never-used objects above `_next_fresh` taken by name, passed over once.
        self._skipped: set[int] = set()
        # Longest free first; an OrderedDict so that a named or contiguous grant
        # takes an object out of the middle in O(1).
        self._free: OrderedDict[int, None] = OrderedDict()
        self._in_use: set[int] = set()
        self._held_order = SortedInts()
        # rule R13: (cooling end, object), earliest first, and each one's end.
        self._cooling: list[tuple[float, int]] = []
        self._cooling_end: dict[int, float] = {}
        self._runs = AvailableRuns(MAX_COUNT)
        # Held and cooling objects within 1..size, kept with every change so
        # that reading `available` costs the same however many there are.
        self._held_within_size = 0
        self._cooling_within_size = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._size

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    @property
    def available(self) -> int:
        return self._size - self._held_within_size - self._cooling_within_size

    @property
    def cooling(self) -> int:
        """Objects cooling within 1..size, their end passed or not."""
        return self._cooling_within_size

    def is_held(self, obj: int) -> bool:
        return obj in self._in_use

    def held_above(self, after: int) -> Iterator[int]:
        """Held objects above `after`, ascending; not to be changed while iterated."""
        return self._held_order.above(after)

    # handing out ----------------------------------------------------------
    def get_object(self, reuse_first: bool = False) -> int:
        with self._lock:
            obj = self._next_fresh
            # rule R1: the next never-used object, the common case, in a few steps
            if not reuse_first and obj <= self._size and obj not in self._skipped:
                self._next_fresh = obj + 1
            else:
                found = self._next(reuse_first)
                if found is None:
                    raise exhausted(self.name)
                obj = found
                self._take_chosen(obj)
                return obj
            self._hold(obj)
            return obj

    def get_objects(self, count: int, reuse_first: bool = False) -> list[int]:
        """The `count` objects `count` single grants would take, or none (rule R10)."""
        with self._lock:
            if count > self.available:
                raise exhausted(self.name)
            taken = []
            for _ in range(count):
                obj = self._next(reuse_first)
                assert obj is not None  # as many are available
                self._take_chosen(obj)
                taken.append(obj)
            return taken

    def get_run(self, count: int) -> list[int]:
        """k..k+count-1 for the lowest k at which all are available (rule R10)."""
        with self._lock:
            start = self._runs.lowest(count, self._size)
            if start is None:
                raise exhausted(self.name)
            taken = list(range(start, start + count))
            for obj in taken:
                self._take_named(obj)
            return taken

    def get_named(self, obj: int) -> int:
        """Exactly `obj` (rule R11)."""
        with self._lock:
            if not 1 <= obj <= self._size:
                raise out_of_range(self.name, obj, self._size)
            if obj in self._in_use:
                raise object_held(self.name, obj)
            if obj in self._cooling_end:
                raise object_cooling(self.name, obj)
            self._take_named(obj)
            return obj

    def _next(self, reuse_first: bool) -> int | None:
        if reuse_first:
            # rule R13: freed objects before never-used ones
            return self._oldest_free() or self._fresh()
        # rule R1: never used first, ascending, size included; then the longest free
        return self._fresh() or self._oldest_free()

    def _fresh(self) -> int | None:
        # rule R11: each object taken by name is passed over once, here
        while self._next_fresh in self._skipped:
            self._skipped.remove(self._next_fresh)
            self._next_fresh += 1
        return self._next_fresh if self._next_fresh <= self._size else None

    def _oldest_free(self) -> int | None:
        # rule R6: none above the size
        for obj in self._free:
            if obj <= self._size:
                return obj
        return None

    def _take_chosen(self, obj: int) -> None:
        """Hand out `obj`, which `_next` chose."""
        # A freed object taken by name once may equal `_next_fresh` before `_fresh` passed it.
        if obj in self._free:
            del self._free[obj]
        else:
            self._next_fresh += 1
        self._hold(obj)

    def _take_named(self, obj: int) -> None:
        """Hand out `obj`, known to be available: freed, or never used."""
        if obj in self._free:
            del self._free[obj]
        elif obj == self._next_fresh:
            self._next_fresh += 1
        else:
            self._skipped.add(obj)
        self._hold(obj)

    def _hold(self, obj: int) -> None:
        self._runs.remove(obj)
        self._in_use.add(obj)
        self._held_order.add(obj)
        self._held_within_size += 1

    # taking back ----------------------------------------------------------
    def free_object(self, obj: int) -> None:
        """`obj` is free again now (a free, or an expiry without cooling)."""
        with self._lock:
            self._let_go(obj)
            self._queue_free(obj)

    def cool_object(self, obj: int, until: float) -> None:
        """`obj`'s lease expired or was revoked: out of circulation until `until` (rule R13)."""
        with self._lock:
            self._let_go(obj)
            heapq.heappush(self._cooling, (until, obj))
            self._cooling_end[obj] = until
            if obj <= self._size:
                self._cooling_within_size += 1

    def _let_go(self, obj: int) -> None:
        if obj not in self._in_use:
            if not 1 <= obj <= self._size:
                raise out_of_range(self.name, obj, self._size)
            raise not_allocated(self.name, obj)
        self._in_use.remove(obj)
        self._held_order.remove(obj)
        if obj <= self._size:
            self._held_within_size -= 1

    def _queue_free(self, obj: int) -> None:
        self._free[obj] = None
        self._runs.add(obj)

    def cooling_end_of(self, obj: int) -> float | None:
        return self._cooling_end.get(obj)

    def next_cooling_end(self) -> tuple[float, int] | None:
        """(end, object) of the cooling object whose end comes first."""
        return self._cooling[0] if self._cooling else None

    def end_cooling(self) -> int:
        """Move the object whose cooling ends first to the free queue, as freed now."""
        with self._lock:
            _, obj = heapq.heappop(self._cooling)
            del self._cooling_end[obj]
            if obj <= self._size:
                self._cooling_within_size -= 1
            self._queue_free(obj)
            return obj

    def cooling_ended_by(self, now: float) -> int:
        """Cooling objects within 1..size whose end is `now` or earlier, not moved yet.

        Visits only the heap entries due by `now`, so it costs what awaits its
        move, not what cools.
        """
        heap, found = self._cooling, 0
        stack = [0] if heap else []
        while stack:
            index = stack.pop()
            until, obj = heap[index]
            if until > now:
                continue
            found += obj <= self._size
            stack.extend(child for child in (2 * index + 1, 2 * index + 2) if child < len(heap))
        return found

    def resize(self, size: int) -> None:
        with self._lock:
            self._size = size
            self._held_within_size = sum(1 for obj in self._in_use if obj <= size)
            self._cooling_within_size = sum(1 for obj in self._cooling_end if obj <= size)
