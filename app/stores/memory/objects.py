"""The memory store's pool of objects: which object of one pool is handed out next.

Only `MemoryStore` uses it: the SQLite and Redis stores keep the same state in
their tables and keys (`pools.next_fresh` and `free_objects`; `P:meta` and
`P:free`). The name `ObjectMgr` is the original service's, which its
operators know.
"""

from __future__ import annotations

import threading
from collections import deque

from ...pool.errors import exhausted, not_allocated, out_of_range


class ObjectMgr:
    """The objects 1..size of one pool of the memory store, one holder at a time.

    Objects never used are handed out first, in ascending order, then freed
    objects, longest-free first (rule R1). Objects never handed out are not stored:
    every object below `next_fresh` is either held or queued as free, every
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
        self._free: deque[int] = deque()
        self._in_use: set[int] = set()
        # Held objects within 1..size, kept with every change so that reading
        # `available` costs the same however many are held.
        self._held_within_size = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._size

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    @property
    def available(self) -> int:
        return self._size - self._held_within_size

    def is_held(self, obj: int) -> bool:
        return obj in self._in_use

    def get_object(self) -> int:
        with self._lock:
            # rule R1: never used first, ascending, size included
            if self._next_fresh <= self._size:
                obj = self._next_fresh
                self._next_fresh += 1
            else:
                obj = self._pop_oldest_free()
            self._in_use.add(obj)
            self._held_within_size += 1
            return obj

    def _pop_oldest_free(self) -> int:
        # rule R1: then the longest free; rule R6: none above the size
        for index, obj in enumerate(self._free):
            if obj <= self._size:
                del self._free[index]
                return obj
        raise exhausted(self.name)

    def free_object(self, obj: int) -> None:
        with self._lock:
            if obj not in self._in_use:
                if not 1 <= obj <= self._size:
                    raise out_of_range(self.name, obj, self._size)
                raise not_allocated(self.name, obj)
            self._in_use.remove(obj)
            if obj <= self._size:
                self._held_within_size -= 1
            self._free.append(obj)

    def resize(self, size: int) -> None:
        with self._lock:
            self._size = size
            self._held_within_size = sum(1 for obj in self._in_use if obj <= size)
