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
        maxes = self._maxes
        if not maxes:
            self._blocks.append([value])
            maxes.append(value)
            self._len = 1
            return
        self._len += 1
        # Objects are mostly handed out in ascending order: appending skips the bisections.
        if value > maxes[-1]:
            index = len(maxes) - 1
            block = self._blocks[index]
            block.append(value)
            maxes[index] = value
        else:
            index = bisect_left(maxes, value)
            block = self._blocks[index]
            insort(block, value)
        if len(block) > 2 * _BLOCK:
            self._blocks[index : index + 1] = [block[:_BLOCK], block[_BLOCK:]]
            maxes[index : index + 1] = [block[_BLOCK - 1], block[-1]]

    def remove(self, value: int) -> None:
        """Remove `value`, which must be there."""
        maxes = self._maxes
        self._len -= 1
        if value == maxes[-1]:
            index = len(maxes) - 1
            block = self._blocks[index]
            block.pop()
        else:
            index = bisect_left(maxes, value)
            block = self._blocks[index]
            del block[bisect_left(block, value)]
        if block:
            maxes[index] = block[-1]
        else:
            del self._blocks[index]
            del maxes[index]

    def replace(self, old: int, new: int) -> None:
        """Put `new` where `old` is, both between the same neighbours."""
        index = bisect_left(self._maxes, old)
        block = self._blocks[index]
        block[bisect_left(block, old)] = new
        self._maxes[index] = block[-1]

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
    size: never-used ones (one unbounded run, the tail, cut only where
    a named object was taken) and freed ones alike. A request clips them at
    the size, so a resize changes nothing here.

    The tail is kept apart, its start a plain number, so that handing out the
    next never-used object costs one addition. Finite runs are kept by start
    and by length (lengths past `length_cap` together), so the lowest run
    long enough is found among at most `length_cap` buckets and never by
    walking the runs (rule R10).
    """

    def __init__(self, length_cap: int) -> None:
        self._cap = length_cap
        self._tail = 1
        self._starts = SortedInts()
        self._end_of: dict[int, int] = {}
        self._start_of: dict[int, int] = {}
        self._by_length: dict[int, SortedInts] = {}

    def _bucket(self, start: int, end: int) -> int:
        return min(end - start + 1, self._cap)

    def _bucketed(self, length: int) -> SortedInts:
        bucket = self._by_length.get(length)
        if bucket is None:
            bucket = self._by_length[length] = SortedInts()
        return bucket

    def _put(self, start: int, end: int) -> None:
        self._starts.add(start)
        self._end_of[start] = end
        self._start_of[end] = start
        self._bucketed(self._bucket(start, end)).add(start)

    def _drop(self, start: int) -> int:
        end = self._end_of.pop(start)
        del self._start_of[end]
        self._starts.remove(start)
        self._unbucket(start, end)
        return end

    def _unbucket(self, start: int, end: int) -> None:
        length = self._bucket(start, end)
        bucket = self._by_length[length]
        bucket.remove(start)
        if not bucket:
            del self._by_length[length]

    def _move(self, start: int, end: int, new_start: int, new_end: int) -> None:
        """Run start..end becomes new_start..new_end, between the same neighbours."""
        del self._start_of[end]
        del self._end_of[start]
        self._end_of[new_start] = new_end
        self._start_of[new_end] = new_start
        if new_start != start:
            self._starts.replace(start, new_start)
        old_length, new_length = self._bucket(start, end), self._bucket(new_start, new_end)
        if old_length == new_length:
            if new_start != start:
                self._by_length[old_length].replace(start, new_start)
            return
        self._unbucket(start, end)
        self._bucketed(new_length).add(new_start)

    def add(self, obj: int) -> None:
        """`obj` became available: it joins the runs on either side."""
        left = self._start_of.get(obj - 1)
        if obj + 1 == self._tail:
            if left is not None:
                self._drop(left)
            self._tail = obj if left is None else left
        elif obj + 1 in self._end_of:
            right_end = self._end_of[obj + 1]
            if left is None:
                self._move(obj + 1, right_end, obj, right_end)
            else:
                self._drop(obj + 1)
                self._move(left, obj - 1, left, right_end)
        elif left is not None:
            self._move(left, obj - 1, left, obj)
        else:
            self._put(obj, obj)

    def remove(self, obj: int) -> None:
        """`obj`, available, was taken: its run splits around it."""
        if obj >= self._tail:
            if obj > self._tail:
                self._put(self._tail, obj - 1)
            self._tail = obj + 1
            return
        start = obj if obj in self._end_of else self._starts.floor(obj)
        assert start is not None
        end = self._end_of[start]
        if start == end:
            self._drop(start)
        elif obj == start:
            self._move(start, end, start + 1, end)
        elif obj == end:
            self._move(start, end, start, end - 1)
        else:
            self._move(start, end, start, obj - 1)
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
            # The tail starts above every finite run.
            best = self._tail
        # A run cut by the size is the highest one below it: if it is too short
        # there, no run is long enough.
        return best if best + count - 1 <= size else None
