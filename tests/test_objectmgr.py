"""`ObjectMgr`, the memory store's pool of objects, checked against the plainest model
of its promise (rules R1 and R6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from app.pool.errors import NotAllocated, OutOfRange, PoolExhausted
from app.pool.limits import MAX_INT
from app.stores.memory import ObjectMgr


class Model:
    """Every object listed: never used ones in order, then freed ones in order."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.never_used = list(range(1, size + 1))
        self.freed: list[int] = []
        self.held: set[int] = set()

    def take(self) -> int | None:
        for queue in (self.never_used, self.freed):
            for obj in queue:
                if obj <= self.size:
                    queue.remove(obj)
                    self.held.add(obj)
                    return obj
        return None

    def give_back(self, obj: int) -> None:
        self.held.remove(obj)
        self.freed.append(obj)


class ObjectMgrMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.mgr = ObjectMgr(6)
        self.model = Model(6)
        self.largest = 6

    @rule()
    def get_object(self) -> None:
        expected = self.model.take()
        if expected is None:
            with pytest.raises(PoolExhausted):
                self.mgr.get_object()
        else:
            assert self.mgr.get_object() == expected

    @precondition(lambda self: self.model.held)
    @rule(data=st.data())
    def free_held(self, data: st.DataObject) -> None:
        obj = data.draw(st.sampled_from(sorted(self.model.held)))
        self.mgr.free_object(obj)
        self.model.give_back(obj)

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
        assert self.mgr.in_use == len(self.model.held)
        assert self.mgr.available == self.model.size - sum(
            1 for obj in self.model.held if obj <= self.model.size
        )
        assert all(self.mgr.is_held(obj) for obj in self.model.held)


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
