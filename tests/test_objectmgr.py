"""`ObjectMgr`, the memory store's pool of objects, checked against the plainest model
of its promise (rules R1, R6, R10, R11 and R13), and its runs of available objects
against a brute-force search."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from app.pool.errors import NotAllocated, ObjectHeld, OutOfRange, PoolExhausted
from app.pool.limits import MAX_INT
from app.stores.memory import ObjectMgr
from app.stores.memory.runs import AvailableRuns, SortedInts


class Model:
    """Every object listed: never used ones in order, then freed ones in order,
    and cooling ones with their end."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.never_used = list(range(1, size + 1))
        self.freed: list[int] = []
        self.held: set[int] = set()
        self.cooling: dict[int, float] = {}

    def order(self, reuse_first: bool) -> list[int]:
        queues = (self.freed, self.never_used) if reuse_first else (self.never_used, self.freed)
        return [obj for queue in queues for obj in queue if obj <= self.size]

    def available(self) -> set[int]:
        return {obj for obj in self.never_used + self.freed if obj <= self.size}

    def hold(self, obj: int) -> None:
        for queue in (self.never_used, self.freed):
            if obj in queue:
                queue.remove(obj)
        self.held.add(obj)

    def take(self, reuse_first: bool = False) -> int | None:
        order = self.order(reuse_first)
        if not order:
            return None
        self.hold(order[0])
        return order[0]

    def lowest_run(self, count: int) -> int | None:
        free = self.available()
        for start in range(1, self.size - count + 2):
            if all(obj in free for obj in range(start, start + count)):
                return start
        return None

    def give_back(self, obj: int) -> None:
        self.held.remove(obj)
        self.freed.append(obj)

    def cool(self, obj: int, until: float) -> None:
        self.held.remove(obj)
        self.cooling[obj] = until

    def end_first_cooling(self) -> int:
        obj = min(self.cooling, key=lambda o: (self.cooling[o], o))
        del self.cooling[obj]
        self.freed.append(obj)
        return obj


class ObjectMgrMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mgr = ObjectMgr(6)
        self.model = Model(6)
        self.largest = 6
        self.ends = 0.0

    @rule(reuse_first=st.booleans())
    def get_object(self, reuse_first: bool) -> None:
        expected = self.model.take(reuse_first)
        if expected is None:
            with pytest.raises(PoolExhausted):
                self.mgr.get_object(reuse_first)
        else:
            assert self.mgr.get_object(reuse_first) == expected

    # rule R10
    @rule(count=st.integers(1, 5), reuse_first=st.booleans())
    def get_objects(self, count: int, reuse_first: bool) -> None:
        if count > len(self.model.available()):
            with pytest.raises(PoolExhausted):
                self.mgr.get_objects(count, reuse_first)
            return
        expected = [self.model.take(reuse_first) for _ in range(count)]
        assert self.mgr.get_objects(count, reuse_first) == expected

    # rule R10
    @rule(count=st.integers(1, 5))
    def get_run(self, count: int) -> None:
        start = self.model.lowest_run(count)
        if start is None:
            with pytest.raises(PoolExhausted):
                self.mgr.get_run(count)
            return
        for obj in range(start, start + count):
            self.model.hold(obj)
        assert self.mgr.get_run(count) == list(range(start, start + count))

    # rules R11, R13
    @rule(obj=st.integers(-1, 14))
    def get_named(self, obj: int) -> None:
        if not 1 <= obj <= self.model.size:
            with pytest.raises(OutOfRange):
                self.mgr.get_named(obj)
        elif obj in self.model.held or obj in self.model.cooling:
            with pytest.raises(ObjectHeld):
                self.mgr.get_named(obj)
        else:
            self.model.hold(obj)
            assert self.mgr.get_named(obj) == obj

    @precondition(lambda self: self.model.held)
    @rule(data=st.data())
    def free_held(self, data: st.DataObject) -> None:
        obj = data.draw(st.sampled_from(sorted(self.model.held)))
        self.mgr.free_object(obj)
        self.model.give_back(obj)

    # rule R13
    @precondition(lambda self: self.model.held)
    @rule(data=st.data(), later=st.sampled_from([0.0, 1.0, 2.0]))
    def cool_held(self, data: st.DataObject, later: float) -> None:
        obj = data.draw(st.sampled_from(sorted(self.model.held)))
        self.ends += later
        self.mgr.cool_object(obj, self.ends)
        self.model.cool(obj, self.ends)

    # rule R13
    @precondition(lambda self: self.model.cooling)
    @rule()
    def end_cooling(self) -> None:
        assert self.mgr.end_cooling() == self.model.end_first_cooling()

    @rule(obj=st.integers(-2, 14))
    def free_anything_not_held(self, obj: int) -> None:
        if obj in self.model.held:
            return
        expected = OutOfRange if not 1 <= obj <= self.model.size else NotAllocated
        with pytest.raises(expected):
            self.mgr.free_object(obj)

    @rule(size=st.integers(1, 12))
    def resize(self, size: int) -> None:
        if size > self.largest:
            self.model.never_used = [o for o in self.model.never_used if o <= self.largest]
            self.model.never_used += range(self.largest + 1, size + 1)
            self.largest = size
        self.model.size = size
        self.mgr.resize(size)

    @invariant()
    def counts_agree(self) -> None:
        size = self.model.size
        assert self.mgr.in_use == len(self.model.held)
        assert self.mgr.cooling == sum(1 for obj in self.model.cooling if obj <= size)
        assert self.mgr.available == len(self.model.available())
        assert all(self.mgr.is_held(obj) for obj in self.model.held)
        assert list(self.mgr.held_above(0)) == sorted(self.model.held)


