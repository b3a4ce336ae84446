"""What only the memory store shows: cooling objects moved back in bounded batches,
by each change and by the reaper (rules R4 and R13 of app/stores/base.py)."""

from __future__ import annotations

from app.pool.lease import AcquireRequest
from app.pool.policy import PoolPolicy
from app.stores.memory import MemoryStore
from app.stores.memory.core import RECLAIM_BATCH

from .conditions import wait_until
from .conftest import Clock
from .grant_support import ask

COOLING = 3 * RECLAIM_BATCH


def cooling_pool(store: MemoryStore, clock: Clock) -> None:
    """COOLING objects whose cooling has ended, none moved back yet."""
    store.create_pool("p", 2 * COOLING, None, PoolPolicy(reuse_delay=1))
    for _ in range(COOLING):
        store.grant(AcquireRequest(pool="p", ttl=1))
    clock.advance(1)
    store.pool("p")  # reclaims a batch of expiries: their objects start cooling
    clock.advance(10)


def waiting_to_move(store: MemoryStore) -> int:
    """Cooling objects not back in the free queue yet, their end passed or not."""
    with store._lock:
        return store._pools["p"].objects.cooling


# rules R13, R4
def test_a_change_moves_back_a_bounded_batch_and_reads_count_them_all(clock: Clock) -> None:
    store = MemoryStore(clock=clock)
    store._reaper.start()
    store._reaper.close()  # left to the changes alone
    cooling_pool(store, clock)
    for _ in range(COOLING):  # bounded: each read reclaims one batch at least
        if store.pool("p").in_use == 0:
            break
    before = waiting_to_move(store)
    assert before > RECLAIM_BATCH
    stats = store.pool("p")
    assert (stats.in_use, stats.cooling, stats.available) == (0, 0, 2 * COOLING)
    assert before - waiting_to_move(store) <= RECLAIM_BATCH
    assert len(ask(store, "p", count=2 * COOLING).leases) == 2 * COOLING


# rules R13, R4
def test_the_reaper_moves_cooled_objects_back_without_any_request(clock: Clock) -> None:
    store = MemoryStore(clock=clock)
    try:
        cooling_pool(store, clock)
        # The reaper sleeps a second at most between looks at the clock.
        wait_until(lambda: waiting_to_move(store) == 0, what="the reaper's batches")
        assert store.pool("p").available == 2 * COOLING
    finally:
        store.close()
