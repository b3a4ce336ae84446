"""Ordered sets of objects for the memory store: `SortedInts`, and `AvailableRuns`,
the runs of available objects a contiguous request is served from (rule R10).

Neither costs more than a few bisections per change, whatever the pool's size:
pools of up to 2**31 - 1 objects keep only the objects touched.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator

#: Past this many, a block splits in two; a bisection into a block this long
#: costs a few hundred nanoseconds, and the blocks' list stays short.
_BLOCK = 512

#: No object is above it: the end of the run that holds every never-used object.
UNBOUNDED = 2**63


class SortedInts:
    """A set of ints kept in order: add, remove and floor in O(log n) plus one
    list insertion into a block of at most 2 * _BLOCK."""

    def __init__(self) -> None:
        self._blocks: list[list[int]] = []
        self._maxes: list[int] = []
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def add(self, value: int) -> None:
        if not self._blocks:
            self._blocks.append([value])
            self._maxes.append(value)
            self._len = 1
            return
        index = bisect_left(self._maxes, value)
        if index == len(self._maxes):
            index -= 1
            self._blocks[index].append(value)
        else:
            insort(self._blocks[index], value)
        block = self._blocks[index]
        self._maxes[index] = block[-1]
        self._len += 1
        if len(block) > 2 * _BLOCK:
            self._blocks[index : index + 1] = [block[:_BLOCK], block[_BLOCK:]]
            self._maxes[index : index + 1] = [block[_BLOCK - 1], block[-1]]

    def remove(self, value: int) -> None:
        """Remove `value`, which must be there."""
        index = bisect_left(self._maxes, value)
        block = self._blocks[index]
        del block[bisect_left(block, value)]
        self._len -= 1
        if block:
            self._maxes[index] = block[-1]
        else:
            del self._blocks[index]
            del self._maxes[index]

    def discard(self, value: int) -> None:
        if value in self:
            self.remove(value)

    def __contains__(self, value: int) -> bool:
        index = bisect_left(self._maxes, value)
        if index == len(self._maxes):
            return False
        block = self._blocks[index]
        return block[bisect_left(block, value)] == value

    def first(self) -> int:
        return self._blocks[0][0]

    def floor(self, value: int) -> int | None:
        """The largest member at or below `value`, or None."""
        index = bisect_left(self._maxes, value)
        if index < len(self._blocks) and self._blocks[index][0] <= value:
            block = self._blocks[index]
            return block[bisect_right(block, value) - 1]
        return self._maxes[index - 1] if index > 0 else None

    def above(self, after: int) -> Iterator[int]:
        """The members above `after`, ascending; not to be changed while iterated."""
        index = bisect_right(self._maxes, after)
        if index == len(self._blocks):
            return
        block = self._blocks[index]
        yield from block[bisect_right(block, after) :]
        for block in self._blocks[index + 1 :]:
            yield from block


class AvailableRuns:
    """The maximal runs of consecutive available objects, ignoring the pool's
    size: never-used ones (one run up to `UNBOUNDED`, cut only where a named
    object was taken) and freed ones alike. A request clips them at the size,
    so a resize changes nothing here.

    Finite runs are also kept by length (lengths past `length_cap` together),
    so the lowest run long enough is found among at most `length_cap` buckets
    and never by walking the runs (rule R10).
    """

    def __init__(self, length_cap: int) -> None:
        self._cap = length_cap
        self._starts = SortedInts()
        self._end_of: dict[int, int] = {1: UNBOUNDED}
        self._start_of: dict[int, int] = {UNBOUNDED: 1}
        self._by_length: dict[int, SortedInts] = {}
        self._starts.add(1)

    def _bucket(self, start: int, end: int) -> int:
        return min(end - start + 1, self._cap)

    def _put(self, start: int, end: int) -> None:
        self._starts.add(start)
        self._end_of[start] = end
        self._start_of[end] = start
        if end != UNBOUNDED:
            self._by_length.setdefault(self._bucket(start, end), SortedInts()).add(start)

    def _drop(self, start: int) -> int:
        end = self._end_of.pop(start)
        del self._start_of[end]
        self._starts.remove(start)
        if end != UNBOUNDED:
            length = self._bucket(start, end)
            bucket = self._by_length[length]
            bucket.remove(start)
            if not bucket:
                del self._by_length[length]
        return end

    def add(self, obj: int) -> None:
        """`obj` became available: it joins the runs on either side."""
        start = self._start_of.get(obj - 1)
        if start is not None:
            self._drop(start)
        else:
            start = obj
        end = obj
        if obj + 1 in self._end_of:
            end = self._drop(obj + 1)
        self._put(start, end)

    def remove(self, obj: int) -> None:
        """`obj`, available, was taken: its run splits around it."""
        start = self._starts.floor(obj)
        assert start is not None
        end = self._drop(start)
        if start < obj:
            self._put(start, obj - 1)
        if obj < end:
            self._put(obj + 1, end)

    def lowest(self, count: int, size: int) -> int | None:
        """The lowest k with k..k+count-1 all available and within 1..size."""
        best: int | None = None
        if count <= self._cap:
            for length, starts in self._by_length.items():
                if length >= count and (best is None or starts.first() < best):
                    best = starts.first()
        else:
            for start in self._starts.above(0):
                if self._end_of[start] - start + 1 >= count:
                    best = start
                    break
        if best is None:
            # The unbounded run starts above every finite one.
            best = self._start_of[UNBOUNDED]
        # A run cut by the size is the highest one below it: if it is too short
        # there, no run is long enough.
        return best if best + count - 1 <= size else None