TestObjectMgr = ObjectMgrMachine.TestCase


@given(st.integers(1, MAX_INT))
def test_any_size_is_created_without_touching_its_objects(size: int) -> None:
    mgr = ObjectMgr(size)
    assert (mgr.size, mgr.in_use, mgr.available) == (size, 0, size)
    assert mgr.get_object() == 1


def test_the_last_object_n_is_handed_out() -> None:
    mgr = ObjectMgr(3)
    assert [mgr.get_object() for _ in range(3)] == [1, 2, 3]
    with pytest.raises(PoolExhausted):
        mgr.get_object()


# rule R10
class AvailableRunsMachine(RuleBasedStateMachine):
    """AvailableRuns against a search of every object it stands for."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = AvailableRuns(length_cap=4)
        self.taken: set[int] = set()

    @rule(obj=st.integers(1, 30))
    def take(self, obj: int) -> None:
        if obj not in self.taken:
            self.runs.remove(obj)
            self.taken.add(obj)

    @precondition(lambda self: self.taken)
    @rule(data=st.data())
    def give_back(self, data: st.DataObject) -> None:
        obj = data.draw(st.sampled_from(sorted(self.taken)))
        self.runs.add(obj)
        self.taken.remove(obj)

    @rule(count=st.integers(1, 7), size=st.integers(1, 32))
    def lowest(self, count: int, size: int) -> None:
        expected = next(
            (
                start
                for start in range(1, size - count + 2)
                if not any(obj in self.taken for obj in range(start, start + count))
            ),
            None,
        )
        assert self.runs.lowest(count, size) == expected


TestAvailableRuns = AvailableRunsMachine.TestCase


@given(st.lists(st.integers(-50, 5000), max_size=3000))
def test_sorted_ints_keep_their_members_in_order(values: list[int]) -> None:
    members = SortedInts()
    for value in values:
        if value not in members:
            members.add(value)
    assert list(members.above(-100)) == sorted(set(values))
    removed = set(values[::2])
    for value in removed:
        members.remove(value)
    kept = sorted(set(values) - removed)
    assert list(members.above(-100)) == kept and len(members) == len(kept)
    for probe in (-60, 0, 17, 2500, 6000):
        below = [value for value in kept if value <= probe]
        assert members.floor(probe) == (below[-1] if below else None)
        assert list(members.above(probe)) == [value for value in kept if value > probe]
